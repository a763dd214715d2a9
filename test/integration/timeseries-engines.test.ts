/**
 * The shipped migrations on both engines: native partitioning on real PostgreSQL 16
 * and TimescaleDB (the WASM build with the extension). The same generated data must
 * give the same rollups, the same query answers and the same retention on both.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ensureRoles } from '../../src/servers/postgres-bootstrap.js';
import { BUILTIN_MIGRATIONS } from '../../src/postgres/migrations.js';
import { loadMigrations, migrate } from '../../src/postgres/migrations.js';
import { pgConfig } from '../helpers/connect.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { startTimescaleLite, type TimescaleLite } from '../helpers/timescale-lite.js';

const DAY = 86_400_000;
/** Three whole days of data ending at today's UTC midnight: inside every retention window. */
const T0 = new Date(Math.floor(Date.now() / DAY) * DAY - 3 * DAY);
const iso = (ms: number) => new Date(ms).toISOString();
const SOURCES = 20;
const SAMPLES = 3 * 288; // every 5 minutes for 3 days

let stack: EphemeralStack;
let native: pg.Client;
let ts: TimescaleLite;
let engines: [string, pg.Client][];

/** Identical on both engines: one tenant, 20 sources, 3 metrics, values exact in binary (quarters). */
async function generate(db: pg.Client): Promise<void> {
  await db.query("select iam.create_organization('diff', 'Differential')");
  await db.query("insert into registry.metrics (name, unit, kind) values ('temp', 'Cel', 'gauge'), ('load', '1', 'gauge'), ('requests', 'count', 'counter')");
  await db.query(`insert into registry.sources (org_id, name, kind) select 1, 'src-' || g, 'device' from generate_series(1, ${SOURCES}) g`);
  await db.query(
    `insert into telemetry.measurements (time, org_id, source_id, metric_id, value)
     select $1::timestamptz + i * interval '5 minutes', s.org_id, s.id, m.id, ((s.id * 7 + m.id * 13 + i * 3) % 101) / 4.0
       from generate_series(0, ${SAMPLES - 1}) i, registry.sources s, registry.metrics m`,
    [T0.toISOString()],
  );
  await db.query(
    `insert into telemetry.events (time, org_id, source_id, type, payload)
     select $1::timestamptz + i * interval '1 hour', s.org_id, s.id, case when i % 5 = 0 then 'alarm' else 'heartbeat' end, jsonb_build_object('i', i)
       from generate_series(0, 71) i, registry.sources s`,
    [T0.toISOString()],
  );
}

async function rows(db: pg.Client, sql: string, params: unknown[] = []): Promise<string> {
  return JSON.stringify((await db.query(sql, params)).rows);
}

beforeAll(async () => {
  // No background maintenance: the tests run it themselves, at chosen times.
  [stack, ts] = await Promise.all([startEphemeralStack({ services: ['postgres'], config: { postgres: { maintenanceIntervalSec: 0 } } }), startTimescaleLite()]);
  native = new pg.Client(pgConfig(stack.postgres!));
  await native.connect();
  // PGlite is a single superuser session: the roles first, then the same migrations.
  await ensureRoles(ts.client, parseConfig({}), undefined);
  await migrate(ts.client, loadMigrations(BUILTIN_MIGRATIONS));
  engines = [
    ['native', native],
    ['timescaledb', ts.client],
  ];
  for (const [, db] of engines) await generate(db);
}, 180_000);

afterAll(async () => {
  await native?.end();
  await Promise.all([stack?.stop(), ts?.stop()]);
});

