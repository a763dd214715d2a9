/**
 * Redis connections for the client library: directly (TLS verified against the
 * stack CA) or through Sentinel (TLS to the sentinels and the master alike), as one
 * of the stack's users. Built by the connection factory (connect/redis.ts).
 *
 *   const redis = connectRedis({ access });
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { Access, ConnectionErrorHook } from '../connect/access.js';
import { redisEndpoint, redisSharedClient, type RedisEndpoint } from '../connect/redis.js';
import { InvalidArgumentError } from '../errors/index.js';

export interface RedisConnectOptions {
  /** The stack (config and secrets, resolved once: resolveAccess). */
  access?: Access;
  /** A user of the stack (default: the first of redis.users, normally app). */
  user?: string;
  /** Or an explicit URL (redis:// or rediss://) and the CA for rediss. */
  url?: string;
  ca?: string;
  /** Reach the master through Sentinel (default: redis.sentinel of the config). */
  sentinel?: { masterName: string; hosts: string[] };
  /** Extra ioredis options. */
  options?: RedisOptions;
  /** Failed (re)connects (besides dataplane_connection_errors_total); default: access.onConnectionError. */
  onConnectionError?: ConnectionErrorHook;
}

export function connectRedis(opts: RedisConnectOptions): Redis {
  let endpoint: RedisEndpoint;
  if (opts.url) {
    endpoint = { url: opts.url, ...(opts.ca ? { tls: { ca: opts.ca } } : {}) };
  } else if (opts.access) {
    const user = opts.user ?? Object.keys(opts.access.config.redis.users)[0] ?? 'app';
    // The primary: directly, or through the sentinels (the config's, or the stack's own in ha).
    endpoint = redisEndpoint(opts.access, user, opts.sentinel ? { sentinel: opts.sentinel } : {});
  } else {
    throw new InvalidArgumentError('connectRedis needs { access } or { url }');
  }
  return redisSharedClient(endpoint, {
    ...(opts.options ? { options: opts.options } : {}),
    onConnectionError: opts.onConnectionError ?? opts.access?.onConnectionError,
  });
}
