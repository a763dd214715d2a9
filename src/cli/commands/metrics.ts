/** `dataplane metrics`: the running stack's /metrics, or the metric reference (docs/metrics.md). */
import type { Command } from 'commander';
import { NotRunningError } from '../../errors/index.js';
import { loadFor } from '../context.js';

export function register(program: Command): void {
  program
    .command('metrics')
    .description("print the supervisor's /metrics (Prometheus text), or with --markdown the reference of every metric")
    .option('--markdown', 'print docs/metrics.md: every metric dataplane exposes, its labels and meaning')
    .action(async (opts: { markdown?: boolean }, cmd: Command) => {
      if (opts.markdown) return void process.stdout.write((await import('../../observe/docs.js')).metricsMarkdown());
      const { config, environment } = loadFor(cmd);
      const { stackStatus } = await import('../../stack/status.js');
      const st = await stackStatus(config, environment);
      if (!st.health) throw new NotRunningError('no running supervisor with a health server', { hint: '`dataplane up` starts one (health.enabled must be true)' });
      const res = await fetch(`${st.health.url}/metrics`);
      process.stdout.write(await res.text());
    });
}
