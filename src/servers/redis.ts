/**
 * Redis 7 from Debian's redis-server. Runs `redis-server redis.conf` in the
 * foreground; stops with SHUTDOWN SAVE so the dataset is on disk first. In the ha
 * topology each node (redis, redis-2, ...) is an instance of this driver; the
 * sentinels (servers/sentinel.ts) move the primary role between them.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { redisNodes, type RedisNode } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { closeRedis, redisCommandClient, redisEndpoint, type RedisTarget } from '../connect/redis.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary, versionOutput } from '../lib/packages.js';
import { isRecordAlive, readPidFile, run, terminate, waitForExit } from '../lib/process.js';
import { renderRedis } from '../render/redis.js';
import { redisAclHash } from '../secrets/hashes.js';
import { plaintextAllowed } from '../tls/policy.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { setSentinelPassword } from './sentinel.js';
import { probeOnce } from './probe-session.js';
import type { ProbeSession, RedisFigures, ServerDriver } from './types.js';

const REQUIRED_MAJOR = 7;

/** A node of the config by instance (the first when not given). */
export function redisNode(config: Config, instance = 'redis'): RedisNode {
  const node = redisNodes(config).find((n) => n.instance === instance);
  if (!node) throw new ProbeError(`the configuration runs no Redis node ${instance}`);
  return node;
}

/**
 * A short-lived, non-retrying connection as a user of the stack (admin, monitor, or an
 * application user): to one node when `target.instance` says so, else to the primary.
 */
export function redisClientAs(access: Access, user: string, timeoutMs: number, target: RedisTarget = {}): Redis {
  return redisCommandClient(redisEndpoint(access, user, target), { timeoutMs });
}

/** Connect as `user`, run `fn`, close. */
export async function withRedis<T>(access: Access, user: string, timeoutMs: number, fn: (r: Redis) => Promise<T>, target: RedisTarget = {}): Promise<T> {
  const client = redisClientAs(access, user, timeoutMs, target);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await closeRedis(client);
  }
}

