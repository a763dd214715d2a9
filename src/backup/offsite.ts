/**
 * The off-host copy: the backup area and the WAL archive, copied with rsync to a
 * mounted path or, over SSH, to user@host:/path (backup.offsite). With encryption on,
 * each archived WAL segment is first sealed into the backup area (`wal/<name>.age`),
 * so everything that leaves the host, and the backup area itself, is encrypted;
 * without it the archive is copied as it is to `<destination>/wal/`.
 *
 * rsync rather than code of our own: it resumes, copies only what changed, and speaks
 * to a mounted path and an SSH host alike. The copy never mirrors deletions: it
 * removes exactly what retention pruned locally (catalog.ts notes it), so a backup
 * deleted or lost on this host by any other means stays in the copy.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { StatePaths } from '../config/paths.js';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { encryptFile } from '../lib/age.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run } from '../lib/process.js';
import { listBackups, MANIFEST, PRUNED_NOTE, readAreaState, writeAreaState } from './catalog.js';
import { BackupError } from './errors.js';

/** Sealed WAL in the backup area (and in the copy, with encryption on). */
export const SEALED_WAL = 'wal';
const STATE = '.offsite-state.json';

export interface OffsiteState {
  destination: string;
  lastAttemptAt: string;
  /** when the last successful copy started: everything written before it is in the copy */
  lastSuccessAt: string | null;
  lastError: string | null;
}

const isSsh = (dest: string) => !dest.startsWith('/');

/** The rsync address of a folder inside the destination. */
function remote(config: Config, sub = ''): string {
  const d = config.backup.offsite.destination.replace(/\/+$/, '');
  return `${d}/${sub}`;
}

