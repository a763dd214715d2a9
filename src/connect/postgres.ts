/**
 * The one place PostgreSQL connections are made: the supervisor's probes and
 * bootstrap, migrations, figures, rotation, backups and restores, and the client
 * library's pools. TLS (verify-full against the stack CA), timeouts, the
 * application name and error reporting are decided here.
 */
import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { secretFor } from '../secrets/store.js';
import type { Access, ConnectionErrorHook } from './access.js';
import { connectionErrorListener } from './errors.js';
import { pgSsl } from './tls.js';
import { haproxyNodes, onHosts } from '../config/topology.js';

/**
 * node-postgres takes one host, and has no multi-host connection string (libpq does).
 * With an inventory every host that runs HAProxy reaches the primary: a new connection
 * goes to the address that answered last, and a failed connect moves on to the next one,
 * so a host cut off costs one connect timeout, not every connection's.
 */
const preferred = new Map<string, number>();
const keyOf = (hosts: string[]) => hosts.join(',');

function preferredHost(hosts: string[]): string | undefined {
  return hosts.length ? hosts[(preferred.get(keyOf(hosts)) ?? 0) % hosts.length] : undefined;
}

function failedHost(hosts: string[], host: string): void {
  const k = keyOf(hosts);
  const now = preferred.get(k) ?? 0;
  if (hosts[now % hosts.length] === host) preferred.set(k, (now + 1) % hosts.length);
}

/** A pg.Client class for pg.Pool that connects to the preferred address of `hosts`. */
function multiHostClient(hosts: string[]): typeof pg.Client {
  return class extends pg.Client {
    constructor(cfg: pg.ClientConfig) {
      super({ ...cfg, host: preferredHost(hosts) ?? cfg.host });
    }
    override connect(): Promise<void>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<void> | void {
      const p = super.connect().catch((e: unknown) => {
        failedHost(hosts, this.host);
        throw e;
      });
      if (!callback) return p;
      // pg-pool passes a callback: no error is an undefined first argument.
      p.then(() => callback(undefined as unknown as Error), callback);
    }
  } as unknown as typeof pg.Client;
}

/**
 * Where and as whom: the stack's own address and a login, or an explicit URL. Without
 * a password node-postgres reads PGPASSFILE (a clone run by Patroni).
 */
export type PgEndpoint =
  | { host: string; port: number; user: string; password?: string; database: string; ssl: ConnectionOptions | false; /** every address that serves `host`'s role, `host` among them (one HAProxy per inventory host) */ hosts?: string[] }
  | { connectionString: string; ssl?: ConnectionOptions };

/**
 * A login of the stack. The superuser works in the `postgres` database, every other
 * login in the application database, unless `database` says otherwise. `host` and
 * `port` point at another server of the same cluster (a restore's scratch server).
 */
export function pgEndpoint(access: Access, user: string, opts: { database?: string; host?: string; port?: number } = {}): PgEndpoint {
  const { config } = access;
  const proxies = onHosts(config) && !opts.host ? haproxyNodes(config).map((n) => n.host) : [];
  return {
    host: opts.host ?? preferredHost(proxies) ?? config.postgres.host,
    ...(proxies.length > 1 ? { hosts: proxies } : {}),
    port: opts.port ?? config.postgres.port,
    user,
    password: secretFor(access.secrets, 'postgres', user),
    database: opts.database ?? (user === config.postgres.superuser ? 'postgres' : config.postgres.database),
    ssl: pgSsl(config),
  };
}

export interface PgClientOptions {
  /** Label in metrics and pg_stat_activity's application_name (default "dataplane"). */
  client?: string;
  /** Connect timeout, and the statement timeout of this client's queries when `queryTimeoutMs` is not given. */
  timeoutMs?: number;
  queryTimeoutMs?: number;
}

/** A single connection for dataplane's own short work (probes, migrations, backups). */
export function pgClient(endpoint: PgEndpoint, opts: PgClientOptions = {}): pg.Client {
  const timeout = opts.timeoutMs ?? 10_000;
  const name = opts.client ?? 'dataplane';
  const Client = 'hosts' in endpoint && endpoint.hosts ? multiHostClient(endpoint.hosts) : pg.Client;
  const client = new Client({
    ...endpoint,
    connectionTimeoutMillis: timeout,
    ...(opts.queryTimeoutMs !== undefined ? { query_timeout: opts.queryTimeoutMs } : {}),
    application_name: name,
  });
  // A server going away mid-operation rejects the pending query, which its caller awaits and
  // sees; the 'error' event of the same failure is only counted (not fatal, not logged twice).
  client.on('error', connectionErrorListener('postgres', name));
  return client;
}

/** Connect, run `fn`, always close. */
export async function withPg<T>(access: Access, target: { user: string; database?: string; host?: string; port?: number } & PgClientOptions, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const { user, database, host, port } = target;
  const client = pgClient(pgEndpoint(access, user, { ...(database ? { database } : {}), ...(host ? { host } : {}), ...(port ? { port } : {}) }), target);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface PgPoolOptions {
  /** Label in metrics and application_name. */
  client: string;
  max: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  statementTimeoutMs?: number | undefined;
  onConnectionError?: ConnectionErrorHook | undefined;
}

/** The client library's pool. A pooled connection that dies is dropped by the pool; the error is counted and reported. */
export function pgPool(endpoint: PgEndpoint, opts: PgPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...endpoint,
    ...('hosts' in endpoint && endpoint.hosts ? { Client: multiHostClient(endpoint.hosts) } : {}),
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: opts.idleTimeoutMs,
    application_name: opts.client,
    ...(opts.statementTimeoutMs !== undefined ? { statement_timeout: opts.statementTimeoutMs } : {}),
  });
  const report = connectionErrorListener('postgres', opts.client, opts.onConnectionError);
  // Idle clients' errors reach the pool; checked-out clients' errors reach the client.
  pool.on('error', report);
  pool.on('connect', (c) => c.on('error', report));
  return pool;
}
