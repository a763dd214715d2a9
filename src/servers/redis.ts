/**
 * Redis 7 from Debian's redis-server. Runs `redis-server redis.conf` in the
 * foreground; stops with SHUTDOWN SAVE so the dataset is on disk first.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Access } from '../connect/access.js';
import { closeRedis, redisCommandClient, redisEndpoint } from '../connect/redis.js';
import { redisPort } from '../connect/tls.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run, terminate, waitForExit } from '../lib/process.js';
import { renderRedis } from '../render/redis.js';
import { redisAclHash } from '../secrets/hashes.js';
import { plaintextAllowed } from '../tls/policy.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import type { RedisFigures, ServerDriver } from './types.js';

const REQUIRED_MAJOR = 7;

/** A short-lived, non-retrying connection as a user of the stack (admin, monitor, or an application user). */
export function redisClientAs(access: Access, user: string, timeoutMs: number): Redis {
  return redisCommandClient(redisEndpoint(access, user), { timeoutMs });
}

/** Connect as `user`, run `fn`, close. */
export async function withRedis<T>(access: Access, user: string, timeoutMs: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const client = redisClientAs(access, user, timeoutMs);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await closeRedis(client);
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Role, memory, clients and evictions: read as the `monitor` ACL user (INFO, no keys). */
export async function redisFigures(access: Access, timeoutMs = 2000): Promise<RedisFigures> {
  return withRedis(access, 'monitor', timeoutMs, async (client) => {
    const info = await client.info();
    const maxclients = (await client.config('GET', 'maxclients')) as string[];
    const num = (f: string) => Number(infoField(info, f) ?? 0);
    return {
      role: infoField(info, 'role') ?? 'unknown',
      memory: { used: num('used_memory'), max: num('maxmemory') },
      clients: { connected: num('connected_clients'), max: Number(maxclients[1] ?? 0) },
      evictedKeys: num('evicted_keys'),
    };
  });
}

export const redisDriver: ServerDriver = {
  name: 'redis',

  instances: () => ['redis'],

  async locate() {
    const server = requireBinary(REQUIREMENTS.redisServer);
    const r = await run(server, ['--version']);
    const m = /v=(\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
    if (!m || Number(m[1]) < REQUIRED_MAJOR) {
      throw new BinaryNotFoundError(`Redis ${REQUIRED_MAJOR}`, `${server} reports "${r.stdout.trim()}"; install Redis ${REQUIRED_MAJOR} (Debian bookworm: apt-get install -y redis-server)`);
    }
    return { server, version: `${m[1]}.${m[2]}.${m[3]}` };
  },

  ports: (config) => [
    ...(plaintextAllowed(config, 'redis') ? [{ host: config.redis.host, port: config.redis.port, configPath: 'redis.port' }] : []),
    ...(config.tls.enabled ? [{ host: config.redis.host, port: config.redis.tlsPort, configPath: 'redis.tlsPort' }] : []),
  ],

  address: (config) => `${config.redis.host}:${redisPort(config).port}`,

  render: renderRedis,

  async prepare(ctx) {
    privateDir(ctx.paths.redis.dir, ctx.user);
    if (ctx.tls) installServerCert(ctx.paths.redis.tls, ctx.tls.servers.redis, ctx.user);
    writeServerFiles(
      ctx.paths.redis.dir,
      ctx.files.filter((f) => f.service === 'redis'),
      ctx.user,
    );
  },

  command: (ctx) => ({ bin: ctx.binaries.server, args: [ctx.paths.redis.conf], cwd: ctx.paths.redis.dir }),

  async probe(access, timeoutMs = 2000) {
    const started = performance.now();
    return withRedis(access, 'admin', timeoutMs, async (client) => {
      const pong = await client.ping();
      if (pong !== 'PONG') throw new ProbeError(`unexpected PING reply ${pong}`);
      const info = await client.info('server');
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      return { version, latencyMs: performance.now() - started };
    });
  },

  async reload(ctx) {
    if (!ctx.config.tls.enabled) return;
    // Setting the TLS files makes Redis load them again (same paths, new contents).
    await withRedis(ctx, 'admin', 5000, (client) =>
      client.config('SET', 'tls-cert-file', path.join(ctx.paths.redis.tls, 'server.crt'), 'tls-key-file', path.join(ctx.paths.redis.tls, 'server.key')),
    );
  },

  async stop(access, rec, timeoutMs) {
    const client = redisClientAs(access, 'admin', 2000);
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

  figures: redisFigures,

  credentials: {
    service: 'redis',
    async setPassword(access, user, password) {
      await withRedis(access, 'admin', 5000, (admin) => admin.call('ACL', 'SETUSER', user, 'resetpass', redisAclHash(password)));
    },
    async verifyLogin(access, user) {
      await withRedis(access, user, 5000, (r) => r.ping());
    },
  },
};
