/** `dataplane doctor`: binaries, versions, ports, disk, state; each problem with its fix. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { ConfigError } from '../../errors/index.js';
import type { Check } from '../../stack/doctor.js';
import type { GlobalOptions } from '../context.js';
import { printJson, status, table } from '../output.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check binaries, versions, ports, disk and state; print the fix for each problem')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nExit code 1 when any check fails.')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      let checks: Check[];
      try {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const { runDoctor } = await import('../../stack/doctor.js');
        checks = await runDoctor(loadConfig(g.config ? { file: g.config } : {}).config);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        checks = e.issues.map((i) => ({ name: 'config', status: 'fail', detail: `${i.path}: ${i.message}`, fix: 'fix the config; `dataplane config docs` lists every field' }));
      }
      if (opts.json) printJson(checks);
      else {
        process.stdout.write(table(['CHECK', 'STATUS', 'DETAIL'], checks.map((c) => [c.name, status(c.status), c.detail])) + '\n');
        const problems = checks.filter((c) => c.fix && c.status !== 'ok');
        if (problems.length) {
          process.stdout.write('\nHow to fix:\n' + problems.map((c) => `  ${c.name}: ${c.fix}`).join('\n') + '\n');
        }
      }
      if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
    });
}
