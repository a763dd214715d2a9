/**
 * The backup area: one folder per backup (`<stateDir>/backups/<label>/` with a
 * manifest.json written last), the WAL archive next to the data directory, and
 * what can be restored to which times.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { statePaths, type StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { BackupError } from './errors.js';
import type { StoredFile } from './files.js';
import type { StreamSnapshot } from './jetstream.js';

export interface PostgresBackup {
  /** PostgreSQL version that wrote it */
  version: string;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  /** first WAL segment a restore needs (from the backup label) */
  startWalFile: string;
  /** the backup is consistent from this time on */
  consistentAt: string;
  labelFile: string;
  tablespaceMap: string;
  /** directories to recreate empty (their contents are never backed up: pg_wal, pg_replslot, ...) */
  directories: string[];
  files: StoredFile[];
}

export interface RedisBackup {
  file: StoredFile;
  /** time of the snapshot (LASTSAVE) */
  savedAt: string;
  keys: number;
}

export interface BackupManifest {
  format: 1;
  label: string;
  startedAt: string;
  finishedAt: string;
  postgres?: PostgresBackup;
  redis?: RedisBackup;
  /** JetStream stream snapshots (messages and consumers) */
  nats?: { streams: StreamSnapshot[] };
  /** Encrypted at rest: every stored file is `<name>.age`, for these age recipients. */
  encryption?: { format: 'age'; recipients: string[] };
}

export const MANIFEST = 'manifest.json';
const PARTIAL = '.partial';

export function backupDir(paths: StatePaths, label: string): string {
  return path.join(paths.backups, label);
}

/** A backup being written lives under `<label>.partial` until its manifest is complete. */
export function partialDir(paths: StatePaths, label: string): string {
  return path.join(paths.backups, label + PARTIAL);
}

export function commitBackup(paths: StatePaths, manifest: BackupManifest): string {
  const tmp = partialDir(paths, manifest.label);
  writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  const final = backupDir(paths, manifest.label);
  renameSync(tmp, final);
  return final;
}

export function readManifest(dir: string): BackupManifest {
  return JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as BackupManifest;
}

/** Complete backups, oldest first. */
export function listBackups(paths: StatePaths): { dir: string; manifest: BackupManifest }[] {
  if (!existsSync(paths.backups)) return [];
  return readdirSync(paths.backups)
    .filter((n) => !n.endsWith(PARTIAL) && existsSync(path.join(paths.backups, n, MANIFEST)))
    .map((n) => ({ dir: path.join(paths.backups, n), manifest: readManifest(path.join(paths.backups, n)) }))
    .sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
}

/** Folders of backups that never finished (a crash or a failure mid-way). */
export function partialBackups(paths: StatePaths): string[] {
  if (!existsSync(paths.backups)) return [];
  return readdirSync(paths.backups)
    .filter((n) => n.endsWith(PARTIAL))
    .map((n) => path.join(paths.backups, n));
}

const WAL_SEGMENT = /^[0-9A-F]{24}$/;

/** Archived WAL segments, in order, with the time each was archived. */
export function archivedWal(paths: StatePaths): { name: string; archivedAt: Date }[] {
  if (!existsSync(paths.pg.walArchive)) return [];
  return readdirSync(paths.pg.walArchive)
    .filter((n) => WAL_SEGMENT.test(n))
    .sort()
    .map((name) => ({ name, archivedAt: statSync(path.join(paths.pg.walArchive, name)).mtime }));
}

export interface Restorable {
  label: string;
  /** earliest time this backup restores to */
  from: string;
  /** latest time reachable with the archived WAL (the newest archived segment) */
  to: string;
  walSegments: number;
  postgres: boolean;
  redis: boolean;
  streams: number;
  bytes: number;
}

/** What each backup can be restored to: from its consistent point to the newest archived WAL. */
export function restorable(paths: StatePaths): Restorable[] {
  const wal = archivedWal(paths);
  const newest = wal.at(-1)?.archivedAt;
  return listBackups(paths).map(({ manifest: m }) => {
    const pg = m.postgres;
    const needed = pg ? wal.filter((w) => w.name.slice(8) >= pg.startWalFile.slice(8)) : [];
    const bytes = [...(pg?.files ?? []), ...(m.redis ? [m.redis.file] : []), ...(m.nats?.streams ?? []).map((x) => x.file)].reduce((s, f) => s + f.size, 0);
    const from = pg?.consistentAt ?? m.finishedAt;
    return {
      label: m.label,
      from,
      to: newest && pg && newest.toISOString() > from ? newest.toISOString() : from,
      walSegments: needed.length,
      postgres: Boolean(pg),
      redis: Boolean(m.redis),
      streams: m.nats?.streams.length ?? 0,
      bytes,
    };
  });
}