/** rsync's arguments to reach the destination: strict host keys, no prompts, a key file, a timeout. */
function transport(config: Config): string[] {
  const o = config.backup.offsite;
  if (!isSsh(o.destination)) return [];
  const ssh = requireBinary(REQUIREMENTS.ssh);
  // File paths only, never a secret: the key stays in its 0600 file.
  const opts = ['-i', o.sshIdentityFile, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${o.sshKnownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
  return ['-e', [ssh, ...opts].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')];
}

async function rsync(config: Config, args: string[]): Promise<void> {
  const bin = requireBinary(REQUIREMENTS.rsync);
  const r = await run(bin, ['-a', '--mkpath', '--timeout=60', ...transport(config), ...args]);
  // 24: a file vanished while copying (retention, a finished backup renamed): the next copy takes what is there then.
  if (r.code !== 0 && r.code !== 24) {
    // ssh's own words (a refused host key, a refused login) come before rsync's summary: they say more.
    const lines = r.stderr.trim().split('\n').filter(Boolean);
    const said = lines.filter((l) => !l.startsWith('rsync')).slice(-2);
    throw new BackupError(`rsync to ${config.backup.offsite.destination} failed (exit ${r.code}): ${(said.length ? said : lines.slice(-2)).join(' ')}`, {
      hint: isSsh(config.backup.offsite.destination) ? 'check the host, backup.offsite.sshIdentityFile and sshKnownHostsFile (`ssh -i KEY user@host` by hand)' : 'is the destination mounted and writable?',
    });
  }
}

export function readOffsiteState(paths: StatePaths): OffsiteState | null {
  return readAreaState<OffsiteState>(paths, STATE);
}

/** WAL segments and timeline history files PostgreSQL has archived (not partial copies). */
function archivedFiles(paths: StatePaths): string[] {
  if (!existsSync(paths.pg.walArchive)) return [];
  return readdirSync(paths.pg.walArchive).filter((n) => /^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/.test(n));
}

/** Seal archived WAL not sealed yet into the backup area; returns how many. */
async function sealWal(config: Config, paths: StatePaths): Promise<number> {
  const dir = path.join(paths.backups, SEALED_WAL);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const have = new Set(readdirSync(dir));
  let n = 0;
  for (const name of archivedFiles(paths)) {
    if (have.has(`${name}.age`)) continue;
    const tmp = path.join(dir, `.${name}.age.tmp`);
    await encryptFile(path.join(paths.pg.walArchive, name), tmp, config.backup.encryption.recipients);
    renameSync(tmp, path.join(dir, `${name}.age`));
    n++;
  }
  return n;
}

/** Bring the copy up to date: seal new WAL (with encryption), then rsync the backup area and the archive. */
export async function shipBackups(config: Config): Promise<{ walSealed: number; ms: number }> {
  const dest = config.backup.offsite.destination;
  if (!dest) throw new BackupError('no off-host destination: set backup.offsite.destination');
  const paths = statePaths(config);
  const t0 = Date.now();
  const state: OffsiteState = { destination: dest, lastAttemptAt: new Date(t0).toISOString(), lastSuccessAt: readOffsiteState(paths)?.lastSuccessAt ?? null, lastError: null };
  try {
    mkdirSync(paths.backups, { recursive: true, mode: 0o700 });
    const sealed = config.backup.encryption.recipients.length > 0;
    const walSealed = sealed ? await sealWal(config, paths) : 0;
    await rsync(config, ['--exclude=*.partial', '--exclude=.drill-*', '--exclude=.offsite*', '--exclude=.*.tmp', `${paths.backups}/`, remote(config)]);
    if (!sealed && existsSync(paths.pg.walArchive)) await rsync(config, [`${paths.pg.walArchive}/`, remote(config, SEALED_WAL + '/')]);
    await removePruned(config, paths, sealed);
    state.lastSuccessAt = state.lastAttemptAt;
    writeAreaState(paths, STATE, state);
    return { walSealed, ms: Date.now() - t0 };
  } catch (e) {
    state.lastError = (e as Error).message;
    writeAreaState(paths, STATE, state);
    throw e;
  }
}

/**
 * Remove from the copy what retention pruned here: an rsync of an empty folder with
 * --delete, limited by filters to exactly those names (the same for a path and SSH).
 */
async function removePruned(config: Config, paths: StatePaths, sealed: boolean): Promise<void> {
  const note = path.join(paths.backups, PRUNED_NOTE);
  if (!existsSync(note)) return;
  const { labels, wal } = JSON.parse(readFileSync(note, 'utf8')) as { labels: string[]; wal: string[] };
  const empty = mkdtempSync(path.join(paths.backups, '.offsite-empty-'));
  try {
    const filters = [...labels.map((l) => `--include=/${l}/***`), ...wal.map((w) => `--include=/${SEALED_WAL}/${w}${sealed ? '.age' : ''}`), `--include=/${SEALED_WAL}/`, '--exclude=*'];
    await rsync(config, ['-r', '--delete', ...filters, `${empty}/`, remote(config)]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  rmSync(note, { force: true });
}

/**
 * How far behind the copy is: the age of the oldest backup or WAL segment written
 * locally since the last successful copy started; 0 when everything is copied.
 */
export function offsiteLagSeconds(paths: StatePaths, now = Date.now()): number {
  const since = Date.parse(readOffsiteState(paths)?.lastSuccessAt ?? '1970-01-01T00:00:00Z');
  const times = [
    // ctime: when the finished backup was renamed into place, which is when a copy can first see it.
    ...listBackups(paths).map((b) => statSync(b.dir).ctimeMs),
    ...archivedFiles(paths).map((n) => statSync(path.join(paths.pg.walArchive, n)).mtimeMs),
  ].filter((t) => t >= since);
  return times.length ? Math.max(0, (now - Math.min(...times)) / 1000) : 0;
}

/** Fetch one backup and the WAL from the copy into `into` (`<into>/<label>`, `<into>/wal`), for a drill. */
export async function fetchFromCopy(config: Config, label: string, into: string): Promise<void> {
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true, mode: 0o700 });
  await rsync(config, [`--include=/${label}/***`, `--include=/${SEALED_WAL}/***`, '--exclude=*', remote(config), `${into}/`]);
  if (!existsSync(path.join(into, label, MANIFEST))) {
    throw new BackupError(`the off-host copy at ${config.backup.offsite.destination} has no backup ${label}`, { hint: 'is the copy behind? `dataplane backup list` shows its lag' });
  }
}
