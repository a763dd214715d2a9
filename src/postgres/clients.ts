/** Short-lived connections as one of the stack's roles, for dataplane's own work. */
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/schema.js';
import { secretFor, type Secrets } from '../secrets/store.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { pgSsl } from '../connect/tls-options.js';

export function clientFor(config: Config, secrets: Secrets, user: string, opts: { database?: string; timeoutMs?: number } = {}): pg.Client {
  const timeout = opts.timeoutMs ?? 10_000;
  const client = new pg.Client({
    host: config.postgres.host,
    port: config.postgres.port,
    user,
    password: secretFor(secrets, 'postgres', user),
    database: opts.database ?? config.postgres.database,
    ssl: pgSsl(config),
    connectionTimeoutMillis: timeout,
    application_name: 'dataplane',
  });
  // A server going away mid-operation rejects the pending query; it must not also crash the process.
  client.on('error', () => {});
  return client;
}

/** Connect (unless already connected), run `fn`, always close. */
export async function withClient<T>(client: pg.Client, fn: (c: pg.Client) => Promise<T>, opts: { connected?: boolean } = {}): Promise<T> {
  if (!opts.connected) await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export const BUILTIN_MIGRATIONS = path.join(PACKAGE_ROOT, 'migrations');

export function migrationsDir(config: Config): string {
  return config.postgres.migrationsDir === 'builtin' ? BUILTIN_MIGRATIONS : config.postgres.migrationsDir;
}