describe('engines', () => {
  it('native PostgreSQL 16 without TimescaleDB uses partitioned tables and rollup tables', async () => {
    expect((await native.query("select 1 from pg_extension where extname = 'timescaledb'")).rowCount).toBe(0);
    expect((await native.query("select current_setting('server_version_num')::int / 10000 as v")).rows[0].v).toBe(16);
    expect(await rows(native, 'select schema_name, table_name, engine from dataplane.timeseries order by 1, 2')).toBe(
      JSON.stringify([
        { schema_name: 'audit', table_name: 'audit_log', engine: 'native' },
        { schema_name: 'telemetry', table_name: 'events', engine: 'native' },
        { schema_name: 'telemetry', table_name: 'measurements', engine: 'native' },
      ]),
    );
    const kinds = await native.query<{ relname: string; relkind: string }>(
      "select relname, relkind from pg_class where oid in ('telemetry.measurements'::regclass, 'telemetry.events'::regclass, 'audit.audit_log'::regclass, 'analytics.measurements_1m'::regclass)",
    );
    expect(Object.fromEntries(kinds.rows.map((r) => [r.relname, r.relkind]))).toEqual({ measurements: 'p', events: 'p', audit_log: 'p', measurements_1m: 'r' });
    expect(await rows(native, 'select rollup_name, engine from dataplane.rollups order by 1')).toBe(
      JSON.stringify([
        { rollup_name: 'measurements_1h', engine: 'table' },
        { rollup_name: 'measurements_1m', engine: 'table' },
      ]),
    );
  });

  it('TimescaleDB gets hypertables with compression and retention policies, and continuous aggregates with refresh policies', async () => {
    const db = ts.client;
    expect((await db.query("select extversion from pg_extension where extname = 'timescaledb'")).rows[0]?.extversion).toMatch(/^2\./);
    expect(await rows(db, 'select schema_name, table_name, engine from dataplane.timeseries order by 1, 2')).toBe(
      JSON.stringify([
        { schema_name: 'audit', table_name: 'audit_log', engine: 'timescaledb' },
        { schema_name: 'telemetry', table_name: 'events', engine: 'timescaledb' },
        { schema_name: 'telemetry', table_name: 'measurements', engine: 'timescaledb' },
      ]),
    );
    expect(await rows(db, 'select hypertable_schema, hypertable_name, compression_enabled from timescaledb_information.hypertables order by 1, 2')).toBe(
      JSON.stringify([
        { hypertable_schema: 'audit', hypertable_name: 'audit_log', compression_enabled: true },
        { hypertable_schema: 'telemetry', hypertable_name: 'events', compression_enabled: true },
        { hypertable_schema: 'telemetry', hypertable_name: 'measurements', compression_enabled: true },
      ]),
    );
    const jobs = await db.query<{ proc_name: string; hypertable_name: string }>(
      "select proc_name, hypertable_name from timescaledb_information.jobs where proc_name like 'policy_%' and proc_name <> 'policy_job_stat_history_retention' order by 2, 1",
    );
    const byTable = (t: string) => jobs.rows.filter((j) => j.hypertable_name === t).map((j) => j.proc_name);
    for (const t of ['measurements', 'events', 'audit_log']) expect(byTable(t), t).toEqual(['policy_compression', 'policy_retention']);
    for (const c of ['measurements_1m', 'measurements_1h']) expect(byTable(c), c).toEqual(['policy_refresh_continuous_aggregate', 'policy_retention']);
    expect(await rows(db, 'select view_schema, view_name, materialized_only from timescaledb_information.continuous_aggregates order by 2')).toBe(
      JSON.stringify([
        { view_schema: 'analytics', view_name: 'measurements_1h', materialized_only: true },
        { view_schema: 'analytics', view_name: 'measurements_1m', materialized_only: true },
      ]),
    );
    expect(await rows(db, 'select rollup_name, engine from dataplane.rollups order by 1')).toBe(
      JSON.stringify([
        { rollup_name: 'measurements_1h', engine: 'continuous_aggregate' },
        { rollup_name: 'measurements_1m', engine: 'continuous_aggregate' },
      ]),
    );
  });

  it('dataplane.bucket equals time_bucket', async () => {
    const r = await ts.client.query("select count(*)::int as n from telemetry.measurements where dataplane.bucket('15 minutes', time) <> time_bucket('15 minutes', time) or dataplane.bucket('1 day', time) <> time_bucket('1 day', time)");
    expect(r.rows[0].n).toBe(0);
  });

  it('compressed TimescaleDB chunks answer queries (compression settings work)', async () => {
    const r = await ts.client.query('select count(*)::int as n from (select compress_chunk(c) from show_chunks($1::regclass, older_than => $2::timestamptz) c) x', ['telemetry.measurements', iso(T0.getTime() + 2 * DAY)]);
    expect(r.rows[0].n).toBe(2);
  });
});

