/**
 * Redis 7 from Debian's redis-server. Runs `redis-server redis.conf` in the
 * foreground; stops with SHUTDOWN SAVE so the dataset is on disk first.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { secretFor, type Secrets } from '../secrets/store.js';
import { redisEndpoint } from '../connect/tls-options.js';
import { plaintextAllowed } from '../tls/policy.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run, terminate, waitForExit } from '../lib/process.js';
import type { ServerDriver } from './types.js';

const REQUIRED_MAJOR = 7;

export function redisAdminClient(config: Config, secrets: Secrets, timeoutMs: number): Redis {
  return redisClientAs(config, secrets, 'admin', timeoutMs);
}

/** A short-lived, non-retrying connection as one of the built-in users (admin, monitor). */
export function redisClientAs(config: Config, secrets: Secrets, user: 'admin' | 'monitor', timeoutMs: number): Redis {
  return new Redis({
    host: config.redis.host,
    ...redisEndpoint(config),
    username: user,
    password: secretFor(secrets, 'redis', user),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
}

/**
 * Close without leaving ioredis's 2 s disconnect timer behind: QUIT lets the server
 * close the socket; a connection that is already gone needs nothing.
 */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      /* fall through */
    }
  }
  client.disconnect();
}

export const redisDriver: ServerDriver = {
  name: 'redis',

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

  address: (config) => `${config.redis.host}:${redisEndpoint(config).port}`,

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

  async probe(config, secrets, timeoutMs = 2000) {
    const started = performance.now();
    const client = redisAdminClient(config, secrets, timeoutMs);
    client.on('error', () => {});
    try {
      await client.connect();
      const pong = await client.ping();
      if (pong !== 'PONG') throw new ProbeError(`unexpected PING reply ${pong}`);
      const info = await client.info('server');
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      return { version, latencyMs: performance.now() - started };
    } finally {
      await closeClient(client);
    }
  },

  async reload(ctx) {
    if (!ctx.config.tls.enabled) return;
    // Setting the TLS files makes Redis load them again (same paths, new contents).
    const client = redisAdminClient(ctx.config, ctx.secrets, 5000);
    client.on('error', () => {});
    try {
      await client.connect();
      await client.config('SET', 'tls-cert-file', path.join(ctx.paths.redis.tls, 'server.crt'), 'tls-key-file', path.join(ctx.paths.redis.tls, 'server.key'));
    } finally {
      await closeClient(client);
    }
  },

  async stop(ctx, rec, timeoutMs) {
    const client = redisAdminClient(ctx.config, ctx.secrets, 2000);
    client.on('error', () => {});
    try {
      await client.connect();
      // The server closes the connection as it exits, so the reply is an error.
      await client.call('SHUTDOWN', 'SAVE').catch(() => {});
    } catch {
      // Not reachable: SIGTERM also saves when persistence is configured.
      await terminate(rec, 'SIGTERM', timeoutMs);
      return;
    } finally {
      await closeClient(client);
    }
    if (!(await waitForExit(rec, timeoutMs))) await terminate(rec, 'SIGTERM', 5000);
  },
};
