/**
 * Redis Sentinel from Debian's redis-sentinel, the failover of the ha topology: each
 * sentinel-N watches the Redis primary, and when a quorum of them stops hearing it
 * they promote a replica and tell the others (and the clients) where the primary is.
 *
 * A sentinel keeps what it learns in its own sentinel.conf (the current primary, the
 * epoch): that file is the record of which node is primary, read before the Redis
 * nodes' files are rendered, and it is never rewritten under a running sentinel.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { redisNodes, sentinelNodes, type SentinelNode } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { closeRedis, redisCommandClient } from '../connect/redis.js';
import { redisPort } from '../connect/tls.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary, versionOutput } from '../lib/packages.js';
import { isRecordAlive, readPidFile, run, terminate } from '../lib/process.js';
import { renderSentinels } from '../render/sentinel.js';
import { redisAclHash } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import type { SentinelFigures, ServerDriver } from './types.js';

function sentinelNode(config: Config, instance = 'sentinel-1'): SentinelNode {
  const node = sentinelNodes(config).find((n) => n.instance === instance);
  if (!node) throw new ProbeError(`the configuration runs no sentinel ${instance}`);
  return node;
}

/** A one-job connection to one sentinel as a user of the stack. */
async function withSentinel<T>(access: Access, instance: string, user: string, timeoutMs: number, fn: (s: ReturnType<typeof redisCommandClient>) => Promise<T>): Promise<T> {
  const node = sentinelNode(access.config, instance);
  const { tls } = redisPort(access.config);
  const client = redisCommandClient({ host: node.host, port: node.port, username: user, password: secretFor(access.secrets, 'redis', user), ...(tls ? { tls } : {}) }, { timeoutMs });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await closeRedis(client);
  }
}

/** Where the sentinels say the primary is, asked of one of them: host:port. */
export async function primaryAddress(access: Access, instance = 'sentinel-1', timeoutMs = 2000): Promise<string> {
  return withSentinel(access, instance, 'admin', timeoutMs, async (s) => {
    const [host, port] = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', access.config.redis.sentinel.masterName)) as [string, string];
    return `${host}:${port}`;
  });
}

/**
 * The Redis node the sentinels last recorded as primary, from their files (the one
 * with the newest epoch wins); undefined before any sentinel ran.
 */
