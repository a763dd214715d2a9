/**
 * Verification of a backup: every stored file against its checksum (decrypted with
 * the identity when the backup is encrypted), the WAL it needs in the archive, and,
 * with a drill, a real restore into a scratch folder with sanity queries.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { statePaths, type StatePaths } from '../config/paths.js';
import type { Access } from '../connect/access.js';
import { drivers } from '../servers/index.js';
import { decryptFile } from '../lib/age.js';
import { chownToServiceUser, ensureTraversable, resolveServiceUser } from '../lib/service-user.js';
import { archivedWal, findBackup, readManifest, type BackupManifest } from './catalog.js';
import { fetchFromCopy, SEALED_WAL } from './offsite.js';
import { checkCompressed, checkRaw, eachLimited } from './files.js';
import { RestoreError } from './errors.js';
import { layDown, recover } from './recovery.js';
import { sealedName, sealingForRead } from './sealing.js';

/** WAL segment name of an LSN on a timeline (16 MB segments, PostgreSQL's default). */
export function walFileName(timeline: number, lsn: string): string {
  const [hi, lo] = lsn.split('/').map((x) => parseInt(x, 16)) as [number, number];
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(hi) + hex(Math.floor(lo / 0x1000000));
}

export interface VerifyResult {
  label: string;
  ok: boolean;
  filesChecked: number;
  problems: string[];
  drill?: { recoveredTo: string | null; timeline: number; databases: string[]; tables: number; ms: number };
  /** where the backup was read: the backup area, or the off-host copy (fetched for this check) */
  source: 'local' | 'copy';
}

export interface VerifyOptions {
  drill?: boolean;
  /** Verify (and drill) the off-host copy instead of the backup area. */
  fromCopy?: boolean;
  onProgress?: (m: string) => void;
}

