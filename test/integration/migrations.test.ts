/**
 * The migration runner on real PostgreSQL 16: order, one transaction per file,
 * checksums of applied files, the advisory lock under concurrent runs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_MIGRATIONS, createMigration, loadMigrations, migrate, migrationStatus, MigrationError } from '../../src/postgres/migrations.js';
import { pgConfig } from '../helpers/connect.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';

let stack: EphemeralStack;
let dir: string;
let db: string;
let counter = 0;

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['postgres'], config: { postgres: { migrateOnUp: false } } });
});
afterAll(async () => {
  await stack.stop();
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh database and migrations folder per test. */
beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-migrations-'));
  db = `m${++counter}`;
  const su = new pg.Client(pgConfig(stack.postgres!.superuser));
  await su.connect();
  await su.query(`create database ${db} owner app_owner`);
  await su.end();
});

function owner(): pg.Client {
  return new pg.Client(pgConfig(stack.postgres!, db));
}

async function withOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = owner();
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function write(file: string, sql: string): void {
  writeFileSync(path.join(dir, file), sql);
}

describe('loading files', () => {
  it('orders by number and rejects badly named or duplicate files', () => {
    write('0002_second.sql', 'select 2;');
    write('0001_first.sql', 'select 1;');
    write('README.md', 'ignored');
    expect(loadMigrations(dir).map((m) => m.file)).toEqual(['0001_first.sql', '0002_second.sql']);
    write('0002_again.sql', 'select 2;');
    expect(() => loadMigrations(dir)).toThrow(/0002_second\.sql and 0002_again\.sql share version 2/);
    const other = mkdtempSync(path.join(os.tmpdir(), 'dataplane-migrations-'));
    writeFileSync(path.join(other, 'add-things.sql'), '');
    try {
      expect(() => loadMigrations(other)).toThrow(/add-things\.sql is not named like 0001_create_things\.sql/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('`migrate create` numbers the next file', () => {
    write('0007_existing.sql', 'select 1;');
    const file = createMigration(dir, 'Add Invoices!');
    expect(path.basename(file)).toBe('0008_add_invoices.sql');
    expect(readFileSync(file, 'utf8')).toMatch(/never edit this file/);
  });
});

describe('applying', () => {
  it('applies in order, records checksums, and is idempotent', async () => {
    write('0001_things.sql', 'create table things (id int primary key);');
    write('0002_more.sql', 'alter table things add column name text;');
    await withOwner(async (c) => {
      const first = await migrate(c, loadMigrations(dir));
      expect(first.applied.map((a) => a.file)).toEqual(['0001_things.sql', '0002_more.sql']);
      const again = await migrate(c, loadMigrations(dir));
      expect(again).toEqual({ applied: [], upToDate: 2 });
      const rows = await c.query('select version, name, checksum from dataplane.schema_migrations order by version');
      expect(rows.rows.map((r) => [r.version, r.name])).toEqual([[1, 'things'], [2, 'more']]);
      expect(rows.rows[0].checksum).toBe(loadMigrations(dir)[0]!.checksum);
    });
  });

  it('rolls a failing migration back entirely and names the file and line', async () => {
    write('0001_ok.sql', 'create table ok (id int);');
    write('0002_broken.sql', 'create table half (id int);\ninsert into half values (1);\nselect no_such_column from half;\n');
    await withOwner(async (c) => {
      const err = await migrate(c, loadMigrations(dir)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).code).toBe('MIGRATION_FAILED');
      expect((err as Error).message).toMatch(/^0002_broken\.sql line 3: column "no_such_column" does not exist/);
      expect((await c.query("select to_regclass('half') as t")).rows[0].t).toBeNull();
      expect((await c.query("select to_regclass('ok') as t")).rows[0].t).toBe('ok');
      const status = await migrationStatus(c, loadMigrations(dir));
      expect(status.map((s) => [s.file, s.state])).toEqual([['0001_ok.sql', 'applied'], ['0002_broken.sql', 'pending']]);
    });
  });

  it('refuses to run when an applied file was edited, and names it', async () => {
    write('0001_things.sql', 'create table things (id int);');
    await withOwner((c) => migrate(c, loadMigrations(dir)));
    write('0001_things.sql', 'create table things (id bigint);');
    write('0002_next.sql', 'create table next (id int);');
    await withOwner(async (c) => {
      await expect(migrate(c, loadMigrations(dir))).rejects.toMatchObject({
        code: 'MIGRATION_CHANGED',
        message: expect.stringContaining('0001_things.sql changed since it was applied'),
      });
      expect((await c.query("select to_regclass('next') as t")).rows[0].t).toBeNull();
      expect((await migrationStatus(c, loadMigrations(dir)))[0]!.state).toBe('changed');
    });
  });

  it('refuses a missing applied file and a file numbered before the latest applied one', async () => {
    write('0001_a.sql', 'select 1;');
    write('0003_c.sql', 'select 3;');
    await withOwner((c) => migrate(c, loadMigrations(dir)));
    write('0002_b.sql', 'select 2;');
    await withOwner((c) => expect(migrate(c, loadMigrations(dir))).rejects.toMatchObject({ code: 'MIGRATION_OUT_OF_ORDER' }));
    const other = path.join(dir, 'other');
    (await import('node:fs')).mkdirSync(other);
    writeFileSync(path.join(other, '0003_c.sql'), 'select 3;');
    await withOwner((c) =>
      expect(migrate(c, loadMigrations(other))).rejects.toMatchObject({ code: 'MIGRATION_MISSING', message: expect.stringContaining('0001_a.sql') }),
    );
  });

  it('two runs at once: one applies, the other waits on the lock and finds nothing to do', async () => {
    write('0001_slow.sql', 'select pg_sleep(1);\ncreate table slow (id int);');
    write('0002_after.sql', 'create table after_slow (id int);');
    const [a, b] = [owner(), owner()];
    await Promise.all([a.connect(), b.connect()]);
    try {
      const migrations = loadMigrations(dir);
      const waited: string[] = [];
      const results = await Promise.all([
        migrate(a, migrations, { onProgress: (m) => waited.push(`a: ${m}`) }),
        new Promise((r) => setTimeout(r, 200)).then(() => migrate(b, migrations, { onProgress: (m) => waited.push(`b: ${m}`) })),
      ]);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 2]);
      expect(waited).toContain('b: another migration run holds the lock; waiting for it to finish');
      const rows = await a.query('select count(*)::int as n from dataplane.schema_migrations');
      expect(rows.rows[0].n).toBe(2);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});

describe('the shipped migrations', () => {
  it('0012 turns an outbox of marked rows into a log: published rows behind the position, failed ones and those queued behind them held', async () => {
    const shipped = loadMigrations(BUILTIN_MIGRATIONS);
    await withOwner(async (c) => {
      await migrate(c, shipped.filter((m) => m.version < 12));
      // Ids 1-2 published, 3 failed (key a), 4 waits behind it, 5 published after it (key b), 6 new.
      await c.query(`insert into messaging.outbox (subject, payload, key) select 'app.e', '{}', k from unnest(array['a', 'b', 'a', 'a', 'b', 'b']) k`);
      await c.query(`update messaging.outbox set published_at = now(), attempts = 1 where id in (1, 2, 5)`);
      await c.query(`update messaging.outbox set attempts = 4, last_error = 'no stream captures this subject' where id = 3`);
      await migrate(c, shipped);
      const position = (await c.query('select xid::text, last_id::int from messaging.outbox_relay')).rows;
      expect(position).toEqual([{ xid: expect.stringMatching(/^\d+$/), last_id: 5 }]);
      const held = await c.query('select id::int, key, attempts, last_error from messaging.outbox_held order by id');
      expect(held.rows).toEqual([
        { id: 3, key: 'a', attempts: 4, last_error: 'no stream captures this subject' },
        { id: 4, key: 'a', attempts: 1, last_error: null },
      ]);
      // The rows' transaction is the position's: 6 comes after it, the others at or before it.
      const after = await c.query('select o.id::int from messaging.outbox o, messaging.outbox_relay r where (o.xid, o.id) > (r.xid, r.last_id)');
      expect(after.rows).toEqual([{ id: 6 }]);
      expect((await c.query('select * from messaging.outbox_backlog()')).rows[0]).toMatchObject({ unpublished: '3' });
    });
  });
});

it('the shipped migrations are numbered without gaps', () => {
  const files = readdirSync(new URL('../../migrations', import.meta.url)).filter((f) => f.endsWith('.sql')).sort();
  files.forEach((f, i) => expect(f.startsWith(String(i + 1).padStart(4, '0') + '_'), f).toBe(true));
});
