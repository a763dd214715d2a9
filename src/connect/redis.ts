/**
 * The one place Redis connections are made: probes and shutdown, figures, rotation,
 * backups, the cache-invalidation worker and the client library. TLS (verified
 * against the stack CA), timeouts, retries and error reporting are decided here.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { secretFor } from '../secrets/store.js';
import type { Access, ConnectionErrorHook } from './access.js';
import { connectionErrorListener } from './errors.js';
import { redisNodes, sentinelNodes } from '../config/topology.js';
import { redisPort } from './tls.js';
import { coalesceWrites } from './redis-write-coalescing.js';

export type RedisEndpoint =
  | { host: string; port: number; tls?: ConnectionOptions; username: string; password: string }
  | { url: string; tls?: ConnectionOptions }
  /** A private Unix socket (a throw-away server of dataplane's own, without users). */
  | { path: string }
  | {
      sentinels: { host: string; port: number }[];
      name: string;
      username: string;
      password: string;
      /** Sentinels authenticate clients too (the stack's own: the same user and password). */
      sentinelUsername?: string;
      sentinelPassword?: string;
      tls?: ConnectionOptions;
    };

export interface RedisTarget {
  /** Sentinels to ask for the primary (default: redis.sentinel.hosts, else the stack's own in ha). */
  sentinel?: { masterName: string; hosts: string[] };
  /** One node of the stack, by instance (redis, redis-2, ...): a probe, a node's figures. */
  instance?: string;
}

/**
 * A user of the stack: one node when asked, else the primary, directly (single) or
 * through Redis Sentinel (ha, or sentinels named in the config), TLS to all of them
 * when TLS is on.
 */
export function redisEndpoint(access: Access, user: string, target: RedisTarget = {}): RedisEndpoint {
  const { config } = access;
  const { tls } = redisPort(config);
  const password = secretFor(access.secrets, 'redis', user);
  const nodes = redisNodes(config);
  const s = config.redis.sentinel;
  const sentinel = target.instance
    ? undefined
    : (target.sentinel ??
      (s.hosts.length ? { masterName: s.masterName, hosts: s.hosts } : undefined) ??
      (config.topology === 'ha' && nodes.length > 1 ? { masterName: s.masterName, hosts: sentinelNodes(config).map((n) => `${n.host}:${n.port}`) } : undefined));
  if (sentinel) {
    const sentinels = sentinel.hosts.map((h) => ({ host: h.slice(0, h.lastIndexOf(':')), port: Number(h.slice(h.lastIndexOf(':') + 1)) }));
    // The stack's own sentinels know its users; sentinels elsewhere may run without authentication.
    const own = !target.sentinel && !s.hosts.length;
    return { sentinels, name: sentinel.masterName, username: user, password, ...(own ? { sentinelUsername: user, sentinelPassword: password } : {}), ...(tls ? { tls } : {}) };
  }
  const node = nodes.find((n) => n.instance === target.instance) ?? nodes[0]!;
  return { host: node.host, port: tls ? node.tlsPort : node.port, username: user, password, ...(tls ? { tls } : {}) };
}

function base(endpoint: RedisEndpoint): RedisOptions {
  if ('sentinels' in endpoint) {
    // TLS towards the sentinels and, through them, towards the master. The failover detector
    // listens for +switch-master on every sentinel and reconnects at once: a primary whose host
    // was cut off sends no reset, and its connection would otherwise wait for ever.
    return { ...endpoint, failoverDetector: true, ...(endpoint.tls ? { sentinelTLS: endpoint.tls, enableTLSForSentinelMode: true } : {}) };
  }
  if ('url' in endpoint) return endpoint.tls ? { tls: endpoint.tls } : {};
  if ('path' in endpoint) return { path: endpoint.path };
  return endpoint;
}

function create(endpoint: RedisEndpoint, options: RedisOptions, client: string, hook: ConnectionErrorHook | undefined): Redis {
  const r = 'url' in endpoint ? new Redis(endpoint.url, { ...base(endpoint), ...options }) : new Redis({ ...base(endpoint), ...options });
  // ioredis emits every failed (re)connect; the caller of a pending command gets its own error.
  r.on('error', connectionErrorListener('redis', client, hook));
  if ('sentinels' in endpoint) {
    // ioredis (6.0.0) ends the failover detector's sentinel connections only in disconnect(): after
    // quit() they stay subscribed and reconnect for ever, and the process never exits.
    r.once('end', () => (r as unknown as { connector?: { failoverDetector?: { cleanup(): void } | null } }).connector?.failoverDetector?.cleanup());
  }
  return r;
}

/**
 * A short-lived connection for one job (a probe, a backup, SHUTDOWN): connects when
 * asked (`await r.connect()`), never retries, fails commands at once when disconnected.
 */
export function redisCommandClient(endpoint: RedisEndpoint, opts: { timeoutMs: number; client?: string }): Redis {
  return create(
    endpoint,
    {
      lazyConnect: true,
      connectTimeout: opts.timeoutMs,
      commandTimeout: opts.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      retryStrategy: () => null,
    },
    opts.client ?? 'dataplane',
    // Its caller awaits every command and sees the failure; the 'error' event is only counted.
    undefined,
  );
}

/**
 * The client library's shared connection: reconnects by itself, queues commands while
 * it does, and writes the commands concurrent callers issue in one tick in groups of 16,
 * one socket write each (redis-write-coalescing.ts: cheaper than ioredis's
 * auto-pipelining, and Redis starts on a group while node makes the next; docs/benchmarks.md).
 */
export function redisSharedClient(endpoint: RedisEndpoint, opts: { client?: string; options?: RedisOptions; onConnectionError?: ConnectionErrorHook | undefined } = {}): Redis {
  // Application users may not run INFO, which ioredis's ready check uses.
  return coalesceWrites(create(endpoint, { enableReadyCheck: false, maxRetriesPerRequest: 3, ...opts.options }, opts.client ?? 'library', opts.onConnectionError));
}

/**
 * Close without leaving ioredis's 2 s disconnect timer behind: QUIT lets the server
 * close the socket; a connection that is already gone needs nothing.
 */
export async function closeRedis(client: Redis): Promise<void> {
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