/** Where the backup and the WAL are read from: the backup area, or a fresh fetch of the copy. */
async function sourceOf(access: Access, label: string, opts: VerifyOptions): Promise<{ dir: string; manifest: BackupManifest; paths: StatePaths; cleanup: () => void }> {
  const { config } = access;
  const paths = statePaths(config);
  if (!opts.fromCopy) return { ...findBackup(config, label), paths, cleanup: () => {} };
  const scratch = path.join(paths.backups, '.offsite-drill');
  opts.onProgress?.(`fetching ${label} and the WAL from ${config.backup.offsite.destination}`);
  await fetchFromCopy(config, label, scratch);
  const dir = path.join(scratch, label);
  const manifest = readManifest(dir);
  // The copy's WAL, decrypted when sealed, where the drill's PostgreSQL (the service user) reads it.
  const wal = path.join(scratch, SEALED_WAL);
  const plain = manifest.encryption ? path.join(scratch, 'wal-plain') : wal;
  if (manifest.encryption && existsSync(wal)) {
    const seal = sealingForRead(config, manifest)!;
    mkdirSync(plain, { recursive: true, mode: 0o700 });
    const first = manifest.postgres?.startWalFile ?? '';
    for (const n of readdirSync(wal).filter((x) => x.endsWith('.age'))) {
      const name = n.slice(0, -4);
      // Segments from the backup's first one on, and every timeline history file.
      if (name.endsWith('.history') || name.slice(8, 24) >= first.slice(8)) await decryptFile(path.join(wal, n), path.join(plain, name), seal.identities!);
    }
  }
  const user = await resolveServiceUser(config.runAs);
  if (existsSync(plain)) {
    ensureTraversable(plain, user);
    chownToServiceUser([plain, ...readdirSync(plain).map((n) => path.join(plain, n))], user);
  }
  return { dir, manifest, paths: { ...paths, pg: { ...paths.pg, walArchive: plain } }, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}

/** Every stored file against its checksum, and the WAL the backup needs in the archive; with a drill, a real restore. */
export async function verifyBackup(access: Access, label: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const src = await sourceOf(access, label, opts);
  try {
    return await verifyFrom(access, src, opts);
  } finally {
    src.cleanup();
  }
}

async function verifyFrom(access: Access, src: { dir: string; manifest: BackupManifest; paths: StatePaths }, opts: VerifyOptions): Promise<VerifyResult> {
  const { config } = access;
  const { dir, manifest, paths } = src;
  const label = manifest.label;
  const problems: string[] = [];
  const seal = sealingForRead(config, manifest);
  const name = (n: string) => sealedName(manifest, n);
  const files = [
    ...(manifest.postgres?.files ?? []).map((f) => ({ stored: path.join('postgres', name(`${f.path}.gz`)), f, raw: false })),
    ...(manifest.redis ? [{ stored: path.join('redis', name(`${manifest.redis.file.path}.gz`)), f: manifest.redis.file, raw: false }] : []),
    ...(manifest.nats?.streams ?? []).map((x) => ({ stored: path.join('nats', name(x.file.path)), f: x.file, raw: true })),
  ];
  await eachLimited(files, 4, async ({ stored, f, raw }) => {
    try {
      const got = await (raw ? checkRaw : checkCompressed)(path.join(dir, stored), seal);
      if (got.sha256 !== f.sha256 || got.size !== f.size) problems.push(`${stored}: checksum mismatch (stored ${got.size} bytes, sha256 ${got.sha256.slice(0, 12)}…; manifest ${f.size} bytes, ${f.sha256.slice(0, 12)}…)`);
    } catch (e) {
      problems.push(`${stored}: unreadable (${(e as Error).message})`);
    }
  });
  const pgb = manifest.postgres;
  if (pgb) {
    const have = new Set(archivedWal(paths).map((w) => w.name));
    const first = pgb.startWalFile;
    const last = walFileName(pgb.timeline, pgb.stopLsn);
    for (let seg = BigInt(`0x${first.slice(8)}`); seg <= BigInt(`0x${last.slice(8)}`); seg++) {
      const name = first.slice(0, 8) + seg.toString(16).toUpperCase().padStart(16, '0');
      if (!have.has(name)) problems.push(`WAL segment ${name} (needed to make the backup consistent) is missing from ${paths.pg.walArchive}`);
    }
  }
  problems.sort();
  const result: VerifyResult = { label, ok: problems.length === 0, filesChecked: files.length, problems, source: opts.fromCopy ? 'copy' : 'local' };
  if (opts.drill && result.ok && pgb) {
    try {
      result.drill = await drill(access, dir, manifest, paths, opts.onProgress ?? (() => {}));
    } catch (e) {
      // A backup that does not come back is a failed verification, not a crash of the command.
      result.ok = false;
      result.problems.push(`drill: ${(e as Error).message}`);
    }
  }
  return result;
}

/** Restore into a scratch folder, start PostgreSQL on it, run sanity queries, remove it. */
async function drill(access: Access, dir: string, manifest: BackupManifest, paths: StatePaths, progress: (m: string) => void): Promise<NonNullable<VerifyResult['drill']>> {
  const { config } = access;
  const t0 = performance.now();
  const user = await resolveServiceUser(config.runAs);
  const binaries = await drivers.postgres.locate(config);
  // Inside the backup area: the service user can reach it, and it is on the backups' disk.
  const scratch = path.join(paths.backups, `.drill-${manifest.label}`);
  rmSync(scratch, { recursive: true, force: true });
  try {
    progress(`drill: restoring ${manifest.label} into ${scratch}`);
    await layDown(dir, manifest, path.join(scratch, 'data'), user, progress, sealingForRead(config, manifest));
    let sanity: { databases: string[]; tables: number } = { databases: [], tables: 0 };
    const r = await recover({
      access,
      paths,
      server: binaries.server,
      user,
      dataDir: path.join(scratch, 'data'),
      target: { immediate: true },
      archive: false,
      progress,
      onReady: async (connect) => {
        const admin = await connect('postgres');
        const dbs = (await admin.query<{ datname: string }>('select datname from pg_database where not datistemplate order by 1')).rows.map((x) => x.datname);
        if (!dbs.includes(config.postgres.database)) throw new RestoreError(`database ${config.postgres.database} is missing from the restored cluster`);
        const app = await connect(config.postgres.database);
        const tables = Number((await app.query<{ n: string }>("select count(*) as n from pg_class where relkind in ('r', 'p') and relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)")).rows[0]!.n);
        // Every table must be readable end to end.
        const names = (await app.query<{ t: string }>("select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'")).rows;
        for (const { t } of names) await app.query(`select count(*) from ${t}`);
        sanity = { databases: dbs, tables };
      },
    });
    progress(`drill: PostgreSQL recovered and answered (${sanity.tables} tables readable)`);
    return { ...r, ...sanity, ms: Math.round(performance.now() - t0) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