describe('references to the registry on both engines', () => {
  const failure = async (db: pg.Client, sql: string) => {
    try {
      await db.query(sql);
      return 'ok';
    } catch (e) {
      return `${(e as pg.DatabaseError).code} ${(e as pg.DatabaseError).detail}`;
    }
  };

  // TimescaleDB takes statement triggers with transition tables on hypertables from 2.18
  // (the WASM build is 2.23); 2.15 keeps the foreign keys (migration 0010).
  it.each([['native'], ['timescaledb']])('%s: checked per statement, unknown keys refused, history keeps its source', async (engine) => {
    const db = engines.find(([e]) => e === engine)![1];
    const refs = await db.query("select name, enforcement from dataplane.table_references where table_name = 'measurements' order by 1");
    expect(refs.rows.map((r) => r.enforcement)).toEqual(['statement_check', 'statement_check']);
    expect(await failure(db, `insert into telemetry.measurements values (now(), 1, 424242, 1, 0)`)).toBe('23503 Key (org_id, source_id)=(1, 424242) is not present in table "sources".');
    expect(await failure(db, `insert into telemetry.measurements values (now(), 1, 1, 424242, 0)`)).toBe('23503 Key (metric_id)=(424242) is not present in table "metrics".');
    expect(await failure(db, 'delete from registry.sources where id = 1')).toBe('23503 Key (org_id, id)=(1, 1) is still referenced from table "measurements".');
    expect(await failure(db, 'delete from registry.metrics where id = 1')).toBe('23503 Key (id)=(1) is still referenced from table "measurements".');
  });
});

