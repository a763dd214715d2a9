/** `dataplane streams [reconcile]`: declared JetStream streams and consumers against the server. */
import type { Command } from 'commander';
import type { ReconcileReport } from '../../nats/reconcile.js';
import { loadDeclarations } from '../../stack/declarations.js';
import { accessFor } from '../context.js';
import { printJson, progress, table } from '../output.js';

/** The NATS client loads when a streams command runs, not for --help. */
const nats = async () => {
  const [{ jetstreamManager }, { natsConnect, natsEndpoint }, { isNotFound }] = await Promise.all([import('@nats-io/jetstream'), import('../../connect/nats.js'), import('../../nats/reconcile.js')]);
  /** Not found means missing; any other failure (permissions, a timeout) is an error to show, not a missing stream. */
  const missing = (e: unknown): undefined => {
    if (isNotFound(e)) return undefined;
    throw e;
  };
  return { jetstreamManager, natsConnect, natsEndpoint, missing };
};

/** A reconcile report for people, one line each: created, updated, then every drift (streams reconcile, deploy init). */
export function reconcileLines(report: ReconcileReport): string[] {
  return [
    `created: ${report.created.join(', ') || 'nothing'}`,
    `updated: ${report.updated.map((u) => `${u.name} (${u.fields.join(', ')})`).join(', ') || 'nothing'}`,
    ...report.drift.map((d) => `drift: ${d.name} ${d.field} is ${JSON.stringify(d.actual)}, declared ${JSON.stringify(d.declared)}`),
  ];
}

export function register(program: Command): void {
  const cmd = program.command('streams').description('JetStream streams and consumers of the declarations (config `declarations`)');

  cmd
    .command('list', { isDefault: true })
    .description('declared streams and consumers with their state on the server')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { access } = accessFor(c);
      const declarations = await loadDeclarations(access.config);
      const { jetstreamManager, natsConnect, natsEndpoint, missing } = await nats();
      const nc = await natsConnect(natsEndpoint(access, 'admin'), { name: 'dataplane-cli', reconnect: false, timeoutMs: 10_000 });
      try {
        const jsm = await jetstreamManager(nc);
        const rows = [];
        for (const s of declarations.streams) {
          const info = await jsm.streams.info(s.name).catch(missing);
          rows.push({ kind: 'stream', name: s.name, subjects: s.subjects.join(' '), messages: info?.state.messages ?? null, exists: Boolean(info) });
        }
        for (const k of declarations.consumers) {
          const info = await jsm.consumers.info(k.stream, k.name).catch(missing);
          rows.push({ kind: 'consumer', name: `${k.stream}/${k.name}`, subjects: k.filterSubject ?? '', messages: info ? info.num_pending : null, exists: Boolean(info) });
        }
        if (opts.json) return printJson(rows);
        process.stdout.write(table(['KIND', 'NAME', 'SUBJECTS', 'MESSAGES / PENDING', 'ON SERVER'], rows.map((r) => [r.kind, r.name, r.subjects, r.messages ?? undefined, r.exists ? 'yes' : 'missing'])) + '\n');
      } finally {
        await nc.close();
      }
    });

  cmd
    .command('reconcile')
    .description('create missing streams and consumers, update what can change in place, report drift')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nExit code 1 when the server differs in a way that cannot be changed in place (drift).')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { access } = accessFor(c);
      const { reconcileStreams } = await import('../../stack/jobs/workers.js');
      const report = await reconcileStreams(access, await loadDeclarations(access.config));
      if (opts.json) printJson(report);
      else for (const line of reconcileLines(report)) progress(line);
      if (report.drift.length) process.exitCode = 1;
    });
}
