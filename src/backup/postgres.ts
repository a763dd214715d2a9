/**
 * PostgreSQL base backups through the documented low-level API (pg_backup_start /
 * pg_backup_stop), since this PostgreSQL 16 ships without pg_basebackup and
 * Debian's pgBackRest 2.45 refuses 16. The copy is taken while the server runs;
 * the WAL archived between start and stop makes it consistent. The same files,
 * restored, can seed a streaming replica.
 */
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { BACKUP_LOGIN } from '../secrets/postgres-roles.js';
import { SKIP_CONTENTS, SKIP_FILES } from '../servers/postgres-clone.js';
import type { PostgresBackup } from './catalog.js';
import { BackupError } from './errors.js';
import { eachLimited, storeCompressed, type Sealing, type StoredFile } from './files.js';


function walk(root: string): { files: string[]; directories: string[] } {
  const files: string[] = [];
  const directories: string[] = [];
  const visit = (rel: string) => {
    let entries: string[];
    try {
      entries = readdirSync(path.join(root, rel));
    } catch {
      return; // dropped while we walk (a dropped database): WAL replay drops it too
    }
    for (const name of entries) {
      const r = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = lstatSync(path.join(root, r));
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        directories.push(r);
        if (!SKIP_CONTENTS.has(r) && !name.startsWith('pgsql_tmp')) visit(r);
      } else if (st.isFile() && !SKIP_FILES.has(r) && !name.startsWith('pgsql_tmp')) {
        files.push(r);
      }
    }
  };
  visit('');
  return { files, directories };
}

function labelField(label: string, field: string): string {
  const m = new RegExp(`^${field}: (.*)$`, 'm').exec(label);
  if (!m) throw new BackupError(`backup label has no "${field}" line`);
  return m[1]!;
}

export interface PostgresBackupOptions {
  label: string;
  /** where the files go (the backup's postgres/ folder) */
  dest: string;
  onProgress?: (msg: string) => void;
  /** Stops the copy between files (the stack is stopping); the server ends the backup with the session. */
  signal?: AbortSignal;
  /** ha: the port of the member whose files are copied; the session must have reached that member. */
  serverPort?: number;
  /** Encrypt each file to these recipients (`.gz.age`). */
  seal?: Sealing | undefined;
}

export async function backupPostgres(access: Access, dataDir: string, opts: PostgresBackupOptions): Promise<PostgresBackup> {
  const progress = opts.onProgress ?? (() => {});
  // One session from start to stop: a non-exclusive backup ends with the session.
  return withPg(access, { user: BACKUP_LOGIN, timeoutMs: 10_000 }, async (db) => {
    const { v: version, port } = (await db.query<{ v: string; port: number }>("select current_setting('server_version') as v, inet_server_port() as port")).rows[0]!;
    // A switchover between choosing the folder and connecting would copy a replica's files.
    if (opts.serverPort !== undefined && port !== opts.serverPort) throw new BackupError(`the primary moved while the backup started (it is on port ${port}, the files chosen are of port ${opts.serverPort}): run it again`);
    // fast: an immediate checkpoint instead of waiting for the next one.
    const start = (await db.query<{ lsn: string }>('select pg_backup_start($1, true) as lsn', [opts.label])).rows[0]!.lsn;
    progress(`backup started at WAL ${start}`);
    const { files, directories } = walk(dataDir);
    const stored: StoredFile[] = [];
    let bytes = 0;
    let done = 0;
    await eachLimited(files, 4, async (rel) => {
      opts.signal?.throwIfAborted();
      try {
        const r = await storeCompressed(path.join(dataDir, rel), path.join(opts.dest, `${rel}.gz${opts.seal ? '.age' : ''}`), opts.seal);
        stored.push({ path: rel, ...r });
        bytes += r.size;
      } catch (e) {
        // A relation file removed during the copy (a dropped table): WAL replay removes it too.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (++done % 500 === 0) progress(`copied ${done}/${files.length} files (${Math.round(bytes / 1048576)} MB)`);
    });
    // Waits until the last WAL segment the backup needs is archived.
    const stop = (await db.query<{ lsn: string; labelfile: string; spcmapfile: string }>('select lsn, labelfile, spcmapfile from pg_backup_stop(true)')).rows[0]!;
    const consistentAt = new Date().toISOString();
    progress(`backup finished at WAL ${stop.lsn}: ${stored.length} files, ${Math.round(bytes / 1048576)} MB`);
    const startWal = /\(file ([0-9A-F]{24})\)/.exec(labelField(stop.labelfile, 'START WAL LOCATION'))?.[1];
    if (!startWal) throw new BackupError('backup label names no start WAL file');
    return {
      version,
      startLsn: start,
      stopLsn: stop.lsn,
      timeline: Number(labelField(stop.labelfile, 'START TIMELINE')),
      startWalFile: startWal,
      consistentAt,
      labelFile: stop.labelfile,
      tablespaceMap: stop.spcmapfile ?? '',
      directories: directories.sort(),
      files: stored.sort((a, b) => a.path.localeCompare(b.path)),
    };
  });
}
