/** `dataplane outbox relay | status`: the relay as a standalone process, and the backlog. */
import type { Command } from 'commander';
import { accessFor } from '../context.js';
import { printJson, progress, table } from '../output.js';

export function register(program: Command): void {
  const cmd = program.command('outbox').description('the transactional outbox (PostgreSQL -> JetStream)');

  cmd
    .command('relay')
    .description('run an outbox relay in the foreground (the supervisor runs one unless workers.outboxRelay is false)')
    .option('--user <role>', 'PostgreSQL role that reads the outbox and records the relay position and held rows', 'app_rw')
    .action(async (opts: { user: string }, c: Command) => {
      const { access } = accessFor(c);
      const { config } = access;
      const [{ connectPostgres }, { connectNats }, { OutboxRelay }] = await Promise.all([import('../../postgres/database.js'), import('../../nats/connection.js'), import('../../outbox/relay.js')]);
      const db = connectPostgres({ access, user: opts.user, name: 'outbox-relay', max: 3 });
      const nc = await connectNats({ access, user: 'admin', name: 'dataplane-outbox-relay' });
      const relay = new OutboxRelay({
        db,
        nc,
        batchSize: config.workers.outboxBatchSize,
        pollIntervalMs: config.workers.outboxPollIntervalMs,
        onError: (e) => process.stderr.write(`outbox relay: ${e.message}\n`),
        onBatch: (n) => n && progress(`published ${n} outbox row(s)`),
      });
      relay.start();
      progress('outbox relay running; Ctrl-C stops it');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await relay.stop();
      await nc.drain().catch(() => nc.close());
      await db.close();
    });

  cmd
    .command('status')
    .description('unpublished rows, the oldest one, and rows held because they (or an earlier row of their key) failed to publish')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { access } = accessFor(c);
      const { connectPostgres } = await import('../../postgres/database.js');
      const db = connectPostgres({ access, user: access.config.postgres.owner, max: 1 });
      try {
        const { outboxCounts } = await import('../../outbox/relay-log.js');
        const out = await outboxCounts(db);
        if (opts.json) return printJson(out);
        process.stdout.write(table(['PENDING', 'OLDEST PENDING', 'FAILING', 'HELD', 'PUBLISHED'], [[out.pending, out.oldestPendingSeconds === null ? undefined : `${out.oldestPendingSeconds.toFixed(1)} s`, out.failing, out.held, out.published]]) + '\n');
        if (out.lastError) process.stdout.write(`oldest failure: ${out.lastError}\n`);
      } finally {
        await db.close();
      }
    });
}
