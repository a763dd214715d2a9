/**
 * Point-in-time recovery: lay a base backup into a data directory, point
 * restore_command at the WAL archive, run PostgreSQL until it reaches the target
 * (a time, the end of the archive, or just consistency) and promotes, then stop it
 * cleanly. The directory is then an ordinary, ready cluster.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { StatePaths } from '../config/paths.js';
import { RestoreError } from './errors.js';
import type { Access } from '../connect/access.js';
import { pgClient, pgEndpoint } from '../connect/postgres.js';
import { freePorts } from '../lib/ports.js';
import { recordFor, serverEnv, terminate } from '../lib/process.js';
import { chownToServiceUser, ensureTraversable, type ServiceUser } from '../lib/service-user.js';
import type { BackupManifest } from './catalog.js';
import { eachLimited, extractCompressed, type Sealing } from './files.js';
import { sealedName } from './sealing.js';

export type RecoveryTarget = { time: Date } | { latest: true } | { immediate: true };

export { RestoreError } from './errors.js';

/** Files of the backup into `target` (which must be empty), every byte checked against the manifest. */
export async function layDown(backupDir: string, manifest: BackupManifest, target: string, user: ServiceUser, progress: (m: string) => void, seal?: Sealing): Promise<void> {
  const pgb = manifest.postgres;
  if (!pgb) throw new RestoreError(`backup ${manifest.label} has no PostgreSQL part`);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  chmodSync(target, 0o700);
  // PostgreSQL runs as the service user: it must reach the folder (search permission only).
  ensureTraversable(path.dirname(target), user);
  for (const d of pgb.directories) mkdirSync(path.join(target, d), { recursive: true, mode: 0o700 });
  let done = 0;
  await eachLimited(pgb.files, 4, async (f) => {
    const stored = sealedName(manifest, `${f.path}.gz`);
    let got;
    try {
      got = await extractCompressed(path.join(backupDir, 'postgres', stored), path.join(target, f.path), 0o600, seal);
    } catch (e) {
      throw new RestoreError(`postgres/${stored} is damaged (${(e as Error).message}): restore another backup`);
    }
    if (got.sha256 !== f.sha256 || got.size !== f.size) throw new RestoreError(`postgres/${stored} does not match the manifest (checksum): the backup is damaged`);
    if (++done % 500 === 0) progress(`restored ${done}/${pgb.files.length} files`);
  });
  writeFileSync(path.join(target, 'backup_label'), pgb.labelFile, { mode: 0o600 });
  if (pgb.tablespaceMap) writeFileSync(path.join(target, 'tablespace_map'), pgb.tablespaceMap, { mode: 0o600 });
  chownTree(target, user);
}

function chownTree(root: string, user: ServiceUser): void {
  if (!user.dropsPrivileges) return;
  const visit = (p: string) => {
    chownToServiceUser([p], user);
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) visit(path.join(p, e.name));
      else chownToServiceUser([path.join(p, e.name)], user);
    }
  };
  visit(root);
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

function recoverySettings(paths: StatePaths, target: RecoveryTarget): string[] {
  // %p and %f are PostgreSQL's placeholders; the archive path is ours, quoted for the shell.
  const restore = `cp "${paths.pg.walArchive}/%f" "%p"`;
  const lines = [`restore_command = ${q(restore)}`, "recovery_target_action = 'promote'", 'recovery_target_timeline = ' + q('latest')];
  // PostgreSQL's timestamptz input: "2026-11-27 10:15:00.123+00" (it rejects the ISO "T...Z" form here).
  if ('time' in target) lines.push(`recovery_target_time = ${q(target.time.toISOString().replace('T', ' ').replace('Z', '+00'))}`, 'recovery_target_inclusive = true');
  if ('immediate' in target) lines.push("recovery_target = 'immediate'");
  return lines;
}

export interface RecoveryOptions {
  access: Access;
  paths: StatePaths;
  /** the postgres binary */
  server: string;
  user: ServiceUser;
  dataDir: string;
  target: RecoveryTarget;
  /** archive WAL of the new timeline (true when recovering the stack's own cluster) */
  archive: boolean;
  progress: (m: string) => void;
  timeoutMs?: number;
  /** Runs once recovery has finished, while the server still runs (sanity queries of a drill). */
  onReady?: (connect: (database: string) => Promise<pg.Client>) => Promise<void>;
}

export interface RecoveryResult {
  /** last transaction replayed, as PostgreSQL reports it */
  recoveredTo: string | null;
  timeline: number;
}

