/**
 * SQL migrations: numbered files (0001_name.sql), each applied in its own
 * transaction and recorded with a SHA-256 checksum in dataplane.schema_migrations.
 * A session advisory lock makes concurrent runs wait for each other.
 *
 * Written here rather than taken from a library because none of the maintained
 * ones does all of it: postgrator 8 checks checksums but takes no lock and leaves
 * transactions to the files; node-pg-migrate 9 locks and uses transactions but keeps
 * no checksums; graphile-migrate's current.sql/commit workflow with a shadow database
 * does not fit a folder of numbered files that also runs on single-connection
 * PGlite. The shape follows graphile-worker's migrate.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { DataplaneError, type ErrorCode, type ErrorOptions } from '../errors/index.js';

export const MIGRATION_FILE = /^(\d{4,})_([a-z0-9][a-z0-9_]*)\.sql$/;
/** 'dpmigrat' as a big-endian int8: the advisory lock key of migration runs. */
const LOCK_KEY = '7237404900658930036';

export interface Migration {
  version: number;
  name: string;
  file: string;
  path: string;
  sql: string;
  checksum: string;
}

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing';

export interface MigrationStatus {
  version: number;
  name: string;
  file: string;
  state: MigrationState;
  appliedAt: string | null;
}

/** The query surface the runner needs: a single session (the lock and transactions live on it). */
export interface MigrationClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** The migrations shipped with dataplane (postgres.migrationsDir "builtin"). */
export const BUILTIN_MIGRATIONS = path.join(PACKAGE_ROOT, 'migrations');

export function migrationsDir(config: Pick<Config, 'postgres'>): string {
  return config.postgres.migrationsDir === 'builtin' ? BUILTIN_MIGRATIONS : config.postgres.migrationsDir;
}

export type MigrationErrorCode = Extract<ErrorCode, `MIGRATION${string}`>;

export class MigrationError extends DataplaneError {
  readonly code: MigrationErrorCode;
  constructor(code: MigrationErrorCode, message: string, opts: ErrorOptions = {}) {
    super(message, opts);
    this.code = code;
  }
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

export function loadMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new MigrationError('MIGRATIONS_DIR_MISSING', `migrations folder ${dir} does not exist`, { hint: 'set postgres.migrationsDir' });
  const out: Migration[] = [];
  const seen = new Map<number, string>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = MIGRATION_FILE.exec(file);
    if (!m) {
      throw new MigrationError('MIGRATION_NAME', `${path.join(dir, file)} is not named like 0001_create_things.sql`, {
        hint: 'use a number, an underscore and a lower-case name; `dataplane migrate create NAME` makes one',
      });
    }
    const version = Number(m[1]);
    const other = seen.get(version);
    if (other) throw new MigrationError('MIGRATION_DUPLICATE', `${file} and ${other} share version ${version}`, { hint: 'renumber one of them' });
    seen.set(version, file);
    const p = path.join(dir, file);
    const sql = readFileSync(p, 'utf8');
    out.push({ version, name: m[2]!, file, path: p, sql, checksum: checksum(sql) });
  }
  return out.sort((a, b) => a.version - b.version);
}

async function ensureTable(db: MigrationClient): Promise<void> {
  await db.query(`
    create schema if not exists dataplane;
    create table if not exists dataplane.schema_migrations (
      version      integer     primary key,
      name         text        not null,
      checksum     text        not null,
      applied_at   timestamptz not null default now(),
      applied_by   name        not null default current_user,
      execution_ms integer
    )`);
}

