/** `dataplane status`: per-service health from a real authenticated probe. */
import type { Command } from 'commander';
import { stackStatus } from '../../stack/status.js';
import { loadFor } from '../context.js';
import { printJson, status, table } from '../output.js';

/** Exit code when the stack is not fully up, so scripts can `dataplane status || ...`. */
export const NOT_HEALTHY_EXIT = 3;

export function register(program: Command): void {
  program
    .command('status')
    .description('show each server: status, version, address, pid, probe latency')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', `\nExit code 0 when the supervisor and every enabled server are up, ${NOT_HEALTHY_EXIT} otherwise.`)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = loadFor(cmd);
      const st = await stackStatus(config);
      if (opts.json) printJson(st);
      else {
        const rows = st.services.map((s) => [
          s.name,
          status(s.status),
          s.version ?? undefined,
          s.address,
          s.pid ?? undefined,
          s.latencyMs === null ? undefined : `${s.latencyMs} ms`,
          s.reason ?? (s.restarts ? `${s.restarts} restart(s)` : undefined),
        ]);
        const lines = [table(['SERVICE', 'STATUS', 'VERSION', 'ADDRESS', 'PID', 'PROBE', 'DETAIL'], rows), ''];
        lines.push(`supervisor   ${st.supervisor ? `pid ${st.supervisor.pid}, up since ${st.supervisor.startedAt ?? '?'}` : 'not running'}`);
        if (st.health) lines.push(`health       ${st.health.url}/readyz`);
        if (st.timescaledb) {
          lines.push(`timescaledb  ${st.timescaledb.enabled ? 'enabled' : st.timescaledb.installed ? 'installed, turned off' : 'not installed (time series use native partitioning)'}`);
        }
        lines.push(`state        ${st.stateDir}`);
        if (st.timeseries?.length) {
          lines.push(
            '',
            table(
              ['TIME SERIES', 'ENGINE', 'CHUNK', 'RETENTION', 'COMPRESS AFTER', 'ROLLUPS'],
              st.timeseries.map((t) => [
                t.table,
                t.engine,
                t.chunkInterval,
                t.retention ?? undefined,
                t.engine === 'timescaledb' ? (t.compressAfter ?? undefined) : t.compressAfter ? 'n/a (native)' : undefined,
                t.rollups.map((r) => `${r.name} (${r.bucket})`).join(', ') || undefined,
              ]),
            ),
          );
        }
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!st.healthy) process.exitCode = NOT_HEALTHY_EXIT;
    });
}