export function recordedPrimary(config: Config, paths: StatePaths): string | undefined {
  const m = config.redis.sentinel.masterName;
  let best: { epoch: number; host: string; port: number } | undefined;
  for (const s of sentinelNodes(config)) {
    const file = paths.sentinel(s.instance).conf;
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const monitor = new RegExp(`^sentinel monitor ${m} (\\S+) (\\d+) \\d+$`, 'm').exec(text);
    if (!monitor) continue;
    const epoch = Number(new RegExp(`^sentinel config-epoch ${m} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    if (!best || epoch > best.epoch) best = { epoch, host: monitor[1]!, port: Number(monitor[2]) };
  }
  if (!best) return undefined;
  return redisNodes(config).find((n) => n.host === best.host && (n.tlsPort === best.port || n.port === best.port))?.instance;
}

/** A new password for a Redis user on every running sentinel (they know the stack's users too). */
export async function setSentinelPassword(access: Access, user: string, password: string, running: (instance: string) => boolean): Promise<void> {
  for (const s of sentinelNodes(access.config).filter((n) => running(n.instance))) {
    await withSentinel(access, s.instance, 'admin', 5000, async (c) => {
      await c.call('ACL', 'SETUSER', user, 'resetpass', redisAclHash(password));
      // The sentinel-to-node and sentinel-to-sentinel logins follow their user's password.
      if (user === 'sentinel') {
        await c.call('SENTINEL', 'CONFIG', 'SET', 'sentinel-pass', password);
        await c.call('SENTINEL', 'SET', access.config.redis.sentinel.masterName, 'auth-pass', password);
      }
    });
  }
}

export const sentinelDriver: ServerDriver = {
  name: 'sentinel',

  instances: (config) => sentinelNodes(config).map((n) => n.instance),

  async locate() {
    const server = requireBinary(REQUIREMENTS.redisSentinel);
    const r = await versionOutput(server, ['--version']);
    const m = /v=(\d+\.\d+\.\d+)/.exec(r.stdout);
    if (!m) throw new BinaryNotFoundError('redis-sentinel', `${server} did not report a version; reinstall the Debian package redis-sentinel`);
    return { server, version: m[1]! };
  },

  ports: (config) => sentinelNodes(config).map((n) => ({ host: n.host, port: n.port, configPath: 'redis.sentinel.port' })),

  address: (config, instance) => {
    const n = sentinelNode(config, instance);
    return `${n.host}:${n.port}`;
  },

  render: renderSentinels,

  async prepare(ctx) {
    const p = ctx.paths.sentinel(ctx.instance);
    privateDir(p.dir, ctx.user);
    if (ctx.tls) installServerCert(p.tls, ctx.tls.servers.redis, ctx.user, ctx.tls.caFile);
    // A running sentinel owns its file (it rewrites it as it learns): never overwrite it then.
    const rec = readPidFile(ctx.paths.pidFile(ctx.instance));
    if (rec && isRecordAlive(rec)) return;
    writeServerFiles(
      p.dir,
      ctx.files.filter((f) => f.service === ctx.instance),
      ctx.user,
    );
  },

  command: (ctx) => {
    const p = ctx.paths.sentinel(ctx.instance);
    return { bin: ctx.binaries.server, args: [p.conf], cwd: p.dir };
  },

  /** Ready when it answers and knows where the primary is. */
  async probe(access, timeoutMs = 2000, instance = 'sentinel-1') {
    const started = performance.now();
    return withSentinel(access, instance, 'admin', timeoutMs, async (s) => {
      const info = await s.info('server');
      const addr = await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', access.config.redis.sentinel.masterName);
      if (!Array.isArray(addr)) throw new ProbeError('the sentinel does not know the primary yet');
      return { version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown', latencyMs: performance.now() - started };
    });
  },

  async figures(access, timeoutMs = 2000, instance = 'sentinel-1'): Promise<SentinelFigures> {
    const m = access.config.redis.sentinel.masterName;
    return withSentinel(access, instance, 'admin', timeoutMs, async (s) => {
      const flat = (await s.call('SENTINEL', 'MASTER', m)) as string[];
      const f = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
      // CKQUORUM answers an error when too few sentinels are reachable to fail over.
      const canFailover = await s.call('SENTINEL', 'CKQUORUM', m).then(
        () => true,
        () => false,
      );
      const host = f.get('ip') ?? '';
      const port = Number(f.get('port'));
      const node = redisNodes(access.config).find((n) => n.host === host && (n.tlsPort === port || n.port === port));
      return {
        primary: node?.instance ?? `${host}:${port}`,
        address: `${host}:${port}`,
        primaryDown: /(^|,)[so]_down/.test(f.get('flags') ?? ''),
        replicas: Number(f.get('num-slaves') ?? 0),
        sentinels: Number(f.get('num-other-sentinels') ?? 0) + 1,
        quorum: Number(f.get('quorum') ?? 0),
        canFailover,
      };
    });
  },

  async reload(ctx) {
    if (!ctx.config.tls.enabled) return;
    const tls = ctx.paths.sentinel(ctx.instance).tls;
    await withSentinel(ctx, ctx.instance, 'admin', 5000, (s) => s.call('CONFIG', 'SET', 'tls-cert-file', `${tls}/server.crt`, 'tls-key-file', `${tls}/server.key`));
  },

  async stop(_access, rec, timeoutMs) {
    await terminate(rec, 'SIGTERM', timeoutMs);
  },
};
