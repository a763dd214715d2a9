/**
 * A new replica's data directory, copied from the primary over an ordinary SQL
 * connection: the low-level base backup API (pg_backup_start / pg_backup_stop) with
 * the files read by pg_read_binary_file. Patroni runs this as its replica creation
 * method (`dataplane postgres clone-replica`), then starts the copy as a standby that
 * streams from the primary. Written by hand because the PostgreSQL 16 binaries here
 * ship no pg_basebackup, and Debian's (15) refuses a 16 server.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pgClient, type PgEndpoint } from '../connect/postgres.js';
import { ServerStartError } from '../errors/index.js';

/**
 * Contents never copied (PostgreSQL's documentation on base backups): WAL comes
 * from the primary or the archive, the rest is recreated or meaningless elsewhere.
 */
export const SKIP_CONTENTS = new Set(['pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans']);
export const SKIP_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'backup_label.old', 'tablespace_map', 'recovery.signal', 'standby.signal']);

/** Read in pieces: a relation segment is up to 1 GB, a bytea answer must fit in memory. */
const CHUNK = 8 * 1024 * 1024;

export interface CloneResult {
  files: number;
  bytes: number;
  startLsn: string;
  stopLsn: string;
  ms: number;
}

/**
 * libpq's keyword=value connection string (what Patroni passes) as node-postgres
 * settings; node-postgres reads only URLs. The password stays out: node-postgres
 * takes it from PGPASSFILE, which Patroni writes for the command.
 */
export function parseConninfo(conninfo: string): PgEndpoint {
  const kv = new Map<string, string>();
  const re = /\s*([a-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/gy;
  let m: RegExpExecArray | null;
  let end = 0; // a failed sticky match resets lastIndex: keep where the last one ended
  while ((m = re.exec(conninfo))) {
    kv.set(m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    end = re.lastIndex;
  }
  const rest = conninfo.slice(end).trim();
  if (rest) throw new ServerStartError('postgres', `cannot read the connection string at "${rest}"`, '', '');
  const mode = kv.get('sslmode') ?? 'prefer';
  const ca = kv.get('sslrootcert');
  const ssl = mode === 'verify-full' || mode === 'verify-ca' ? { ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}), rejectUnauthorized: true, ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) } : mode === 'require' ? { rejectUnauthorized: false } : false;
  return {
    host: kv.get('host') ?? '127.0.0.1',
    port: Number(kv.get('port') ?? 5432),
    user: kv.get('user') ?? '',
    database: kv.get('dbname') ?? 'postgres',
    ssl,
  };
}

interface Entry {
  path: string;
  isdir: boolean;
  size: string;
}

/**
 * Copy the primary named by `connectionString` (libpq keywords or a URL, as Patroni
 * gives it; the password comes from PGPASSFILE) into `target`, which must not exist
 * or be empty.
 */
export async function cloneFromPrimary(connectionString: string, target: string, opts: { label?: string; onProgress?: (msg: string) => void } = {}): Promise<CloneResult> {
  const progress = opts.onProgress ?? (() => {});
  // The copy is made beside the data directory and put in place only once complete: a clone
  // killed half-way (the host lost power) leaves no data directory that PostgreSQL would try
  // to start from, and Patroni clones again.
  if (existsSync(target) && readdirSync(target).length) throw new ServerStartError('postgres', `${target} is not empty: a replica is cloned only into an empty data directory`, '', target);
  const dataDir = `${target}.cloning`;
  rmSync(dataDir, { recursive: true, force: true });
  const t0 = performance.now();
  const db = pgClient(parseConninfo(connectionString), { client: 'dataplane-clone', timeoutMs: 10_000 });
  await db.connect();
  try {
    const start = (await db.query<{ lsn: string }>('select pg_backup_start($1, true)::text as lsn', [opts.label ?? 'dataplane clone'])).rows[0]!.lsn;
    progress(`base backup started at WAL ${start}`);
    // Every directory and file under the data directory, the skipped folders' contents left out.
    const skip = [...SKIP_CONTENTS].map((d) => db.escapeLiteral(d)).join(', ');
    const { rows } = await db.query<Entry>(
      `with recursive t(path, isdir) as (
         select f, (pg_stat_file(f, true)).isdir from pg_ls_dir('.', true, false) f
         union all
         select t.path || '/' || c, (pg_stat_file(t.path || '/' || c, true)).isdir
           from t, lateral pg_ls_dir(t.path, true, false) c
          where t.isdir and t.path not in (${skip})
       )
       select path, coalesce(isdir, false) as isdir, coalesce((pg_stat_file(path, true)).size, 0)::text as size
         from t where isdir is not null`,
    );
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    let bytes = 0;
    let files = 0;
    for (const e of rows.filter((r) => r.isdir)) mkdirSync(path.join(dataDir, e.path), { recursive: true, mode: 0o700 });
    for (const e of rows.filter((r) => !r.isdir)) {
      const base = path.basename(e.path);
      if (SKIP_FILES.has(e.path) || base.startsWith('pgsql_tmp')) continue;
      const fd = openSync(path.join(dataDir, e.path), 'w', 0o600);
      try {
        for (let off = 0; ; off += CHUNK) {
          // missing_ok: a relation dropped during the copy; WAL replay drops it too.
          const r = await db.query<{ b: Buffer | null }>('select pg_read_binary_file($1, $2, $3, true) as b', [e.path, off, CHUNK]);
          const b = r.rows[0]!.b;
          if (!b || b.length === 0) break;
          writeSync(fd, b);
          bytes += b.length;
          if (b.length < CHUNK) break;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (++files % 500 === 0) progress(`copied ${files} files (${Math.round(bytes / 1048576)} MB)`);
    }
    // Waits until the WAL the copy needs is archived: a replica that falls behind its slot finds it there.
    const stop = (await db.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>('select lsn::text, labelfile, spcmapfile from pg_backup_stop(true)')).rows[0]!;
    writeFileSync(path.join(dataDir, 'backup_label'), stop.labelfile, { mode: 0o600 });
    if (stop.spcmapfile) writeFileSync(path.join(dataDir, 'tablespace_map'), stop.spcmapfile, { mode: 0o600 });
    rmSync(target, { recursive: true, force: true });
    renameSync(dataDir, target);
    const ms = Math.round(performance.now() - t0);
    progress(`cloned ${files} files (${Math.round(bytes / 1048576)} MB) in ${ms} ms, WAL ${start} to ${stop.lsn}`);
    return { files, bytes, startLsn: start, stopLsn: stop.lsn, ms };
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new ServerStartError('postgres', `cloning a replica from the primary failed: ${(e as Error).message}`, '', target, e);
  } finally {
    await db.end().catch(() => {});
  }
}
