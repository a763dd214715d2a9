/**
 * Least privilege and tenant isolation on real PostgreSQL 16 after the shipped
 * migrations: every role is refused what it must not do; tenant A never sees or
 * writes tenant B's rows.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { credential, pgConfig } from '../helpers/connect.js';
import { asRole, CHECK_OPTION_VIOLATION, FK_VIOLATION, outcome, PERMISSION_DENIED } from '../helpers/postgres.js';

let stack: EphemeralStack;
let orgA: number;
let orgB: number;
let sourceA: number;
let sourceB: number;
let metric: number;

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['postgres'] });
  // Two tenants, set up the way an application would, as app_rw.
  [orgA, orgB] = await asRole(stack, 'app_rw', async (c) => {
    const a = await c.query<{ id: string }>("select iam.create_organization('acme', 'Acme') as id");
    const b = await c.query<{ id: string }>("select iam.create_organization('globex', 'Globex') as id");
    return [Number(a.rows[0]!.id), Number(b.rows[0]!.id)];
  });
  metric = await asRole(stack, 'app_rw', async (c) =>
    Number((await c.query<{ id: string }>("insert into registry.metrics (name, unit, kind) values ('cpu.load', '1', 'gauge') returning id")).rows[0]!.id),
  );
  for (const [org, who] of [[orgA, 'alice@acme.test'], [orgB, 'bob@globex.test']] as const) {
    const id = await asRole(
      stack,
      'app_rw',
      async (c) => {
        await c.query("select iam.add_member($1, 'owner')", [who]);
        const s = await c.query<{ id: string }>("insert into registry.sources (org_id, name, kind) values ($1, 'edge-1', 'device') returning id", [org]);
        await c.query("insert into telemetry.tenant_measurements values (now(), $1, $2, $3, 42)", [org, s.rows[0]!.id, metric]);
        await c.query("insert into telemetry.tenant_events (time, org_id, source_id, type) values (now(), $1, $2, 'boot')", [org, s.rows[0]!.id]);
        await c.query("insert into audit.tenant_audit_log (org_id, actor, action) values ($1, 'user:1', 'source.create')", [org]);
        return Number(s.rows[0]!.id);
      },
      org,
    );
    if (org === orgA) sourceA = id;
    else sourceB = id;
  }
});

afterAll(async () => {
  await stack.stop();
});

describe('tenant isolation', () => {
  const tenantTables = [
    'iam.organizations',
    'iam.memberships',
    'iam.users',
    'registry.sources',
    'telemetry.tenant_measurements',
    'telemetry.tenant_events',
    'audit.tenant_audit_log',
  ];

  it.each(tenantTables)('%s shows only the session tenant', async (table) => {
    for (const role of ['app_rw', 'app_ro']) {
      const seenA = await asRole(stack, role, (c) => c.query(`select * from ${table}`), orgA);
      const seenB = await asRole(stack, role, (c) => c.query(`select * from ${table}`), orgB);
      expect(seenA.rowCount, `${role} ${table}`).toBe(1);
      expect(seenB.rowCount, `${role} ${table}`).toBe(1);
      expect(JSON.stringify(seenA.rows)).not.toEqual(JSON.stringify(seenB.rows));
      const none = await asRole(stack, role, (c) => c.query(`select * from ${table}`));
      expect(none.rowCount, `${role} ${table} without a tenant`).toBe(0);
    }
  });

  it("tenant B cannot write rows into tenant A", async () => {
    await asRole(
      stack,
      'app_rw',
      async (c) => {
        expect(await outcome(c, "insert into registry.sources (org_id, name, kind) values ($1, 'sneaky', 'device')", [orgA])).toBe(PERMISSION_DENIED);
        expect(await outcome(c, 'insert into telemetry.tenant_measurements values (now(), $1, $2, $3, 1)', [orgA, sourceA, metric])).toBe(CHECK_OPTION_VIOLATION);
        expect(await outcome(c, "insert into audit.tenant_audit_log (org_id, actor, action) values ($1, 'user:2', 'x.y')", [orgA])).toBe(CHECK_OPTION_VIOLATION);
        // Updates and deletes simply find nothing of tenant A's.
        expect((await c.query("update registry.sources set name = 'renamed' where id = $1", [sourceA])).rowCount).toBe(0);
        expect((await c.query('delete from iam.memberships where org_id = $1', [orgA])).rowCount).toBe(0);
        // Moving its own row into tenant A fails the policy's check.
        expect(await outcome(c, 'update registry.sources set org_id = $1 where id = $2', [orgA, sourceB])).toBe(PERMISSION_DENIED);
      },
      orgB,
    );
  });

  it('ingest writes for any tenant, but only with a source of that tenant', async () => {
    await asRole(stack, 'app_ingest', async (c) => {
      expect(await outcome(c, 'insert into telemetry.measurements values (now(), $1, $2, $3, 7)', [orgA, sourceA, metric])).toBe('ok');
      expect(await outcome(c, 'insert into telemetry.measurements values (now(), $1, $2, $3, 7)', [orgB, sourceA, metric])).toBe(FK_VIOLATION);
    });
  });

  it('API keys are found by prefix before the tenant is known, and only with the right hash', async () => {
    const hash = Buffer.alloc(32, 7);
    await asRole(stack, 'app_rw', (c) => c.query("insert into iam.api_keys (org_id, name, prefix, key_hash) values ($1, 'ci', 'dpk_abcd1234', $2)", [orgA, hash]), orgA);
    await asRole(stack, 'app_rw', async (c) => {
      expect((await c.query('select org_id from iam.authenticate_api_key($1, $2)', ['dpk_abcd1234', hash])).rows).toEqual([{ org_id: String(orgA) }]);
      expect((await c.query('select org_id from iam.authenticate_api_key($1, $2)', ['dpk_abcd1234', Buffer.alloc(32, 8)])).rows).toEqual([]);
      // Without a tenant, the table itself shows nothing.
      expect((await c.query('select * from iam.api_keys')).rowCount).toBe(0);
    });
  });
});

describe('least privilege per role', () => {
  it('ingest can only insert telemetry', async () => {
    await asRole(stack, 'app_ingest', async (c) => {
      expect(await outcome(c, 'select * from telemetry.measurements limit 1')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from iam.users')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from registry.sources')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, "insert into iam.organizations (slug, name) values ('x1', 'x')")).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'delete from telemetry.measurements')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from telemetry.tenant_measurements')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from analytics.measurements_1h')).toBe(PERMISSION_DENIED);
    });
  });

  it('read-only reads but cannot write anything', async () => {
    await asRole(
      stack,
      'app_ro',
      async (c) => {
        expect(await outcome(c, 'select * from registry.sources')).toBe('ok');
        for (const sql of [
          "insert into registry.sources (org_id, name, kind) values ($1, 'ro', 'device')",
          'update iam.organizations set name = $1::text where id > 0',
          'delete from registry.sources where org_id = $1',
          'insert into telemetry.tenant_measurements values (now(), $1, 1, 1, 1)',
          "insert into messaging.outbox (subject, payload) values ('a.b', '{}'::jsonb || jsonb_build_object('x', $1::bigint))",
        ]) {
          expect(await outcome(c, sql, [orgA]), sql).toBe(PERMISSION_DENIED);
        }
      },
      orgA,
    );
  });

  it('analytics reads rollups across tenants and nothing else', async () => {
    await asRole(stack, 'app_analytics', async (c) => {
      expect(await outcome(c, 'select * from analytics.measurements_1h')).toBe('ok');
      expect(await outcome(c, 'select * from analytics.measurements_1m')).toBe('ok');
      expect(await outcome(c, 'select * from telemetry.measurements')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from telemetry.tenant_measurements')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'select * from iam.users')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'delete from analytics.measurements_1h')).toBe(PERMISSION_DENIED);
    });
  });

  it('monitoring sees server statistics, not data', async () => {
    await asRole(stack, 'app_monitor', async (c) => {
      expect(await outcome(c, 'select count(*) from pg_stat_activity where query is not null')).toBe('ok');
      expect(await outcome(c, 'select pg_database_size(current_database())')).toBe('ok');
      for (const t of ['iam.users', 'telemetry.measurements', 'messaging.outbox', 'analytics.measurements_1h']) {
        expect(await outcome(c, `select * from ${t}`), t).toBe(PERMISSION_DENIED);
      }
    });
  });

  it('backup can take a base backup with the low-level API, and read no data', async () => {
    await asRole(stack, 'app_backup', async (c) => {
      expect(await outcome(c, "select pg_backup_start('privilege-test', true)")).toBe('ok');
      expect(await outcome(c, 'select * from pg_backup_stop(false)')).toBe('ok');
      expect(await outcome(c, 'select * from iam.users')).toBe(PERMISSION_DENIED);
    });
    await asRole(stack, 'app_rw', async (c) => expect(await outcome(c, "select pg_backup_start('x', true)")).toBe(PERMISSION_DENIED));
  });

  it.each(['app_rw', 'app_ro', 'app_ingest', 'app_analytics', 'app_monitor', 'app_backup'])('%s cannot run DDL', async (role) => {
    await asRole(stack, role, async (c) => {
      for (const sql of [
        'create table iam.evil (id int)',
        'create table public.evil (id int)',
        'create table telemetry.evil (id int)',
        'alter table registry.sources add column evil int',
        'drop table messaging.inbox',
        'create schema evil',
        'create index evil on iam.users (email)',
        'truncate telemetry.measurements',
      ]) {
        expect(await outcome(c, sql), `${role}: ${sql}`).toBe(PERMISSION_DENIED);
      }
    });
  });

  it('no role changes or deletes audit_log entries, the owner included', async () => {
    for (const role of ['app_rw', 'app_ro', 'app_ingest', 'app_analytics']) {
      await asRole(
        stack,
        role,
        async (c) => {
          for (const sql of ["update audit.tenant_audit_log set action = 'forged'", 'delete from audit.tenant_audit_log', "update audit.audit_log set action = 'forged'", 'delete from audit.audit_log']) {
            expect(await outcome(c, sql), `${role}: ${sql}`).toBe(PERMISSION_DENIED);
          }
        },
        orgA,
      );
    }
    await asRole(stack, stack.config.postgres.owner, async (c) => {
      expect(await outcome(c, "update audit.audit_log set action = 'forged'")).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'delete from audit.audit_log')).toBe(PERMISSION_DENIED);
      expect(await outcome(c, 'truncate audit.audit_log')).toBe(PERMISSION_DENIED);
      expect((await c.query('select count(*)::int as n from audit.audit_log')).rows[0].n).toBe(2);
    });
  });

  it('PUBLIC has nothing: a role without grants cannot connect or use a schema', async () => {
    const su = new pg.Client(pgConfig(stack.postgres!.superuser, stack.config.postgres.database));
    await su.connect();
    try {
      await su.query("create role stranger login password 'stranger-password-123456'");
      const db = stack.config.postgres.database;
      const r = await su.query<{ connect: boolean; public_usage: boolean }>(
        `select has_database_privilege('stranger', $1, 'connect') as connect,
                has_schema_privilege('stranger', 'public', 'usage') as public_usage`,
        [db],
      );
      expect(r.rows[0]).toEqual({ connect: false, public_usage: false });
      for (const schema of ['dataplane', 'iam', 'registry', 'telemetry', 'analytics', 'audit', 'messaging']) {
        const u = await su.query<{ ok: boolean }>(`select has_schema_privilege('stranger', $1, 'usage') as ok`, [schema]);
        expect(u.rows[0]!.ok, schema).toBe(false);
      }
      const fn = await su.query<{ ok: boolean }>("select has_function_privilege('stranger', 'dataplane.create_timeseries(regclass,name,interval,interval,interval,text,integer)', 'execute') as ok");
      expect(fn.rows[0]!.ok).toBe(false);
      const stranger = new pg.Client({ ...pgConfig(stack.postgres!), user: 'stranger', password: 'stranger-password-123456' });
      await expect(stranger.connect()).rejects.toMatchObject({ code: PERMISSION_DENIED });
    } finally {
      await su.query('drop role if exists stranger');
      await su.end();
    }
  });

  it('future tables follow the default privileges', async () => {
    await asRole(stack, stack.config.postgres.owner, (c) => c.query('create table registry.firmware (id int primary key, org_id bigint)'));
    await asRole(stack, 'app_rw', async (c) => expect(await outcome(c, 'insert into registry.firmware values (1, 1)')).toBe('ok'));
    await asRole(stack, 'app_ro', async (c) => {
      expect(await outcome(c, 'select * from registry.firmware')).toBe('ok');
      expect(await outcome(c, 'insert into registry.firmware values (2, 1)')).toBe(PERMISSION_DENIED);
    });
    await asRole(stack, 'app_ingest', async (c) => expect(await outcome(c, 'select * from registry.firmware')).toBe(PERMISSION_DENIED));
  });
});

/**
 * telemetry → registry references are checked per statement (migration 0010), not by
 * foreign keys: the same promise, checked here as a foreign key would be.
 */