export interface PruneResult {
  removedBackups: string[];
  removedWal: string[];
  kept: string[];
}

/**
 * Keep the newest `keep` backups and exactly the WAL they need: every segment from
 * the oldest kept backup's first segment on (like pg_archivecleanup). Timeline
 * history files are always kept. Unfinished backups are removed.
 */
export function prune(paths: StatePaths, keep: number, opts: { dryRun?: boolean } = {}): PruneResult {
  const all = listBackups(paths);
  const kept = all.slice(-keep);
  const removed = all.slice(0, Math.max(0, all.length - keep));
  const oldestNeeded = kept.map((b) => b.manifest.postgres?.startWalFile).find(Boolean);
  const removedWal: string[] = [];
  if (oldestNeeded) {
    for (const w of archivedWal(paths)) {
      // Compare like pg_archivecleanup: whole names, so older timelines' segments go too.
      if (w.name < oldestNeeded) removedWal.push(w.name);
    }
    if (existsSync(paths.pg.walArchive)) {
      // .backup history files of removed backups, e.g. 000000010000000000000002.00000028.backup
      for (const n of readdirSync(paths.pg.walArchive)) {
        if (n.endsWith('.backup') && n.slice(0, 24) < oldestNeeded) removedWal.push(n);
      }
    }
  }
  if (!opts.dryRun) {
    notePruned(paths, removed.map((b) => b.manifest.label), removedWal);
    for (const b of removed) rmSync(b.dir, { recursive: true, force: true });
    for (const p of partialBackups(paths)) rmSync(p, { recursive: true, force: true });
    for (const n of removedWal) {
      rmSync(path.join(paths.pg.walArchive, n), { force: true });
      // Its sealed copy for the off-host copy (offsite.ts), if encryption made one.
      rmSync(path.join(paths.backups, 'wal', `${n}.age`), { force: true });
    }
  }
  return { removedBackups: removed.map((b) => b.manifest.label), removedWal, kept: kept.map((b) => b.manifest.label) };
}

export function findBackup(config: Config, label: string): { dir: string; manifest: BackupManifest } {
  const dir = backupDir(statePaths(config), label);
  if (!existsSync(path.join(dir, 'manifest.json'))) {
    const known = listBackups(statePaths(config)).map((b) => b.manifest.label);
    throw new BackupError(`no backup labelled ${label}`, { hint: known.length ? `backups: ${known.join(', ')}` : 'none yet: `dataplane backup create`' });
  }
  return { dir, manifest: readManifest(dir) };
}

/**
 * What retention removed, for the off-host copy to remove too (offsite.ts). The copy
 * never mirrors a deletion it did not hear of here: a backup lost or deleted locally
 * by other means stays in the copy.
 */
export const PRUNED_NOTE = '.offsite-pruned.json';

export function notePruned(paths: StatePaths, labels: string[], wal: string[]): void {
  if (!labels.length && !wal.length) return;
  const file = path.join(paths.backups, PRUNED_NOTE);
  const before = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { labels: string[]; wal: string[] }) : { labels: [], wal: [] };
  writeFileSync(file, JSON.stringify({ labels: [...new Set([...before.labels, ...labels])], wal: [...new Set([...before.wal, ...wal])] }) + '\n', { mode: 0o600 });
}

/** A small JSON state file of the backup area (the copy's, the drills'): null before the first. */
export function readAreaState<T>(paths: StatePaths, name: string): T | null {
  const f = path.join(paths.backups, name);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : null;
}

/** Replace a state file of the backup area at once (0600): a reader never sees half of it. */
export function writeAreaState(paths: StatePaths, name: string, value: unknown): void {
  mkdirSync(paths.backups, { recursive: true, mode: 0o700 });
  const f = path.join(paths.backups, name);
  writeFileSync(`${f}.tmp`, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${f}.tmp`, f);
}
