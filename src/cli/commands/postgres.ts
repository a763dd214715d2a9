/** `dataplane postgres ...`: the PostgreSQL members of the ha topology. */
import type { Command } from 'commander';
import { UsageError } from '../../errors/index.js';
import { cloneFromPrimary } from '../../servers/postgres-clone.js';
import { switchover, waitForPrimaryAddress } from '../../servers/patroni.js';
import { accessFor } from '../context.js';
import { printJson } from '../output.js';

export function register(program: Command): void {
  const pg = program.command('postgres').description('the PostgreSQL members of the ha topology (Patroni): switchover, replica cloning');

  pg.command('switchover')
    .description('make another member the primary, planned: no acknowledged commit is lost; prints how long writes paused')
    .option('--to <member>', 'the member to promote (postgres-2, or its Patroni name pg-2); in synchronous mode it must be the synchronous standby (`dataplane status`); default: the one Patroni picks')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { to?: string; json?: boolean }, cmd: Command) => {
      const { access } = accessFor(cmd);
      if (access.config.topology !== 'ha') throw new UsageError('switchover needs the ha topology (topology: ha): a single PostgreSQL has no other member');
      if (!opts.json) process.stderr.write(`• asking Patroni for a switchover${opts.to ? ` to ${opts.to}` : ''}\n`);
      const r = await switchover(access, opts.to ? { to: opts.to } : {});
      await waitForPrimaryAddress(access, r.to);
      const ms = Math.round(performance.now() - r.requestedAt);
      if (opts.json) return printJson({ from: r.from, to: r.to, ms });
      process.stdout.write(`switched over from ${r.from} to ${r.to}: the primary address accepted writes again after ${ms} ms\n`);
    });

  pg.command('clone-replica')
    .description("copy the primary into a new replica's data directory (Patroni's replica creation method; not for interactive use)")
    .requiredOption('--datadir <dir>', 'the new data directory')
    .requiredOption('--connstring <conninfo>', 'libpq connection string of the primary (password from PGPASSFILE)')
    // Patroni also passes --scope, --role and its method settings (--no_master=...): none matter here.
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async (opts: { datadir: string; connstring: string }) => {
      const r = await cloneFromPrimary(opts.connstring, opts.datadir, { label: 'dataplane replica clone', onProgress: (m) => process.stderr.write(`• ${m}\n`) });
      process.stderr.write(`cloned ${r.files} files, ${r.bytes} bytes\n`);
    });
}