/**
 * Run PostgreSQL on `dataDir` in recovery until it promotes, then stop it. While
 * recovering it listens on a free loopback port only and, with hot standby off,
 * accepts no connection until recovery has finished.
 */
export async function recover(opts: RecoveryOptions): Promise<RecoveryResult> {
  const { access, dataDir, user } = opts;
  const auto = path.join(dataDir, 'postgresql.auto.conf');
  const original = existsSync(auto) ? readFileSync(auto, 'utf8') : '';
  writeFileSync(auto, `${original}\n# dataplane restore (removed when recovery ends)\n${recoverySettings(opts.paths, opts.target).join('\n')}\n`, { mode: 0o600 });
  writeFileSync(path.join(dataDir, 'recovery.signal'), '', { mode: 0o600 });
  chownToServiceUser([auto, path.join(dataDir, 'recovery.signal')], user);
  const port = (await freePorts(1))[0]!;
  const logFile = path.join(path.dirname(dataDir), `recovery-${path.basename(dataDir)}.log`);
  const args = [
    '-D', dataDir,
    '-c', `port=${port}`,
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'hot_standby=off',
    '-c', `archive_mode=${opts.archive ? 'on' : 'off'}`,
    // A scratch restore next to the running stack must not take its memory.
    ...(opts.archive ? [] : ['-c', 'shared_buffers=64MB']),
  ];
  const log: string[] = [];
  const child = spawn(opts.server, args, {
    cwd: path.dirname(dataDir),
    env: serverEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user.dropsPrivileges ? { uid: user.uid, gid: user.gid } : {}),
  });
  const collect = (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 400) log.splice(0, 100);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const rec = recordFor(child.pid!, opts.server);
  const opened: pg.Client[] = [];
  // The server certificate names 127.0.0.1, so TLS verification holds on the scratch port too.
  const clientOn = (p: number, database: string) =>
    pgClient(pgEndpoint(access, access.config.postgres.superuser, { host: '127.0.0.1', port: p, database }), { timeoutMs: 2000, client: 'dataplane-recovery' });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let running = true;
  void exited.then(() => (running = false));
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
    let last = '';
    opts.progress(`replaying WAL from ${opts.paths.pg.walArchive}`);
    for (;;) {
      if (!running) throw new RestoreError(`PostgreSQL stopped during recovery:\n${log.join('').trim().split('\n').slice(-12).join('\n')}`);
      if (Date.now() > deadline) throw new RestoreError(`recovery did not finish in time; last: ${last}`);
      const client = clientOn(port, 'postgres');
      try {
        await client.connect();
        const r = await client.query<{ rec: boolean; at: Date | null }>('select pg_is_in_recovery() as rec, pg_last_xact_replay_timestamp() as at');
        const row = r.rows[0]!;
        if (!row.rec) {
          // The timeline of the WAL being written now: the new one after a promotion.
          const tl = (await client.query<{ tl: string }>('select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tl')).rows[0]!.tl;
          if (opts.onReady) {
            await opts.onReady(async (database) => {
              const c = clientOn(port, database);
              opened.push(c);
              await c.connect();
              return c;
            });
          }
          return { recoveredTo: row.at?.toISOString() ?? replayedTo(log.join('')), timeline: parseInt(tl, 16) };
        }
        last = 'still in recovery';
      } catch (e) {
        last = (e as Error).message;
      } finally {
        await client.end().catch(() => {});
      }
      await sleep(200);
    }
  } finally {
    for (const c of opened) await c.end().catch(() => {});
    if (running) await terminate(rec, 'SIGINT', 60_000);
    await exited;
    // Recovery settings out again, so later starts are ordinary starts.
    if (existsSync(auto)) {
      writeFileSync(auto, original, { mode: 0o600 });
      chownToServiceUser([auto], user);
    }
    rmSync(path.join(dataDir, 'recovery.signal'), { force: true });
    writeFileSync(logFile, log.join(''), { mode: 0o600 });
  }
}

/** "last completed transaction was at log time ..." from the server log, when there was one. */
function replayedTo(log: string): string | null {
  const m = /last completed transaction was at log time ([0-9-]+ [0-9:.]+\+00)/.exec(log);
  return m ? new Date(m[1]!.replace(' ', 'T').replace('+00', 'Z')).toISOString() : null;
}

/** Move a data directory aside instead of deleting it: a restore loses nothing. */
export function moveAside(dir: string): string | undefined {
  if (!existsSync(dir) || !readdirSync(dir).length) return undefined;
  const aside = `${dir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(dir, aside);
  return aside;
}