describe('the same answers on both engines', () => {
  const at = () => iso(T0.getTime() + 3 * DAY + 2 * 3_600_000);

  it('rollups at 1 minute and 1 hour hold identical rows', async () => {
    for (const [, db] of engines) {
      await db.query('call dataplane.refresh_rollup($1, $2)', ['analytics.measurements_1m', at()]);
      await db.query('call dataplane.refresh_rollup($1, $2)', ['analytics.measurements_1h', at()]);
    }
    // A second refresh changes nothing.
    for (const [, db] of engines) await db.query('call dataplane.refresh_rollup($1, $2, $3)', ['analytics.measurements_1h', at(), T0.toISOString()]);
    for (const [rollup, expected] of [
      ['analytics.measurements_1m', SAMPLES * SOURCES * 3],
      ['analytics.measurements_1h', 72 * SOURCES * 3],
    ] as const) {
      const sql = `select bucket, source_id, metric_id, org_id, count, min, max, sum, avg from ${rollup} order by bucket, source_id, metric_id`;
      const [a, b] = await Promise.all([native.query(sql), ts.client.query(sql)]);
      expect(a.rowCount, rollup).toBe(expected);
      expect(JSON.stringify(a.rows) === JSON.stringify(b.rows), `${rollup} differs between engines`).toBe(true);
    }
    const total = await native.query<{ n: string }>('select sum(count)::text as n from analytics.measurements_1h');
    expect(Number(total.rows[0]!.n)).toBe(SAMPLES * SOURCES * 3);
  });

  it.each([
    ['bucketing by time', "select dataplane.bucket('15 minutes', time) as b, source_id, metric_id, count(*), min(value), max(value), sum(value) from telemetry.measurements where time >= $1 and time < $2 group by 1, 2, 3 order by 1, 2, 3"],
    ['last N', 'select time, value from telemetry.measurements where source_id = 3 and metric_id = 2 order by time desc limit 25'],
    ['range scan', 'select count(*), sum(value), min(time), max(time) from telemetry.measurements where time >= $1 and time < $2'],
    ['events by type', "select time, source_id, payload from telemetry.events where type = 'alarm' and time >= $1 and time < $2 order by time, source_id"],
    ['tenant view', "select count(*), max(value) from telemetry.tenant_measurements where source_id = 5"],
    ['rollup range', 'select bucket, count, avg from analytics.measurements_1h where source_id = 7 and metric_id = 1 and bucket >= $1 and bucket < $2 order by bucket'],
  ])('%s', async (_name, sql) => {
    const params = sql.includes('$1') ? [iso(T0.getTime() + 12 * 3_600_000), iso(T0.getTime() + 40 * 3_600_000)] : [];
    const out: string[] = [];
    for (const [, db] of engines) {
      await db.query("select set_config('dataplane.org_id', '1', false)");
      out.push(await rows(db, sql, params));
    }
    expect(JSON.parse(out[0]!).length).toBeGreaterThan(0);
    expect(out[1]).toBe(out[0]);
  });

  it('retention removes the same old data', async () => {
    // 90 days of retention, evaluated a day and a half after the first day's chunk ends.
    const asOf = iso(T0.getTime() + 90 * DAY + 1.5 * DAY);
    const after: string[] = [];
    for (const [, db] of engines) {
      await db.query('select dataplane.apply_retention($1, $2)', ['telemetry.measurements', asOf]);
      after.push(await rows(db, 'select count(*), min(time), max(time) from telemetry.measurements'));
    }
    expect(after[1]).toBe(after[0]);
    const { count, min } = (JSON.parse(after[0]!) as { count: string; min: string }[])[0]!;
    expect(Number(count)).toBe((SAMPLES - 288) * SOURCES * 3);
    expect(min).toBe(iso(T0.getTime() + DAY));
  });

  it('chunks ahead: partitions exist for the coming week; TimescaleDB creates them on insert', async () => {
    const ahead = await native.query<{ n: number }>(
      `select count(*)::int as n from generate_series(date_trunc('day', now() at time zone 'UTC'), date_trunc('day', now() at time zone 'UTC') + interval '7 days', interval '1 day') d
        where to_regclass('telemetry.measurements_p' || to_char(d, 'YYYYMMDD_HH24MISS')) is not null`,
    );
    expect(ahead.rows[0]!.n).toBe(8);
    await ts.client.query("insert into telemetry.measurements values (now() + interval '3 days', 1, 1, 1, 1)");
    const chunks = await ts.client.query<{ n: number }>("select count(*)::int as n from show_chunks('telemetry.measurements', newer_than => now() + interval '1 day')");
    expect(chunks.rows[0]!.n).toBe(1);
  });
});

describe('native maintenance', () => {
  it('run_maintenance keeps partitions from the retention horizon to a week ahead as time moves on', async () => {
    const asOf = Date.now() + 30 * DAY;
    await native.query('call dataplane.run_maintenance($1)', [iso(asOf)]);
    const parts = await native.query<{ relname: string }>(
      "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'telemetry.measurements'::regclass and c.relname <> 'measurements_default' order by 1",
    );
    const name = (ms: number) => `measurements_p${new Date(Math.floor(ms / DAY) * DAY).toISOString().slice(0, 10).replace(/-/g, '')}_000000`;
    expect(parts.rows[0]!.relname).toBe(name(asOf - 90 * DAY));
    expect(parts.rows.at(-1)!.relname).toBe(name(asOf + 7 * DAY));
    expect(parts.rowCount).toBe(98);
    // Everything generated is past the moved-on retention horizon now.
    expect((await native.query('select count(*)::int as n from telemetry.measurements where time < $1', [iso(asOf - 90 * DAY)])).rows[0].n).toBe(0);
  });

  it('rows that arrive before their partition exists wait in the default partition and move in', async () => {
    const far = iso(Date.now() + 60 * DAY);
    await native.query('insert into telemetry.measurements values ($1, 1, 1, 1, 5)', [far]);
    const where = async () => (await native.query('select tableoid::regclass::text as t from telemetry.measurements where time = $1', [far])).rows[0].t;
    expect(await where()).toBe('telemetry.measurements_default');
    await native.query('select dataplane.ensure_partitions($1, $2)', ['telemetry.measurements', iso(Date.now() + 55 * DAY)]);
    expect(await where()).toMatch(/^telemetry\.measurements_p\d{8}_000000$/);
  });
});
