/** `dataplane deploy render | verify`: production on the inventory's hosts. */
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { accessFor } from '../context.js';
import { paint, printJson, progress, table } from '../output.js';
import { NOT_HEALTHY_EXIT } from './status.js';
import { reconcileLines } from './streams.js';

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
    .description('create the roles, the application database and its extensions, apply the migrations (through the primary address), and declare the JetStream streams and consumers (once the hosts run; idempotent)')
    .addHelpText('after', '\nExit code 1 when a declared stream or consumer differs on the server in a way that cannot change in place (drift).')
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
      // The application's JetStream streams and consumers, as `up` declares them on one machine.
      const [{ reconcileStreams }, { loadDeclarations }] = await Promise.all([import('../../stack/jobs/workers.js'), import('../../stack/declarations.js')]);
      if (!opts.json) progress('JetStream streams and consumers (declarations)');
      const streams = access.config.nats.enabled ? await reconcileStreams(access, await loadDeclarations(access.config)) : undefined;
      if (streams?.drift.length) process.exitCode = 1;
      if (opts.json) return printJson({ ...r, streams });
      process.stdout.write(`${r.createdDatabase ? `created database ${access.config.postgres.database}; ` : ''}${r.migrations.applied.length} migration(s) applied, ${r.migrations.upToDate} already there\n`);
      if (streams) for (const line of reconcileLines(streams)) process.stdout.write(`streams ${line}\n`);
    });

  deploy
    .command('verify')
    .description('check every host from here: ports as the firewall intends, certificates valid for the host, logins, cluster roles and replication lag')
    .option('--json', 'print machine-readable JSON')
    .option('--timeout <ms>', 'per connection', '3000')
    .addHelpText(
      'after',
      `\nRun it from an application network (client ports), from the monitoring network, or on a host (every port).\nPorts this machine may not reach are checked for being closed.\nExit code 0 when every host is healthy, ${NOT_HEALTHY_EXIT} otherwise.`,
    )
    .action(async (opts: { json?: boolean; timeout: string }, cmd: Command) => {
      const { access } = accessFor(cmd);
      const { verifyHosts } = await import('../../deploy/verify.js');
      const report = await verifyHosts(access, { timeoutMs: Number(opts.timeout), onProgress: opts.json ? () => {} : progress });
      if (!report.healthy) process.exitCode = NOT_HEALTHY_EXIT;
      if (opts.json) return printJson(report);
      const colour = { healthy: 'green', degraded: 'yellow', down: 'red' } as const;
      for (const h of report.hosts) {
        process.stdout.write(`\n${paint(h.name, 'bold')} ${h.address}  ${paint(h.status, colour[h.status])}\n`);
        process.stdout.write(table(['PROCESS', 'CHECK', 'ROLE / REASON'], h.processes.map((p) => [p.instance, p.status, p.role ?? p.reason])) + '\n');
        const asIntended = h.ports.filter((p) => (p.expected === 'open') === (p.seen === 'open')).length;
        const certs = h.ports.filter((p) => p.certificate && !p.certificate.problem);
        const soonest = certs.map((p) => p.certificate!.expires).sort()[0];
        process.stdout.write(`ports: ${asIntended}/${h.ports.length} as the firewall intends from here${certs.length ? `; ${certs.length} certificate(s) checked for ${h.name} and ${h.address}, first expiry ${soonest?.slice(0, 10)}` : ''}\n`);
        for (const problem of h.problems) process.stdout.write(`  ${paint('✗', 'red')} ${problem}\n`);
      }
      const pg = report.postgres;
      if (pg && !('error' in pg)) process.stdout.write(`\npostgres: primary on ${pg.host ?? 'none'}; ${pg.replicas.map((r) => `${r.host} ${r.state}${r.lagBytes !== null ? ` (${r.lagBytes} bytes behind)` : ''}`).join(', ') || 'no replicas'}\n`);
      process.stdout.write(`\n${report.healthy ? 'every host is healthy' : `${report.hosts.filter((h) => h.status !== 'healthy').map((h) => `${h.name} ${h.status}`).join(', ')}`}\n`);
    });
}
