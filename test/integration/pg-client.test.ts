/**
 * The PostgreSQL client library against a real server: transactions retry only
 * what is safe to retry, the tenant context isolates, COPY ingest writes every row
 * and reports what it could not.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../../src/postgres/database.js';
import { createIngestor } from '../../src/postgres/ingest.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { pgConfig } from '../helpers/connect.js';

let stack: EphemeralStack;
let owner: Database;
let superuser: pg.Client;
let org: number;
let sources: number[];
let metric: number;

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['postgres'] });
  owner = connectPostgres({ access: stack.access, user: 'app_owner' });
  superuser = new pg.Client(pgConfig(stack.postgres!.superuser, stack.config.postgres.database));
  await superuser.connect();
  org = Number((await owner.query<{ id: string }>("select iam.create_organization('ingest', 'Ingest') as id")).rows[0]!.id);
  metric = Number((await owner.query<{ id: string }>("insert into registry.metrics (name, unit, kind) values ('temp', 'Cel', 'gauge') returning id")).rows[0]!.id);
  sources = (await owner.query<{ id: string }>(`insert into registry.sources (org_id, name, kind) select $1, 's' || g, 'device' from generate_series(1, 5) g returning id`, [org])).rows.map((r) => Number(r.id));
  await owner.query('create table public.counter (id int primary key, n int not null)');
});

afterAll(async () => {
  await owner?.close();
  await superuser?.end();
  await stack.stop();
});

describe('statements', () => {
  it("rowMode 'array' returns each row as its column values, with the same types as objects", async () => {
    const sql = "select 1::int as a, 'x'::text as b, null::jsonb as c, '{\"k\": 1}'::jsonb as d";
    const arrays = await owner.query(sql, [], { rowMode: 'array' });
    const objects = await owner.query(sql);
    expect(arrays.rows).toEqual([[1, 'x', null, { k: 1 }]]);
    expect(arrays.rows).toEqual(objects.rows.map((r) => Object.values(r)));
  });
});

describe('transactions', () => {
  it('commit, and roll back on an error', async () => {
    await owner.transaction((tx) => tx.query('insert into public.counter values (1, 0)'));
    await expect(
      owner.transaction(async (tx) => {
        await tx.query('update public.counter set n = 100 where id = 1');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect((await owner.query('select n from public.counter where id = 1')).rows).toEqual([{ n: 0 }]);
  });

  it('retries a transaction whose connection was killed, and applies it once', async () => {
    let attempts = 0;
    await owner.transaction(async (tx) => {
      attempts++;
      await tx.query('update public.counter set n = n + 1 where id = 1');
      if (attempts === 1) {
        const pid = (await tx.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        await superuser.query('select pg_terminate_backend($1)', [pid]);
        await tx.query('select 1'); // the server is gone: this fails, the transaction rolled back
      }
    });
    expect(attempts).toBe(2);
    expect((await owner.query('select n from public.counter where id = 1')).rows).toEqual([{ n: 1 }]);
  });

  it('retries a serialization failure', async () => {
    let attempts = 0;
    const r = await owner.transaction(async (tx) => {
      attempts++;
      if (attempts < 3) await tx.query("do $$ begin raise exception 'conflict' using errcode = '40001'; end $$");
      return (await tx.query<{ ok: number }>('select 1 as ok')).rows[0]!.ok;
    }, { isolation: 'serializable' });
    expect([r, attempts]).toEqual([1, 3]);
  });

  it('does not retry a constraint violation', async () => {
    let attempts = 0;
    await expect(
      owner.transaction(async (tx) => {
        attempts++;
        await tx.query('insert into public.counter values (1, 5)');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(attempts).toBe(1);
  });

  it('withTenant sets the tenant for row-level security, for that transaction only', async () => {
    const rw = connectPostgres({ access: stack.access, user: 'app_rw' });
    try {
      const mine = await rw.withTenant(org, (tx) => tx.query('select id from registry.sources'));
      expect(mine.rowCount).toBe(5);
      const other = await rw.withTenant(org + 1000, (tx) => tx.query('select id from registry.sources'));
      expect(other.rowCount).toBe(0);
      expect((await rw.query('select id from registry.sources')).rowCount).toBe(0);
    } finally {
      await rw.close();
    }
  });
});

describe('COPY ingest', () => {
  const columns = ['time', 'org_id', 'source_id', 'metric_id', 'value'];
  const count = async () => Number((await owner.query<{ n: string }>('select count(*) as n from telemetry.measurements')).rows[0]!.n);

  it('writes every row in batches over parallel connections, as the ingest role', async () => {
    const ingest = connectPostgres({ access: stack.access, user: 'app_ingest' });
    const before = await count();
    const ing = createIngestor(ingest, { table: 'telemetry.measurements', columns, batchRows: 10_000, connections: 2 });
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 25_000; i++) await ing.write([new Date(t0 + i * 100), org, sources[i % 5]!, metric, i / 4]);
    await ing.close();
    expect(await count()).toBe(before + 25_000);
    expect(ing.stats()).toMatchObject({ rows: 25_000, failedRows: 0, batches: 3, pendingRows: 0 });
    const sum = await owner.query<{ s: number }>('select sum(value) as s from telemetry.measurements where time >= $1', [new Date(t0)]);
    expect(sum.rows[0]!.s).toBe((24_999 * 25_000) / 2 / 4);
    await ingest.close();
  });

  it('sends a partial batch after flushIntervalMs, so a slow trickle still arrives', async () => {
    const before = await count();
    const ing = createIngestor(owner, { table: 'telemetry.measurements', columns, flushIntervalMs: 100 });
    await ing.write([new Date(), org, sources[0]!, metric, 1]);
    await new Promise((r) => setTimeout(r, 600));
    expect(await count()).toBe(before + 1);
    await ing.close();
  });

  it('makes the writer wait when too much is pending (backpressure)', async () => {
    const ing = createIngestor(owner, { table: 'telemetry.measurements', columns, batchRows: 100, maxPendingRows: 200 });
    let waited = 0;
    for (let i = 0; i < 1000; i++) {
      const p = ing.write([new Date(), org, sources[1]!, metric, i]);
      if (p) {
        waited++;
        await p;
      }
      expect(ing.pendingRows).toBeLessThanOrEqual(300);
    }
    await ing.close();
    expect(waited).toBeGreaterThan(0);
  });

  it('round-trips text that needs escaping, and reports a failed batch instead of losing it silently', async () => {
    const ing = createIngestor(owner, { table: 'telemetry.events', columns: ['time', 'org_id', 'source_id', 'type', 'payload'], batchRows: 2 });
    const payload = { text: 'tab\there\nnew line \\ backslash "quoted"', n: 1 };
    await ing.write([new Date(), org, sources[2]!, 'note', payload]);
    await ing.write([new Date(), org, sources[2]!, 'note', { n: 2 }]);
    await ing.flush();
    const r = await owner.query<{ payload: unknown }>("select payload from telemetry.events where type = 'note' order by payload->>'n'");
    expect(r.rows.map((x) => x.payload)).toEqual([payload, { n: 2 }]);
    // A source that does not exist fails the foreign key: the batch is reported, with its row count.
    await ing.write([new Date(), org, 999_999, 'note', {}]);
    await ing.write([new Date(), org, sources[2]!, 'note', {}]);
    await expect(ing.flush()).rejects.toThrow(/COPY batch\(es\) into telemetry.events failed: .*foreign key/);
    expect(ing.stats().failedRows).toBe(2);
    await ing.close();
  });
});

describe('COPY ingest into partitions', () => {
  const columns = ['time', 'org_id', 'source_id', 'metric_id', 'value'];
  const DAY = 86_400_000;
  const yesterday = Math.floor(Date.now() / DAY) * DAY - DAY;
  // A source of these tests' own, so rows other tests wrote do not count.
  let source: number;
  beforeAll(async () => {
    source = Number((await owner.query<{ id: string }>("insert into registry.sources (org_id, name, kind) values ($1, 'partitioned', 'device') returning id", [org])).rows[0]!.id);
  });
  /** This source's rows per partition (or 'default') in the given time range. */
  const landed = async (from: number, to: number) =>
    Object.fromEntries(
      (
        await owner.query<{ p: string; n: string }>(
          'select tableoid::regclass::text as p, count(*) as n from telemetry.measurements where source_id = $3 and time >= $1 and time < $2 group by 1 order by 1',
          [new Date(from), new Date(to), source],
        )
      ).rows.map((r) => [r.p.replace(/^telemetry\.measurements_/, ''), Number(r.n)]),
    );
  const rowsAt = (times: number[]) => times.map((t, i) => [new Date(t), org, source, metric, i] as const);
  const spaced = (from: number, n: number, stepMs: number) => Array.from({ length: n }, (_, i) => from + i * stepMs);

  it("a batch inside one partition goes straight to it; one across partitions, or beyond them, to the table", async () => {
    const ingest = connectPostgres({ access: stack.access, user: 'app_ingest' });
    const ing = createIngestor(ingest, { table: 'telemetry.measurements', columns, batchRows: 1000 });
    await ing.writeMany(rowsAt(spaced(yesterday + 3_600_000, 1000, 1000))); // one partition
    await ing.writeMany(rowsAt(spaced(yesterday + DAY - 500_000, 1000, 1000))); // across midnight
    const farAhead = Date.UTC(2099, 0, 1);
    await ing.writeMany(rowsAt(spaced(farAhead, 1000, 1000))); // no partition yet
    await ing.close();
    expect(ing.stats()).toMatchObject({ rows: 3000, failedRows: 0, batches: 3, partitionBatches: 1 });
    const day = (t: number) => 'p' + new Date(t).toISOString().slice(0, 10).replaceAll('-', '') + '_000000';
    expect(await landed(yesterday, yesterday + 2 * DAY)).toEqual({ [day(yesterday)]: 1500, [day(yesterday + DAY)]: 500 });
    expect(await landed(farAhead, farAhead + DAY)).toEqual({ default: 1000 });
    await owner.query('delete from telemetry.measurements where time >= $1', [new Date(farAhead)]);
    await ingest.close();
  });

  it('a partition checks references as the table does; a partition dropped since the list was read sends its batch to the table', async () => {
    const ingest = connectPostgres({ access: stack.access, user: 'app_ingest' });
    const failures: string[] = [];
    const ing = createIngestor(ingest, { table: 'telemetry.measurements', columns, batchRows: 500, onError: (e) => failures.push(e.message) });
    const from = yesterday + 5 * 3_600_000;
    // One unknown source among 500 rows of one partition: nothing of the batch lands.
    await ing.writeMany([...rowsAt(spaced(from, 499, 10)), [new Date(from + 4_990), org, 999_999, metric, 0]]);
    await ing.flush();
    expect(failures).toEqual(['insert or update on table "measurements" violates foreign key constraint "measurements_org_id_source_id_fkey"']);
    expect(await landed(from, from + 5_000)).toEqual({});
    // Retention (or anyone) drops a partition the ingestor still lists: its rows wait in the default partition.
    const ahead = yesterday + 5 * DAY;
    const name = `telemetry.measurements_p${new Date(ahead).toISOString().slice(0, 10).replaceAll('-', '')}_000000`;
    await owner.query(`drop table ${name}`);
    await ing.writeMany(rowsAt(spaced(ahead, 500, 10)));
    await ing.close();
    expect(failures).toHaveLength(1);
    expect(await landed(ahead, ahead + DAY)).toEqual({ default: 500 });
    expect(ing.stats()).toMatchObject({ rows: 500, failedRows: 500, partitionBatches: 0 });
    await owner.query('delete from telemetry.measurements where time >= $1 and time < $2', [new Date(ahead), new Date(ahead + DAY)]);
    expect(Number((await owner.query('select dataplane.ensure_partitions($1) as n', ['telemetry.measurements'])).rows[0]!.n)).toBe(1);
    await ingest.close();
  });
});

