/**
 * Backups of the whole stack under one label, their verification (checksums, and a
 * full restore drill), retention, and point-in-time restore of PostgreSQL.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import { etcdNodes, postgresMembers, redisNodes, sentinelNodes } from '../config/topology.js';
import type { Config } from '../config/schema.js';
import { DataplaneError } from '../errors/index.js';
import type { Access } from '../connect/access.js';
import { drivers } from '../servers/index.js';
import { clusterCreatedMarker, leaderInstance } from '../servers/patroni.js';
import { isRecordAlive, readPidFile } from '../lib/process.js';
import { resolveServiceUser } from '../lib/service-user.js';
import { archivedWal, backupDir, commitBackup, findBackup, listBackups, partialDir, type BackupManifest } from './catalog.js';
import { backupStreams, scheduleStreamRestore } from './streams.js';
import { backupPostgres } from './postgres.js';
import { BackupError } from './errors.js';
import { layDown, moveAside, recover, type RecoveryOptions, type RecoveryResult } from './recovery.js';
import { backupRedis, restoreRedis } from './redis.js';
import { encryptionRecord, sealingForRead, sealingForWrite } from './sealing.js';

export { BackupError, RestoreError } from './errors.js';
export { verifyBackup, walFileName, type VerifyResult } from './verify.js';
export { findBackup } from './catalog.js';

const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$/;

export function defaultLabel(now = new Date()): string {
  return `dp-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

export interface CreateOptions {
  label?: string;
  onProgress?: (msg: string) => void;
  signal?: AbortSignal;
}

/** PostgreSQL (base backup; WAL is archived continuously) and a Redis snapshot, under one label. */
export async function createBackup(access: Access, opts: CreateOptions = {}): Promise<{ dir: string; manifest: BackupManifest }> {
  const { config } = access;
  const paths = statePaths(config);
  const progress = opts.onProgress ?? (() => {});
  const label = opts.label ?? defaultLabel();
  if (!LABEL.test(label)) throw new BackupError(`backup label "${label}" must be letters, digits, ".", "_" or "-" (at most 81)`);
  if (existsSync(backupDir(paths, label))) throw new BackupError(`a backup labelled ${label} exists already`, { hint: 'choose another --label' });
  if (!config.postgres.enabled && !config.redis.enabled && !config.nats.enabled) throw new BackupError('no server is enabled: nothing to back up');
  const tmp = partialDir(paths, label);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const startedAt = new Date().toISOString();
  try {
    const seal = sealingForWrite(config);
    const encryption = encryptionRecord(config);
    const manifest: BackupManifest = { format: 1, label, startedAt, finishedAt: '', ...(encryption ? { encryption } : {}) };
    if (config.postgres.enabled) {
      // ha: the files are the primary's (the backup session runs on it, through the primary address).
      const primary = config.topology === 'ha' ? await leaderInstance(access) : undefined;
      if (config.topology === 'ha' && !primary) throw new BackupError('PostgreSQL has no primary right now (a failover is under way?)', { hint: '`dataplane status`, then try again' });
      const member = primary ? postgresMembers(config).find((m) => m.instance === primary) : undefined;
      progress(`PostgreSQL: base backup${primary ? ` of the primary ${primary}` : ''}`);
      manifest.postgres = await backupPostgres(access, member ? paths.pgMember(member.instance).data : paths.pg.data, {
        ...(member ? { serverPort: member.port } : {}),
        label,
        dest: path.join(tmp, 'postgres'),
        onProgress: progress,
        seal,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    }
    if (config.redis.enabled) {
      progress('Redis: snapshot');
      manifest.redis = await backupRedis(access, path.join(tmp, 'redis'), seal);
    }
    if (config.nats.enabled) {
      progress('JetStream: stream snapshots');
      manifest.nats = await backupStreams(access, path.join(tmp, 'nats'), progress, seal);
    }
    manifest.finishedAt = new Date().toISOString();
    const dir = commitBackup(paths, manifest);
    progress(`backup ${label} written to ${dir}`);
    return { dir, manifest };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof DataplaneError) throw e;
    throw new BackupError(`backup failed: ${(e as Error).message}`, { cause: e });
  }
}


export interface RestoreOptions {
  label?: string;
  target: { time: Date } | { latest: true };
  /** another folder than the stack's data directory */
  targetDir?: string;
  /**
   * Stops the running stack (--force): restore calls it when the stack's own data
   * directory is in use. Without it, restore refuses to overwrite a running stack.
   */
  stopRunningStack?: () => Promise<unknown>;
  onProgress?: (m: string) => void;
  /** Runs against the recovered server before it is stopped (checks, tests). */
  onReady?: RecoveryOptions['onReady'];
}

export interface RestoreResult extends RecoveryResult {
  label: string;
  dataDir: string;
  /** what was in the way, kept under a new name */
  movedAside: string[];
  redis: { restored: boolean; keys?: number; savedAt?: string };
  /** JetStream streams that `up` restores before anything else touches JetStream */
  streams: string[];
}

/** Choose the backup: the one named, or the newest that is consistent before the target time. */
function chooseBackup(config: Config, opts: RestoreOptions): { dir: string; manifest: BackupManifest } {
  if (opts.label) return findBackup(config, opts.label);
  const all = listBackups(statePaths(config)).filter((b) => b.manifest.postgres);
  const fit = 'time' in opts.target ? all.filter((b) => b.manifest.postgres!.consistentAt <= (opts.target as { time: Date }).time.toISOString()) : all;
  const chosen = fit.at(-1);
  if (!chosen) {
    throw new BackupError(
      'time' in opts.target ? `no backup is consistent before ${opts.target.time.toISOString()}` : 'there is no backup to restore',
      { hint: all.length ? `the oldest restorable time is ${all[0]!.manifest.postgres!.consistentAt}` : '`dataplane backup create` makes one' },
    );
  }
  return chosen;
}

/**
 * Restore the stack from a backup: PostgreSQL to the target time (or the end of the
 * archived WAL), and, into the stack's own folders, Redis's snapshot of that backup.
 * With `targetDir`, only PostgreSQL is restored, into that folder.
 */
export async function restore(access: Access, opts: RestoreOptions): Promise<RestoreResult> {
  const { config } = access;
  const paths = statePaths(config);
  const progress = opts.onProgress ?? (() => {});
  const { dir, manifest } = chooseBackup(config, opts);
  // Before anything is stopped or moved: an encrypted backup without its key restores nothing.
  const seal = sealingForRead(config, manifest);
  const dataDir = path.resolve(opts.targetDir ?? paths.pg.data);
  const own = dataDir === path.resolve(paths.pg.data);
  const running = own ? stackRunning(config) : existsSync(path.join(dataDir, 'postmaster.pid'));
  if (running) {
    if (!opts.stopRunningStack || !own) {
      throw new BackupError(`${own ? 'the stack' : 'a PostgreSQL server'} is running on ${dataDir}: refusing to overwrite it`, {
        hint: own ? 'stop the stack (`dataplane down`), or pass --force to have restore stop it' : 'stop that server first',
      });
    }
    progress('stopping the stack (--force)');
    await opts.stopRunningStack();
  }
  if ('time' in opts.target) {
    // Recovery to a time the archive does not reach fails only after everything was laid down.
    const newest = archivedWal(paths).at(-1)?.archivedAt;
    if (!newest || newest < opts.target.time) {
      throw new BackupError(`the WAL archive reaches only ${newest?.toISOString() ?? 'the end of the backup'}: ${opts.target.time.toISOString()} is beyond it`, {
        hint: 'choose an earlier --to-time, or --to-latest for everything archived',
      });
    }
  }
  const user = await resolveServiceUser(config.runAs);
  const binaries = await drivers.postgres.locate(config);
  const movedAside: string[] = [];
  const aside = moveAside(dataDir);
  if (aside) {
    movedAside.push(aside);
    progress(`kept the previous data directory as ${aside}`);
  }
  progress(`restoring backup ${manifest.label} (consistent at ${manifest.postgres!.consistentAt})`);
  let r: RecoveryResult;
  try {
    await layDown(dir, manifest, dataDir, user, progress, seal);
    r = await recover({
      access,
      paths,
      server: binaries.server,
      user,
      dataDir,
      target: opts.target,
      archive: own,
      progress,
      ...(opts.onReady ? { onReady: opts.onReady } : {}),
    });
  } catch (e) {
    // Put things back as they were: a failed restore leaves the previous data in place.
    rmSync(dataDir, { recursive: true, force: true });
    if (aside) renameSync(aside, dataDir);
    throw new BackupError(`restore of ${manifest.label} failed: ${(e as Error).message}`, {
      hint: aside ? `the previous data directory is back in ${dataDir}` : 'nothing was changed',
      cause: e,
    });
  }
  progress(`PostgreSQL recovered${r.recoveredTo ? ` to ${r.recoveredTo}` : ''} on timeline ${r.timeline}`);
  if (own && config.topology === 'ha') movedAside.push(...resetPatroniCluster(config, progress));
  const redis: RestoreResult['redis'] = { restored: false };
  if (own && manifest.redis && config.redis.enabled) {
    const others = {
      replicaDirs: redisNodes(config).slice(1).map((n) => paths.redisNode(n.instance).dir),
      sentinelFiles: sentinelNodes(config).map((s) => paths.sentinel(s.instance).conf),
    };
    const rr = await restoreRedis(dir, manifest, paths, user, { server: (await drivers.redis.locate(config)).server, appendonly: config.redis.appendonly, others, seal });
    movedAside.push(...rr.movedAside);
    Object.assign(redis, { restored: true, keys: manifest.redis.keys, savedAt: manifest.redis.savedAt });
    progress(`Redis snapshot of ${manifest.redis.savedAt} (${manifest.redis.keys} keys) in place; \`dataplane up\` loads it`);
  }
  const streams: string[] = [];
  if (own && manifest.nats?.streams.length && config.nats.enabled) {
    const rs = scheduleStreamRestore(paths, dir, manifest);
    movedAside.push(...rs.movedAside);
    streams.push(...manifest.nats.streams.map((x) => x.name));
    progress(`JetStream: ${streams.length} stream(s) (${streams.join(', ')}) restored by the next \`dataplane up\``);
  }
  return { ...r, label: manifest.label, dataDir, movedAside, redis, streams };
}

/**
 * ha: the restored data is a new history of the cluster. The other members' data and
 * Patroni's state in etcd describe the old one, so both are moved aside and the next
 * `up` creates the cluster again from the first member (the restored one); the others
 * are cloned from it.
 */
function resetPatroniCluster(config: Config, progress: (m: string) => void): string[] {
  const paths = statePaths(config);
  const dirs = [...postgresMembers(config).slice(1).map((m) => paths.pgMember(m.instance).data), ...etcdNodes(config).map((e) => paths.etcd(e.instance).data)];
  const moved = dirs.map((d) => moveAside(d)).filter((d): d is string => Boolean(d));
  rmSync(clusterCreatedMarker(paths), { force: true });
  progress(`ha: the other members and etcd start over from the restored member (kept aside: ${moved.length} folder(s)); \`dataplane up\` clones the replicas`);
  return moved;
}

/** The supervisor, or any process of the stack (every node of every topology), is alive. */
function stackRunning(config: Config): boolean {
  const paths = statePaths(config);
  if (!existsSync(paths.run)) return false;
  return readdirSync(paths.run)
    .filter((f) => f.endsWith('.pid'))
    .some((f) => {
      const rec = readPidFile(path.join(paths.run, f));
      return Boolean(rec && isRecordAlive(rec));
    });
}

