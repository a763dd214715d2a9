/**
 * Redis: a consistent RDB snapshot (BGSAVE forks and writes the dataset as of one
 * moment) copied into the backup, and its restore into a stopped stack.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StatePaths } from '../config/paths.js';
import type { Access } from '../connect/access.js';
import type { Redis } from 'ioredis';
import { redisCommandClient } from '../connect/redis.js';
import { recordFor, serverEnv, terminate } from '../lib/process.js';
import { withRedis } from '../servers/redis.js';
import { chownToServiceUser, type ServiceUser } from '../lib/service-user.js';
import type { BackupManifest, RedisBackup } from './catalog.js';
import { BackupError, RestoreError } from './errors.js';
import { extractCompressed, storeCompressed, type Sealing } from './files.js';
import { sealedName } from './sealing.js';

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';

export async function backupRedis(access: Access, dest: string, seal?: Sealing): Promise<RedisBackup> {
  return withRedis(access, 'admin', 10_000, async (client) => {
    const [dir, dbfilename] = [((await client.config('GET', 'dir')) as string[])[1]!, ((await client.config('GET', 'dbfilename')) as string[])[1]!];
    const before = Number(await client.lastsave());
    // One save at a time in Redis: wait for one that may be running, then start ours.
    for (;;) {
      const info = await client.info('persistence');
      if (field(info, 'rdb_bgsave_in_progress') === '0' && field(info, 'aof_rewrite_in_progress') === '0') break;
      await sleep(100);
    }
    await client.bgsave();
    let savedAt = before;
    for (let i = 0; ; i++) {
      await sleep(100);
      const info = await client.info('persistence');
      if (field(info, 'rdb_bgsave_in_progress') === '0') {
        if (field(info, 'rdb_last_bgsave_status') !== 'ok') throw new BackupError(`Redis BGSAVE failed (rdb_last_bgsave_status ${field(info, 'rdb_last_bgsave_status')}); see \`dataplane logs redis\``);
        savedAt = Number(field(info, 'rdb_last_save_time'));
        // LASTSAVE has one-second resolution: a save in the same second as the previous one still counts.
        if (savedAt >= before) break;
      }
      if (i > 6000) throw new BackupError('Redis BGSAVE did not finish within 10 minutes');
    }
    const keys = Number(await client.dbsize());
    const stored = await storeCompressed(path.join(dir, dbfilename), path.join(dest, `${dbfilename}.gz${seal ? '.age' : ''}`), seal);
    return { file: { path: dbfilename, ...stored }, savedAt: new Date(savedAt * 1000).toISOString(), keys };
  });
}

/**
 * Put the snapshot back as Redis's dump file. The append-only files are moved aside:
 * with AOF on, Redis loads only the AOF at start and would ignore the snapshot, so a
 * throw-away redis-server (no network: a private Unix socket) loads the snapshot
 * and writes a fresh AOF from it with Redis's own rewrite.
 */
export async function restoreRedis(
  backupDir: string,
  manifest: BackupManifest,
  paths: StatePaths,
  user: ServiceUser,
  opts: {
    server: string;
    appendonly: boolean;
    /**
     * ha: the other nodes' folders and the sentinels' files. Their data and the
     * sentinels' record of the primary are moved aside, so the first node, holding the
     * restored snapshot, starts as the primary and the others copy it.
     */
    others?: { replicaDirs: string[]; sentinelFiles: string[] };
    /** an encrypted backup: the identities it opens with */
    seal?: Sealing | undefined;
  },
): Promise<{ movedAside: string[] }> {
  const r = manifest.redis;
  if (!r) throw new RestoreError(`backup ${manifest.label} has no Redis part`);
  mkdirSync(paths.redis.dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const movedAside: string[] = [];
  const aside = (p: string) => {
    if (!existsSync(p)) return;
    renameSync(p, `${p}.before-restore-${stamp}`);
    movedAside.push(`${p}.before-restore-${stamp}`);
  };
  for (const name of ['appendonlydir', r.file.path]) aside(path.join(paths.redis.dir, name));
  for (const dir of opts.others?.replicaDirs ?? []) for (const name of ['appendonlydir', r.file.path]) aside(path.join(dir, name));
  for (const file of opts.others?.sentinelFiles ?? []) aside(file);
  const dest = path.join(paths.redis.dir, r.file.path);
  const stored = sealedName(manifest, `${r.file.path}.gz`);
  let got;
  try {
    got = await extractCompressed(path.join(backupDir, 'redis', stored), dest, 0o600, opts.seal);
  } catch (e) {
    rmSync(dest, { force: true });
    throw new RestoreError(`redis/${stored}: ${(e as Error).message}`);
  }
  if (got.sha256 !== r.file.sha256) {
    rmSync(dest, { force: true });
    throw new RestoreError(`redis/${stored} does not match the manifest (checksum): the backup is damaged`);
  }
  chownToServiceUser([dest], user);
  if (opts.appendonly) await rebuildAof(opts.server, paths.redis.dir, r.file.path, user);
  return { movedAside };
}

async function rebuildAof(server: string, dir: string, dbfilename: string, user: ServiceUser): Promise<void> {
  const sock = path.join(dir, 'restore.sock');
  const child = spawn(
    server,
    ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir, '--dbfilename', dbfilename, '--appendonly', 'no', '--appenddirname', 'appendonlydir', '--save', ''],
    { cwd: dir, env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...(user.dropsPrivileges ? { uid: user.uid, gid: user.gid } : {}) },
  );
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const rec = recordFor(child.pid!, server);
  let client: Redis | undefined;
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new RestoreError(`redis-server could not load the snapshot:\n${log.trim().split('\n').slice(-8).join('\n')}`);
      try {
        client = redisCommandClient({ path: sock }, { timeoutMs: 10_000, client: 'restore' });
        await client.connect();
        if (field(await client.info('persistence'), 'loading') === '0') break;
      } catch {
        client?.disconnect();
        client = undefined;
      }
      if (i > 3000) throw new RestoreError('redis-server did not load the snapshot within 5 minutes');
      await sleep(100);
    }
    await client!.config('SET', 'appendonly', 'yes');
    for (let i = 0; ; i++) {
      await sleep(100);
      const info = await client!.info('persistence');
      if (field(info, 'aof_enabled') === '1' && field(info, 'aof_rewrite_in_progress') === '0' && field(info, 'aof_rewrite_scheduled') === '0') {
        if (field(info, 'aof_last_bgrewrite_status') !== 'ok') throw new RestoreError('Redis could not write the AOF from the snapshot');
        break;
      }
      if (i > 6000) throw new RestoreError('Redis did not write the AOF within 10 minutes');
    }
    await client!.shutdown('NOSAVE').catch(() => {});
  } finally {
    client?.disconnect();
    if (child.exitCode === null) await terminate(rec, 'SIGTERM', 30_000);
    await exited;
    rmSync(sock, { force: true });
  }
}
