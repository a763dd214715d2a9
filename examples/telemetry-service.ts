/**
 * A small service on the dataplane library, end to end: it registers a source
 * (business row + outbox event in one transaction), resolves metric names through
 * a cache keyspace, streams samples into telemetry.measurements with COPY, and
 * consumes its own events idempotently.
 *
 * Run against a running stack:  npx tsx examples/telemetry-service.ts   (or via the test that imports it)
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  connectNats,
  connectPostgres,
  connectRedis,
  createIngestor,
  defineSubject,
  enqueue,
  loadConfig,
  msgIdOf,
  processOnce,
  resolveAccess,
  runConsumer,
  type Access,
} from '../src/index.js';
import { metricByName } from '../src/domain/keyspaces.js';

/** An event of this service, on a subject the EVENTS stream captures. */
export const sourceRegistered = defineSubject({
  name: 'app.events.registry.source_registered.{orgId}',
  description: 'a source was registered',
  schema: z.object({ sourceId: z.number().int(), name: z.string() }),
});

export async function runExample(access: Access): Promise<{ sourceId: number; samples: number; eventsHandled: number }> {
  const { config } = access;
  const app = connectPostgres({ access, user: 'app_rw' });
  const ingestDb = connectPostgres({ access, user: 'app_ingest' });
  const redis = connectRedis({ access });
  const nc = await connectNats({ access, user: 'admin' });
  try {
    // 1. A tenant and a source; the event is written in the same transaction as the row.
    const orgId = Number((await app.query<{ id: string }>("select iam.create_organization('example', 'Example Inc.') as id")).rows[0]!.id);
    const sourceId = await app.withTenant(orgId, async (tx) => {
      const r = await tx.query<{ id: string }>("insert into registry.sources (org_id, name, kind) values ($1, 'boiler-1', 'device') returning id", [orgId]);
      const id = Number(r.rows[0]!.id);
      await enqueue(tx, sourceRegistered, { orgId }, { sourceId: id, name: 'boiler-1' }, { key: `source:${id}` });
      return id;
    });

    // 2. Metric ids, cached: one database read however many callers ask at once.
    const metrics = metricByName.bind(redis, { namespace: config.redis.namespace });
    const owner = connectPostgres({ access, user: config.postgres.owner, max: 1 });
    await owner.query("insert into registry.metrics (name, unit, kind) values ('boiler.temperature', 'Cel', 'gauge') on conflict do nothing");
    const metric = await metrics.getOrLoad({ name: 'boiler.temperature' }, async () => {
      const r = await owner.query<{ id: number; unit: string; kind: 'gauge' }>("select id, unit, kind from registry.metrics where name = 'boiler.temperature'");
      return r.rows[0]!;
    });
    await owner.close();

    // 3. Samples through COPY, as the ingest role.
    const ingest = createIngestor(ingestDb, { table: 'telemetry.measurements', columns: ['time', 'org_id', 'source_id', 'metric_id', 'value'], batchRows: 500 });
    const start = Date.now() - 3_600_000;
    for (let i = 0; i < 1200; i++) await ingest.write([new Date(start + i * 3000), orgId, sourceId, metric.id, 60 + (i % 20) / 4]);
    await ingest.close();

    // 4. Our own events, consumed once each (the supervisor's relay publishes the outbox).
    let eventsHandled = 0;
    const runner = await runConsumer({
      nc,
      stream: 'EVENTS',
      consumer: 'example-service',
      subject: sourceRegistered,
      handler: async (event, msg) => {
        await processOnce(app, 'example-service', msgIdOf(msg), async () => {
          eventsHandled += event.sourceId === sourceId ? 1 : 0;
        });
      },
    });
    const deadline = Date.now() + 15_000;
    while (!eventsHandled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await runner.stop();
    return { sourceId, samples: ingest.stats().rows, eventsHandled };
  } finally {
    await Promise.all([app.close(), ingestDb.close(), nc.close()]);
    redis.disconnect();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Config (file + environment) and secrets, resolved once at start-up.
  runExample(resolveAccess(loadConfig())).then((r) => console.log(r));
}
