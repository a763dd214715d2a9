/**
 * Redis connections for the client library: directly (TLS verified against the
 * stack CA) or through Sentinel, as one of the stack's users.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import { counter } from '../lib/metrics.js';
import { readSecrets, secretFor } from '../secrets/store.js';
import { redisEndpoint } from '../connect/tls-options.js';
import { InvalidArgumentError } from '../errors/index.js';

export interface RedisConnectOptions {
  config?: Config;
  /** A user of the stack (default: the first of redis.users, normally app). */
  user?: string;
  /** Or an explicit URL (redis:// or rediss://) and the CA for rediss. */
  url?: string;
  ca?: string;
  /** Reach the master through Sentinel (default: redis.sentinel of the config). */
  sentinel?: { masterName: string; hosts: string[] };
  /** Extra ioredis options. */
  options?: RedisOptions;
}

const connectionErrors = counter('dataplane_redis_connection_errors_total', 'Connection errors of client library Redis connections (ioredis reconnects)', []);

/** ioredis reconnects by itself; without a listener it would print every error to the console. */
function counted(r: Redis): Redis {
  r.on('error', () => connectionErrors.inc());
  return r;
}

export function connectRedis(opts: RedisConnectOptions): Redis {
  // Application users may not run INFO, which ioredis's ready check uses. Auto-pipelining
  // writes the commands that concurrent callers issue in one tick as one socket write:
  // the shared connection then serves many callers with less client CPU (docs/benchmarks.md).
  const base: RedisOptions = { enableReadyCheck: false, maxRetriesPerRequest: 3, enableAutoPipelining: true, ...opts.options };
  if (opts.url) return counted(new Redis(opts.url, { ...base, ...(opts.ca ? { tls: { ca: opts.ca } } : {}) }));
  const config = opts.config;
  if (!config) throw new InvalidArgumentError('connectRedis needs { config } or { url }');
  const user = opts.user ?? Object.keys(config.redis.users)[0] ?? 'app';
  const password = secretFor(readSecrets(config), 'redis', user);
  const sentinel = opts.sentinel ?? config.redis.sentinel;
  if (sentinel) {
    return counted(new Redis({
      ...base,
      sentinels: sentinel.hosts.map((h) => ({ host: h.slice(0, h.lastIndexOf(':')), port: Number(h.slice(h.lastIndexOf(':') + 1)) })),
      name: sentinel.masterName,
      username: user,
      password,
    }));
  }
  return counted(new Redis({ ...base, host: config.redis.host, ...redisEndpoint(config), username: user, password }));
}
