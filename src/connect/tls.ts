/**
 * How dataplane's own clients reach the servers: over TLS, verifying the server
 * against the CA and its address, whenever TLS is on.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Config } from '../config/schema.js';
import { tlsFiles } from '../tls/certificates.js';

const cache = new Map<string, { mtimeMs: number; pem: string }>();

/** The CA certificate (PEM), re-read when the file changes (rotation). */
export function caPem(config: Config): string | undefined {
  if (!config.tls.enabled) return undefined;
  const file = tlsFiles(config).caFile;
  const { mtimeMs } = statSync(file);
  const hit = cache.get(file);
  if (hit?.mtimeMs === mtimeMs) return hit.pem;
  const pem = readFileSync(file, 'utf8');
  cache.set(file, { mtimeMs, pem });
  return pem;
}

/** node-postgres `ssl` option: verify-full against the CA, or off without TLS. */
export function pgSsl(config: Config): ConnectionOptions | false {
  const ca = caPem(config);
  return ca ? { ca, rejectUnauthorized: true } : false;
}

/** The Redis port clients use (the TLS port when TLS is on) and ioredis's `tls` option. */
export function redisPort(config: Config): { port: number; tls?: ConnectionOptions } {
  const ca = caPem(config);
  return ca ? { port: config.redis.tlsPort, tls: { ca, rejectUnauthorized: true } } : { port: config.redis.port };
}

/** nats.js `tls` option. */
export function natsTls(config: Config): { ca: string } | undefined {
  const ca = caPem(config);
  return ca ? { ca } : undefined;
}