describe('COPY formats', () => {
  // Values that each format must carry exactly: before 2000 (negative in binary),
  // sub-millisecond-free times, non-finite floats, NULLs, big ids, non-ASCII text.
  const rows = (): [Date, bigint | number, string | null, number, boolean | null, Record<string, unknown> | null][] => [
    [new Date('1999-12-31T23:59:59.999Z'), 1, 'plain', 1.5, true, { a: 1 }],
    [new Date('2026-11-30T12:34:56.789Z'), 9_007_199_254_740_991n, 'tab\there ünïcode ✓', Number.NaN, false, null],
    [new Date('1970-01-01T00:00:00.000Z'), -42, null, Number.POSITIVE_INFINITY, null, { nested: { list: [1, 'two'] } }],
    [new Date('2100-06-01T00:00:00.001Z'), 0, '', -0.000001, true, {}],
  ];

  it('binary and text COPY store identical values', async () => {
    await owner.query('create table public.formats (format text, t timestamptz, id int8, label text, x float8, flag bool, doc jsonb)');
    for (const format of ['binary', 'text'] as const) {
      const ing = createIngestor(owner, { table: 'public.formats', columns: ['t', 'id', 'label', 'x', 'flag', 'doc', 'format'], format });
      for (const r of rows()) await ing.write([...r, format]);
      await ing.close();
    }
    const read = async (format: string) =>
      (await owner.query('select t, id::text, label, x::text, flag, doc from public.formats where format = $1 order by t', [format])).rows;
    const binary = await read('binary');
    expect(binary).toEqual(await read('text'));
    expect(binary.map((r) => r.id)).toEqual(['-42', '1', '9007199254740991', '0']);
    expect(binary.map((r) => r.x)).toEqual(['Infinity', '1.5', 'NaN', '-1e-06']);
  });

  it('a value binary cannot encode fails its batch, reported with the row count; other batches land', async () => {
    await owner.query('create table public.bad_values (t timestamptz, n int4)');
    const failures: [string, number][] = [];
    const ing = createIngestor(owner, { table: 'public.bad_values', columns: ['t', 'n'], batchRows: 2, format: 'binary', onError: (e, n) => failures.push([e.message, n]) });
    await ing.write([new Date(), 1]);
    await ing.write(['not a time', 2]);
    await ing.write([new Date(), 3]);
    await ing.write([new Date(), 4]);
    await ing.close();
    expect(failures).toEqual([['not a timestamp: not a time', 2]]);
    expect((await owner.query('select n from public.bad_values order by n')).rows.map((r) => r.n)).toEqual([3, 4]);
  });

  it("'auto' falls back to text for a type without an encoder; 'binary' says which type", async () => {
    await owner.query('create table public.numerics (n numeric, at timestamptz)');
    const auto = createIngestor(owner, { table: 'public.numerics', columns: ['n', 'at'] });
    await auto.write(['12345678901234567890.123', new Date(0)]);
    await auto.close();
    expect((await owner.query('select n::text from public.numerics')).rows).toEqual([{ n: '12345678901234567890.123' }]);
    const strict = createIngestor(owner, { table: 'public.numerics', columns: ['n', 'at'], format: 'binary' });
    await strict.write([1, new Date(0)]);
    await expect(strict.close()).rejects.toThrow('binary COPY into public.numerics: no encoder for numeric');
  });
});