interface AppliedRow extends Record<string, unknown> {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

async function applied(db: MigrationClient): Promise<Map<number, AppliedRow>> {
  const exists = await db.query<{ t: string | null }>("select to_regclass('dataplane.schema_migrations')::text as t");
  if (!exists.rows[0]?.t) return new Map();
  const rows = await db.query<AppliedRow>('select version, name, checksum, applied_at from dataplane.schema_migrations order by version');
  return new Map(rows.rows.map((r) => [r.version, r]));
}

export async function migrationStatus(db: MigrationClient, migrations: Migration[]): Promise<MigrationStatus[]> {
  const done = await applied(db);
  const out: MigrationStatus[] = migrations.map((m) => {
    const row = done.get(m.version);
    return {
      version: m.version,
      name: m.name,
      file: m.file,
      state: !row ? 'pending' : row.checksum === m.checksum ? 'applied' : 'changed',
      appliedAt: row ? row.applied_at.toISOString() : null,
    };
  });
  for (const row of done.values()) {
    if (!migrations.some((m) => m.version === row.version)) {
      out.push({ version: row.version, name: row.name, file: `${String(row.version).padStart(4, '0')}_${row.name}.sql`, state: 'missing', appliedAt: row.applied_at.toISOString() });
    }
  }
  return out.sort((a, b) => a.version - b.version);
}

function lineOf(sql: string, position: number | undefined): number | undefined {
  if (!position) return undefined;
  return sql.slice(0, position - 1).split('\n').length;
}

export interface MigrateOptions {
  onProgress?: (msg: string) => void;
}

export interface MigrateResult {
  applied: { file: string; ms: number }[];
  upToDate: number;
}

/** Apply pending migrations in order, each in its own transaction. Refuses to run over an edited one. */
export async function migrate(db: MigrationClient, migrations: Migration[], opts: MigrateOptions = {}): Promise<MigrateResult> {
  const progress = opts.onProgress ?? (() => {});
  const got = await db.query<{ ok: boolean }>(`select pg_try_advisory_lock(${LOCK_KEY}) as ok`);
  if (!got.rows[0]?.ok) {
    progress('another migration run holds the lock; waiting for it to finish');
    await db.query(`select pg_advisory_lock(${LOCK_KEY})`);
  }
  try {
    await ensureTable(db);
    const status = await migrationStatus(db, migrations);
    const changed = status.filter((s) => s.state === 'changed');
    if (changed.length) {
      throw new MigrationError(
        'MIGRATION_CHANGED',
        `applied migration${changed.length > 1 ? 's' : ''} ${changed.map((c) => c.file).join(', ')} changed since ${changed.length > 1 ? 'they were' : 'it was'} applied (checksum mismatch)`,
        { hint: 'restore the applied file from version control and put the change in a new migration (`dataplane migrate create NAME`)' },
      );
    }
    const missing = status.filter((s) => s.state === 'missing');
    if (missing.length) {
      throw new MigrationError('MIGRATION_MISSING', `applied migration ${missing.map((m) => m.file).join(', ')} is missing from the migrations folder`, {
        hint: 'restore the file; applied migrations must stay',
      });
    }
    const lastApplied = Math.max(0, ...status.filter((s) => s.state === 'applied').map((s) => s.version));
    const pending = migrations.filter((m) => status.find((s) => s.version === m.version)?.state === 'pending');
    const early = pending.filter((m) => m.version < lastApplied);
    if (early.length) {
      throw new MigrationError('MIGRATION_OUT_OF_ORDER', `${early.map((m) => m.file).join(', ')} sorts before ${String(lastApplied).padStart(4, '0')}, which is already applied`, {
        hint: 'renumber it after the latest applied migration',
      });
    }
    const result: MigrateResult = { applied: [], upToDate: status.length - pending.length };
    for (const m of pending) {
      progress(`applying ${m.file}`);
      const t0 = performance.now();
      await db.query('begin');
      try {
        // The record first: a runner that got past the lock would collide here, loudly.
        await db.query('insert into dataplane.schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum]);
        await db.query(m.sql);
        const ms = Math.round(performance.now() - t0);
        await db.query('update dataplane.schema_migrations set execution_ms = $1 where version = $2', [ms, m.version]);
        await db.query('commit');
        result.applied.push({ file: m.file, ms });
      } catch (e) {
        await db.query('rollback').catch(() => {});
        const err = e as Error & { position?: string; code?: string };
        const line = lineOf(m.sql, err.position ? Number(err.position) : undefined);
        throw new MigrationError('MIGRATION_FAILED', `${m.file}${line ? ` line ${line}` : ''}: ${err.message}`, {
          hint: `nothing of ${m.file} was applied; fix it and run \`dataplane migrate\` again`,
          cause: e,
        });
      }
    }
    return result;
  } finally {
    await db.query(`select pg_advisory_unlock(${LOCK_KEY})`).catch(() => {});
  }
}

export function createMigration(dir: string, name: string): string {
  const slug = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!slug) throw new MigrationError('MIGRATION_NAME', `"${name}" gives an empty file name`, { hint: 'use letters and digits, e.g. add_invoices' });
  mkdirSync(dir, { recursive: true });
  const next = Math.max(0, ...loadMigrations(dir).map((m) => m.version)) + 1;
  const file = path.join(dir, `${String(next).padStart(4, '0')}_${slug}.sql`);
  writeFileSync(
    file,
    `-- ${slug.replace(/_/g, ' ')}\n--\n-- Runs in one transaction with the other statements of this file; no BEGIN/COMMIT\n-- here. Once applied, never edit this file: add another migration instead.\n\n`,
    { flag: 'wx' },
  );
  return file;
}
