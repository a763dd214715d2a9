/** Clients for a test stack's servers, over TLS verified against the stack's CA. */
import { readFileSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import type { Credential } from '../../src/connect/credentials.js';

const ca = (c: Credential) => (c.caFile ? readFileSync(c.caFile, 'utf8') : undefined);

export function pgConfig(c: Credential, database = c.database): pg.ClientConfig {
  const pem = ca(c);
  return { host: c.host, port: c.port, user: c.user, password: c.password, database, ...(pem ? { ssl: { ca: pem } } : {}) };
}

export async function pgClient(c: Credential, database?: string): Promise<pg.Client> {
  const client = new pg.Client(pgConfig(c, database));
  await client.connect();
  return client;
}

/** ioredis as `c.user`; the ready check (INFO) is off because application users may not run INFO. */
export async function redisClient(c: Credential, extra: RedisOptions = {}): Promise<Redis> {
  const pem = ca(c);
  const r = new Redis({
    host: c.host,
    port: c.port,
    username: c.user,
    password: c.password,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...(pem ? { tls: { ca: pem } } : {}),
    ...extra,
  });
  // With retries off, a refused AUTH shows as "Connection is closed"; report the server's reason instead.
  let reason: Error | undefined;
  r.on('error', (e: Error) => (reason ??= e));
  try {
    await r.connect();
    if (!extra.lazyConnect) await r.ping();
  } catch (e) {
    r.disconnect();
    throw reason ?? e;
  }
  return r;
}

/** nats.js as `c.user`; service users answer on their own inbox prefix. */
export function natsConnect(c: Credential, extra: Record<string, unknown> = {}): Promise<NatsConnection> {
  const pem = ca(c);
  const own = c.user !== 'admin' && c.user !== 'system';
  return connect({
    servers: `${c.host}:${c.port}`,
    user: c.user,
    pass: c.password,
    reconnect: false,
    timeout: 5000,
    ...(pem ? { tls: { ca: pem } } : {}),
    ...(own ? { inboxPrefix: `_INBOX_${c.user}` } : {}),
    ...extra,
  });
}

export function credential(creds: Credential[], service: string, user: string): Credential {
  const c = creds.find((x) => x.service === service && x.user === user);
  if (!c) throw new Error(`no ${service} login ${user}`);
  return c;
}
