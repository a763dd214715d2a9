/** `dataplane deploy render | verify`: production on the inventory's hosts. */
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { accessFor } from '../context.js';
import { printJson, progress, table } from '../output.js';

/** This machine's PostgreSQL binaries, to find the same folder under the hosts' installDir; none is fine. */
async function localPgBinDir(config: Config): Promise<string | undefined> {
  const { postgresDriver } = await import('../../servers/postgres.js');
  try {
    return (await postgresDriver.locate({ ...config, topology: 'single' })).binDir;
  } catch {
    return undefined;
  }
}

export function register(program: Command): void {
  const deploy = program.command('deploy').description('production on several hosts: per-host bundles from the inventory (deploy.hosts), and their check');

  deploy
    .command('render')
    .description('write one bundle per host of the inventory: configuration, certificates, secrets, systemd units, nftables ruleset, install script')
    .requiredOption('-o, --out <dir>', 'folder to write into (one subfolder per host, replaced whole)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nCopy <out>/<host> to that host and run `sudo ./install.sh` there (--dry-run shows what it does).\nBundles hold private keys and password hashes (0600): move them like secrets. Guide: docs/deployment.md',
    )
    .action(async (opts: { out: string; json?: boolean }, cmd: Command) => {
      const { access } = accessFor(cmd, { create: true });
      const { renderBundles } = await import('../../deploy/bundle.js');
      const pgBin = await localPgBinDir(access.config);
      const bundles = await renderBundles(access, { out: opts.out, ...(pgBin ? { localPgBinDir: pgBin } : {}), onProgress: opts.json ? () => {} : progress });
      if (opts.json) return printJson(bundles);
      process.stdout.write(
        table(
          ['HOST', 'ADDRESS', 'RUNS', 'BUNDLE'],
          bundles.map((b) => [b.host, b.address, b.processes.join(' '), path.relative(process.cwd(), b.dir) || '.']),
        ) + '\nNext: copy each folder to its host and run `sudo ./install.sh` there (docs/deployment.md).\n',
      );
    });

  deploy
    .command('init')
    .description('create the roles, the application database and its extensions, and apply the migrations, through the primary address (once the hosts run; idempotent)')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { access } = accessFor(cmd);
      const [{ initCluster }, { hostPlans }, { computeTuning }, { detectMachine, resolveResources }] = await Promise.all([
        import('../../deploy/bootstrap.js'),
        import('../../deploy/hosts.js'),
        import('../../config/tuning.js'),
        import('../../config/resources.js'),
      ]);
      // The members' max_connections bounds each role's connection limit: tuned as the first member's host is.
      const host = hostPlans(access.config).find((h) => h.processes.some((p) => p.kind === 'postgres'))!;
      const timescaledb = access.config.deploy.packages === 'pgdg';
      const tuning = computeTuning(host.config, resolveResources(host.config, detectMachine(access.config.stateDir)), { timescaledb });
      const r = await initCluster(access, { maxConnections: Number(tuning.postgres.max_connections?.value ?? 100), timescaledb, onProgress: opts.json ? () => {} : progress });
      if (opts.json) return printJson(r);
      process.stdout.write(`${r.createdDatabase ? `created database ${access.config.postgres.database}; ` : ''}${r.migrations.applied.length} migration(s) applied, ${r.migrations.upToDate} already there\n`);
    });
}