describe('references to the registry, checked per statement', () => {
  const owner = () => stack.config.postgres.owner;
  const newSource = (org: number, name: string) =>
    asRole(stack, 'app_rw', async (c) => Number((await c.query<{ id: string }>("insert into registry.sources (org_id, name, kind) values ($1, $2, 'device') returning id", [org, name])).rows[0]!.id), org);
  const errorOf = async (c: pg.Client, sql: string, params: unknown[] = []) => {
    try {
      await c.query(sql, params);
      return undefined;
    } catch (e) {
      return e as pg.DatabaseError;
    }
  };

  it('telemetry has no foreign keys left: every reference is a statement check', async () => {
    await asRole(stack, owner(), async (c) => {
      const refs = await c.query('select table_name, name, enforcement from dataplane.table_references order by 1, 2');
      expect(refs.rows).toEqual([
        { table_name: 'events', name: 'events_org_id_source_id_fkey', enforcement: 'statement_check' },
        { table_name: 'measurements', name: 'measurements_metric_id_fkey', enforcement: 'statement_check' },
        { table_name: 'measurements', name: 'measurements_org_id_source_id_fkey', enforcement: 'statement_check' },
      ]);
      const fks = await c.query("select conname from pg_constraint where contype = 'f' and connamespace = 'telemetry'::regnamespace");
      expect(fks.rows).toEqual([]);
    });
  });

  it('a sample for an unknown source or metric, or a source of another tenant, is refused with the foreign key wording', async () => {
    await asRole(stack, 'app_ingest', async (c) => {
      const unknownSource = await errorOf(c, 'insert into telemetry.measurements values (now(), $1, 999999, $2, 1)', [orgA, metric]);
      expect(unknownSource?.code).toBe(FK_VIOLATION);
      expect(unknownSource?.message).toBe('insert or update on table "measurements" violates foreign key constraint "measurements_org_id_source_id_fkey"');
      expect(unknownSource?.detail).toBe(`Key (org_id, source_id)=(${orgA}, 999999) is not present in table "sources".`);
      expect((await errorOf(c, 'insert into telemetry.measurements values (now(), $1, $2, 999999, 1)', [orgA, sourceA]))?.detail).toBe('Key (metric_id)=(999999) is not present in table "metrics".');
      // One bad row among good ones fails the whole statement.
      const mixed = await errorOf(c, 'insert into telemetry.measurements select now(), $1::bigint, $2::bigint, $3::int, g from generate_series(1, 1000) g union all select now(), $1, $4::bigint, $3, 0', [orgA, sourceA, metric, sourceB]);
      expect(mixed?.detail).toBe(`Key (org_id, source_id)=(${orgA}, ${sourceB}) is not present in table "sources".`);
      expect(await outcome(c, "insert into telemetry.events (time, org_id, source_id, type) values (now(), $1, $2, 'x')", [orgB, sourceA])).toBe(FK_VIOLATION);
    });
  });

  it("ingest may name a partition, and is checked there as through the table; other roles may not; the partition's range holds", async () => {
    const part = `telemetry.measurements_p${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_000000`;
    await asRole(stack, 'app_ingest', async (c) => {
      const unknown = await errorOf(c, `insert into ${part} values (now(), $1, 999999, $2, 1)`, [orgA, metric]);
      expect(unknown?.code).toBe(FK_VIOLATION);
      expect(unknown?.message).toBe('insert or update on table "measurements" violates foreign key constraint "measurements_org_id_source_id_fkey"');
      expect((await errorOf(c, `insert into ${part} values (now(), $1, $2, 1, 1)`, [orgB, sourceA]))?.code).toBe(FK_VIOLATION);
      expect(await outcome(c, `insert into ${part} values (now(), $1, $2, $3, 1)`, [orgA, sourceA, metric])).toBe('ok');
      expect(await outcome(c, `insert into ${part} values (now() + interval '2 days', $1, $2, $3, 1)`, [orgA, sourceA, metric])).toBe('23514');
      expect(await outcome(c, `select * from ${part}`)).toBe(PERMISSION_DENIED);
      expect(await outcome(c, `delete from ${part}`)).toBe(PERMISSION_DENIED);
    });
    await asRole(stack, 'app_rw', async (c) => expect(await outcome(c, `insert into ${part} values (now(), $1, $2, $3, 1)`, [orgA, sourceA, metric])).toBe(PERMISSION_DENIED), orgA);
  });

  it('a partition made later carries the checks at once; one of a table with row-level security stays sealed', async () => {
    const DAY = 86_400_000;
    const later = new Date(Date.now() + 60 * DAY);
    const part = `telemetry.measurements_p${new Date(Math.floor(later.getTime() / DAY) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}_000000`;
    await asRole(stack, owner(), (c) => c.query('select dataplane.ensure_partitions($1, $2)', ['telemetry.measurements', later]));
    await asRole(stack, 'app_ingest', async (c) => {
      expect(await outcome(c, `insert into ${part} values ($3, $1, 999999, $2, 1)`, [orgA, metric, later])).toBe(FK_VIOLATION);
      expect(await outcome(c, `insert into ${part} values ($4, $1, $2, $3, 1)`, [orgA, sourceA, metric, later])).toBe('ok');
    });
    await asRole(stack, owner(), async (c) => {
      await c.query('delete from telemetry.measurements where time >= $1', [new Date(later.getTime() - DAY)]);
      await c.query('create table telemetry.guarded (time timestamptz not null, org_id bigint not null, v int)');
      await c.query("select dataplane.create_timeseries('telemetry.guarded', 'time', chunk_interval => interval '1 day')");
      await c.query('alter table telemetry.guarded enable row level security');
      await c.query('create policy guarded_read on telemetry.guarded for select using (org_id = dataplane.current_org())');
      await c.query('create policy guarded_write on telemetry.guarded for insert with check (true)');
      await c.query("select dataplane.seal_partitions('telemetry.guarded')");
    });
    const guarded = `telemetry.guarded_p${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_000000`;
    await asRole(stack, 'app_ingest', async (c) => {
      expect(await outcome(c, 'insert into telemetry.guarded values (now(), 1, 1)')).toBe('ok');
      expect(await outcome(c, `insert into ${guarded} values (now(), 1, 1)`)).toBe(PERMISSION_DENIED);
    });
    await asRole(stack, owner(), async (c) => {
      await c.query('drop table telemetry.guarded');
      await c.query("delete from dataplane.timeseries where schema_name = 'telemetry' and table_name = 'guarded'");
    });
  });

  it('a source or metric with history cannot be deleted, re-keyed or truncated away; one without history can', async () => {
    const spare = await newSource(orgA, 'spare');
    const moving = await newSource(orgA, 'moving');
    await asRole(stack, 'app_ingest', (c) => c.query('insert into telemetry.measurements values (now(), $1, $2, $3, 1)', [orgA, moving, metric]));
    await asRole(
      stack,
      'app_rw',
      async (c) => {
        const del = await errorOf(c, 'delete from registry.sources where id = $1', [sourceA]);
        expect(del?.code).toBe(FK_VIOLATION);
        expect(del?.detail).toBe(`Key (org_id, id)=(${orgA}, ${sourceA}) is still referenced from table "measurements".`);
        expect(del?.hint).toMatch(/retired/);
        expect(await outcome(c, 'update registry.sources set retired_at = now() where id = $1', [sourceA])).toBe('ok');
        expect(await outcome(c, 'delete from registry.sources where id = $1', [spare])).toBe('ok');
      },
      orgA,
    );
    await asRole(stack, owner(), async (c) => {
      expect(await outcome(c, 'update registry.sources set org_id = $1 where id = $2', [orgB, moving])).toBe(FK_VIOLATION);
      expect(await outcome(c, 'delete from registry.metrics where id = $1', [metric])).toBe(FK_VIOLATION);
      expect(await outcome(c, 'truncate registry.metrics cascade')).toBe('0A000');
      // A snapshot taken before concurrent ingest committed could miss its rows.
      await c.query('begin isolation level repeatable read');
      expect(await outcome(c, 'delete from registry.sources where id = $1', [sourceB])).toBe('0A000');
      await c.query('rollback');
    });
  });

  it('a delete racing an uncommitted insert waits for it, then is refused; an insert racing a delete fails', async () => {
    const s1 = await newSource(orgA, 'race-1');
    const s2 = await newSource(orgA, 'race-2');
    const ingest = new pg.Client(pgConfig(credential(stack.credentials, 'postgres', 'app_ingest'), stack.config.postgres.database));
    const registry = new pg.Client(pgConfig(credential(stack.credentials, 'postgres', owner()), stack.config.postgres.database));
    await Promise.all([ingest.connect(), registry.connect()]);
    try {
      const settled = (p: Promise<unknown>) => {
        const state: { done: boolean; result?: Promise<unknown> } = { done: false };
        state.result = p.then(
          (v) => ((state.done = true), v),
          (e: unknown) => ((state.done = true), e),
        );
        return state as { done: boolean; result: Promise<unknown> };
      };
      // Insert first, uncommitted: the delete blocks on the row lock, then sees the committed row.
      await ingest.query('begin');
      await ingest.query('insert into telemetry.measurements values (now(), $1, $2, $3, 1)', [orgA, s1, metric]);
      const del = settled(registry.query('delete from registry.sources where id = $1', [s1]));
      await new Promise((r) => setTimeout(r, 500));
      expect(del.done).toBe(false);
      await ingest.query('commit');
      expect(((await del.result) as pg.DatabaseError).code).toBe(FK_VIOLATION);

      // Delete first, uncommitted: the insert blocks, then finds no source.
      await registry.query('begin');
      await registry.query('delete from registry.sources where id = $1', [s2]);
      const ins = settled(ingest.query('insert into telemetry.measurements values (now(), $1, $2, $3, 1)', [orgA, s2, metric]));
      await new Promise((r) => setTimeout(r, 500));
      expect(ins.done).toBe(false);
      await registry.query('commit');
      expect(((await ins.result) as pg.DatabaseError).code).toBe(FK_VIOLATION);
    } finally {
      await Promise.all([ingest.end(), registry.end()]);
    }
  });

  it('check_references finds rows that bypassed the checks (triggers disabled)', async () => {
    await asRole(stack, owner(), async (c) => {
      const orphans = async () => (await c.query<{ reference: string; orphan_rows: string; example: string | null }>('select reference, orphan_rows, example from dataplane.check_references() order by reference')).rows;
      expect((await orphans()).every((r) => r.orphan_rows === '0')).toBe(true);
      await c.query('alter table telemetry.measurements disable trigger dataplane_reference_check_insert');
      await c.query('insert into telemetry.measurements values (now(), $1, 424242, $2, 1)', [orgA, metric]);
      await c.query('alter table telemetry.measurements enable trigger dataplane_reference_check_insert');
      expect((await orphans()).find((r) => r.reference === 'measurements_org_id_source_id_fkey')).toEqual({ reference: 'measurements_org_id_source_id_fkey', orphan_rows: '1', example: `${orgA}, 424242` });
      await c.query('delete from telemetry.measurements where source_id = 424242');
      expect((await orphans()).every((r) => r.orphan_rows === '0')).toBe(true);
    });
  });
});
