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
import { tcpReach } from '../lib/reach.js';

/**
 * node-postgres takes one host, and has no multi-host connection string (libpq does).
 * With an inventory every host that runs HAProxy reaches the primary: a new connection
 * goes to the address that answered last, and a failed connect moves on to the next one.
 * An address that did not answer at all (host unreachable, timed out, refused) is
 * skipped for HOST_DOWN_MS, so a host cut off costs one connect timeout, not every
 * connection's; while a failover leaves every HAProxy without a primary, connections
 * rotate among the addresses that still answer.
 */
const HOST_DOWN_MS = 30_000;
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNREFUSED']);
const hostState = new Map<string, { preferred: number; downUntil: Map<string, number> }>();

function stateOf(hosts: string[]) {
  const k = hosts.join(',');
  let s = hostState.get(k);
  if (!s) hostState.set(k, (s = { preferred: 0, downUntil: new Map() }));
  return s;
}

function preferredHost(hosts: string[]): string | undefined {
  if (!hosts.length) return undefined;
  const s = stateOf(hosts);
  const now = Date.now();
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[(s.preferred + i) % hosts.length]!;
    if ((s.downUntil.get(h) ?? 0) <= now) return h;
  }
  return hosts[s.preferred % hosts.length];
}

function failedHost(hosts: string[], host: string, unreachable: boolean): void {
  const s = stateOf(hosts);
  if (unreachable) s.downUntil.set(host, Date.now() + HOST_DOWN_MS);
  if (hosts[s.preferred % hosts.length] === host) s.preferred = (s.preferred + 1) % hosts.length;
}

/** The connect failed without any answer from the address (not a server that answered and refused the login). */
function unreachable(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return (code !== undefined && UNREACHABLE.has(code)) || /timeout/i.test((e as Error).message ?? '');
}

/**
 * A host cut off answers nothing, not even a reset, so a query on a connection to it
 * would wait for ever: Node cannot set TCP_USER_TIMEOUT, and keepalive probes take
 * minutes. A query still unanswered after SILENCE_MS has its address probed with a fresh
 * TCP connect; when that goes unanswered too, every connection to the address is ended,
 * the pending queries fail as lost connections (retried where that is safe) and new
 * connections go to the next address. A slow query on a live host is left alone.
 */
const SILENCE_MS = 2000;
const connected = new Map<string, Set<pg.Client>>();

function endConnections(key: string): void {
  for (const c of connected.get(key) ?? []) (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  connected.delete(key);
}

function watchSilence(hosts: string[], client: pg.Client, pending: Promise<unknown>): void {
  let settled = false;
  const timer = setInterval(() => {
    void tcpReach(client.host, client.port, SILENCE_MS).then((reach) => {
      if (settled || reach === 'open') return;
      clearInterval(timer);
      failedHost(hosts, client.host, true);
      endConnections(`${client.host}:${client.port}`);
    });
  }, SILENCE_MS);
  timer.unref();
  const done = () => {
    settled = true;
    clearInterval(timer);
  };
  pending.then(done, done);
}

/** A pg.Client class for pg.Pool that connects to the preferred address of `hosts`. */
function multiHostClient(hosts: string[]): typeof pg.Client {
  return class extends pg.Client {
    constructor(cfg: pg.ClientConfig) {
      // pg-pool keeps the password non-enumerable (out of logs): a spread alone would drop it.
      super({ ...cfg, password: cfg.password, host: preferredHost(hosts) ?? cfg.host });
      const query = this.query.bind(this) as (...args: unknown[]) => unknown;
      this.query = ((...args: unknown[]) => {
        const r = query(...args);
        if (r instanceof Promise) watchSilence(hosts, this, r);
        return r;
      }) as typeof this.query;
    }
    override connect(): Promise<void>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<void> | void {
      const key = `${this.host}:${this.port}`;
      const p = super.connect().then(
        () => {
          connected.set(key, (connected.get(key) ?? new Set()).add(this));
          this.once('end', () => connected.get(key)?.delete(this));
        },
        (e: unknown) => {
          failedHost(hosts, this.host, unreachable(e));
          throw e;
        },
      );
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