/** As `admin`; the version is read once (a restart ends the connection). Commands time out after `timeoutMs`. */
async function redisSession(access: Access, timeoutMs: number, instance = 'redis'): Promise<ProbeSession> {
  const client = redisCommandClient(redisEndpoint(access, 'admin', { instance }), { timeoutMs, client: 'dataplane-probe' });
  let version: string;
  try {
    await client.connect();
    version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  } catch (e) {
    await closeRedis(client);
    throw e;
  }
  return {
    async probe() {
      const started = performance.now();
      const pong = await client.ping();
      if (pong !== 'PONG') throw new ProbeError(`unexpected PING reply ${pong}`);
      return { version, latencyMs: performance.now() - started };
    },
    close: () => closeRedis(client),
  };
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Role, replication, memory, clients and evictions of a node: read as the `monitor` ACL user (INFO, no keys). */
export async function redisFigures(access: Access, timeoutMs = 2000, instance = 'redis'): Promise<RedisFigures> {
  return withRedis(
    access,
    'monitor',
    timeoutMs,
    async (client) => {
      const info = await client.info();
      const maxclients = (await client.config('GET', 'maxclients')) as string[];
      const num = (f: string) => Number(infoField(info, f) ?? 0);
      const role = infoField(info, 'role') ?? 'unknown';
      return {
        role,
        memory: { used: num('used_memory'), max: num('maxmemory') },
        clients: { connected: num('connected_clients'), max: Number(maxclients[1] ?? 0) },
        evictedKeys: num('evicted_keys'),
        ...(role === 'slave'
          ? { replication: { primary: `${infoField(info, 'master_host')}:${infoField(info, 'master_port')}`, linkUp: infoField(info, 'master_link_status') === 'up', offset: num('slave_repl_offset') } }
          : num('connected_slaves')
            ? { replication: { replicas: num('connected_slaves'), offset: num('master_repl_offset') } }
            : {}),
      };
    },
    { instance },
  );
}

export const redisDriver: ServerDriver = {
  name: 'redis',

  instances: (config) => redisNodes(config).map((n) => n.instance),

  async locate() {
    const server = requireBinary(REQUIREMENTS.redisServer);
    const r = await versionOutput(server, ['--version']);
    const m = /v=(\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
    if (!m || Number(m[1]) < REQUIRED_MAJOR) {
      throw new BinaryNotFoundError(`Redis ${REQUIRED_MAJOR}`, `${server} reports "${r.stdout.trim()}"; install Redis ${REQUIRED_MAJOR} (Debian bookworm: apt-get install -y redis-server)`);
    }
    return { server, version: `${m[1]}.${m[2]}.${m[3]}` };
  },

  ports: (config) =>
    redisNodes(config).flatMap((n) => [
      ...(plaintextAllowed(config, 'redis') ? [{ host: n.host, port: n.port, configPath: 'redis.port' }] : []),
      ...(config.tls.enabled ? [{ host: n.host, port: n.tlsPort, configPath: 'redis.tlsPort' }] : []),
    ]),

  address: (config, instance) => {
    const n = redisNode(config, instance);
    return `${n.host}:${config.tls.enabled ? n.tlsPort : n.port}`;
  },

  render: renderRedis,

  async prepare(ctx) {
    const p = ctx.paths.redisNode(ctx.instance);
    privateDir(p.dir, ctx.user);
    // Replicas verify the primary's certificate: the CA goes with the node's own.
    if (ctx.tls) installServerCert(p.tls, ctx.tls.servers.redis, ctx.user, ctx.tls.caFile);
    writeServerFiles(
      p.dir,
      ctx.files.filter((f) => f.service === ctx.instance),
      ctx.user,
    );
  },

  command: (ctx) => {
    const p = ctx.paths.redisNode(ctx.instance);
    return { bin: ctx.binaries.server, args: [p.conf], cwd: p.dir };
  },

  probe: (access, timeoutMs = 2000, instance = 'redis') => probeOnce(() => redisSession(access, timeoutMs, instance)),
  session: redisSession,

  async reload(ctx) {
    if (!ctx.config.tls.enabled) return;
    const tls = ctx.paths.redisNode(ctx.instance).tls;
    // Setting the TLS files makes Redis load them again (same paths, new contents).
    await withRedis(ctx, 'admin', 5000, (client) => client.config('SET', 'tls-cert-file', path.join(tls, 'server.crt'), 'tls-key-file', path.join(tls, 'server.key')), {
      instance: ctx.instance,
    });
  },

  async stop(access, rec, timeoutMs, instance = 'redis') {
    const client = redisClientAs(access, 'admin', 2000, { instance });
    try {
      await client.connect();
      // The server closes the connection as it exits, so the reply is an error.
      await client.call('SHUTDOWN', 'SAVE').catch(() => {});
    } catch {
      // Not reachable: SIGTERM also saves when persistence is configured.
      await terminate(rec, 'SIGTERM', timeoutMs);
      return;
    } finally {
      await closeRedis(client);
    }
    if (!(await waitForExit(rec, timeoutMs))) await terminate(rec, 'SIGTERM', 5000);
  },

  /**
   * ha: a node that died comes back only after the sentinels had time to promote a
   * replica. Restarted at once, a dead primary would come back as primary with what its
   * disk kept (appendfsync everysec: up to a second less than its replicas had) and the
   * replicas would resync from it, losing what only they held.
   */
  minRestartDelayMs: (config) => (config.topology === 'ha' ? config.redis.sentinel.downAfterMs * 2 + 1000 : 0),
  // ...and with `replicaof` the new primary in its file: started from the old file, it
  // would serve as a second primary until the sentinels demote it (seconds of split brain).
  freshFilesOnRestart: true,

  restartWhenUnresponsive: true,

  figures: redisFigures,

  credentials: {
    service: 'redis',
    /** Every running node, then every running sentinel: all of them know the stack's Redis users. */
    async setPassword(access, user, password) {
      const { config } = access;
      const paths = statePaths(config);
      const running = (instance: string) => {
        const rec = readPidFile(paths.pidFile(instance));
        return Boolean(rec && isRecordAlive(rec));
      };
      for (const n of redisNodes(config).filter((x) => running(x.instance))) {
        await withRedis(access, 'admin', 5000, (admin) => admin.call('ACL', 'SETUSER', user, 'resetpass', redisAclHash(password)), { instance: n.instance });
      }
      await setSentinelPassword(access, user, password, running);
    },
    async verifyLogin(access, user) {
      await withRedis(access, user, 5000, (r) => r.ping());
    },
  },
};
