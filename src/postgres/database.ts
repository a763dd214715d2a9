/**
 * The PostgreSQL client library: a pool, transactions that retry only when that is
 * safe, and the tenant context row-level security reads.
 *
 *   const db = connectPostgres({ access, user: 'app_rw' });
 *   const id = await db.withTenant(orgId, (tx) =>
 *     tx.query('insert into registry.sources (org_id, name, kind) values ($1, $2, $3) returning id', [orgId, 'edge-1', 'device']));
 *   await db.close();
 */
import pg from 'pg';
import { postgresClient } from '../config/schema.js';
import type { Access, ConnectionErrorHook } from '../connect/access.js';
import { pgEndpoint, pgPool, type PgEndpoint } from '../connect/postgres.js';
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';
import { counter, gauge, histogram } from '../lib/metrics.js';
import { backoffMs, isConnectionLost, isNotPrimary, isRetryableInTransaction, RETRYABLE_IN_TRANSACTION } from './errors.js';

const queries = counter('dataplane_pg_queries_total', 'Statements sent by the PostgreSQL client library', ['pool', 'outcome']);
const queryDuration = histogram('dataplane_pg_query_duration_seconds', 'Statement latency seen by the client library', ['pool']);
const retries = counter('dataplane_pg_retries_total', 'Transactions and statements retried, by reason', ['pool', 'reason']);
const acquireDuration = histogram('dataplane_pg_pool_acquire_seconds', 'Time waiting for a pooled connection (a long tail means the pool is too small)', ['pool']);

/** Pools of this process, for the usage gauge; a closed Database leaves the set. */
const openPools = new Set<Database>();
gauge('dataplane_pg_pool_connections', 'Pooled connections by state (total, idle, waiting = callers queued for one) and the pool maximum', ['pool', 'state'], function () {
  this.reset();
  for (const db of openPools) {
    const labels = (state: string) => ({ pool: db.name, state });
    this.inc(labels('total'), db.pool.totalCount);
    this.inc(labels('idle'), db.pool.idleCount);
    this.inc(labels('waiting'), db.pool.waitingCount);
    this.inc(labels('max'), db.pool.options.max ?? 10);
  }
});

/** Pool settings when neither the options nor a config give them: the schema's defaults. */
const CLIENT_DEFAULTS = postgresClient.parse({});

export interface PostgresOptions {
  /** The stack (config and secrets, resolved once: resolveAccess); connect as `user`, one of its logins. */
  access?: Access;
  user?: string;
  /** Or an explicit connection string (with sslmode/sslrootcert as `dataplane credentials` prints). */
  url?: string;
  /** PEM of the CA, when `url` is used with TLS. */
  ca?: string;
  /** Pool size; default postgres.client.poolSize. */
  max?: number;
  /** Per-session statement_timeout in ms; default: the role's own. */
  statementTimeoutMs?: number;
  applicationName?: string;
  /** Retries of retryable failures; default postgres.client.retries. */
  retries?: number;
  /** Label in metrics; default the user. */
  name?: string;
  /** Connections dropped while idle (besides dataplane_connection_errors_total); default: access.onConnectionError. */
  onConnectionError?: ConnectionErrorHook;
}

/** What a transaction body gets: one connection, inside BEGIN ... COMMIT. */
export interface Tx {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface QueryOptions {
  /** Retry after a lost connection even if the statement may have run (it must be safe to run twice). */
  idempotent?: boolean;
  /** Rows as arrays of column values: no object per row, for hot paths that read thousands of rows. */
  rowMode?: 'array';
}

export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  readOnly?: boolean;
  /** Sets dataplane.org_id for this transaction only (row-level security, tenant views). */
  tenant?: number | bigint | string;
  /** Attempts after the first; default from the pool. */
  retries?: number;
}

export class RetriesExhaustedError extends DataplaneError {
  readonly code = 'RETRIES_EXHAUSTED';
  constructor(readonly attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts: ${(cause as Error).message}`, { cause, hint: 'contention (serialization failures, deadlocks) or a server that keeps dropping connections' });
  }
}

function endpointOf(opts: PostgresOptions): PgEndpoint {
  if (opts.url) return { connectionString: opts.url, ...(opts.ca ? { ssl: { ca: opts.ca, rejectUnauthorized: true } } : {}) };
  if (!opts.access || !opts.user) throw new InvalidArgumentError('connectPostgres needs { access, user } or { url }');
  if (!opts.access.secrets.postgres?.[opts.user]) {
    throw new InvalidArgumentError(`the stack has no PostgreSQL login ${opts.user}`, { hint: '`dataplane credentials postgres` lists them' });
  }
  return pgEndpoint(opts.access, opts.user);
}

export class Database {
  readonly pool: pg.Pool;
  readonly name: string;
  private readonly retryLimit: number;
  private readonly failoverWindowMs: number;

  constructor(opts: PostgresOptions) {
    const client = opts.access?.config.postgres.client ?? CLIENT_DEFAULTS;
    this.name = opts.name ?? opts.user ?? 'default';
    // A connection that dies (server restart, terminated backend) must not crash the
    // process: the pending query rejects, the pool drops the client, the factory counts it.
    this.pool = pgPool(endpointOf(opts), {
      client: opts.applicationName ?? 'dataplane-client',
      max: opts.max ?? client.poolSize,
      connectTimeoutMs: client.connectTimeoutMs,
      idleTimeoutMs: client.idleTimeoutMs,
      statementTimeoutMs: opts.statementTimeoutMs,
      onConnectionError: opts.onConnectionError ?? opts.access?.onConnectionError,
    });
    this.retryLimit = opts.retries ?? client.retries;
    this.failoverWindowMs = client.failoverWindowMs;
    openPools.add(this);
  }

  /** A pooled connection, timed: waits here are the first sign of an undersized pool. */
  async acquire(): Promise<pg.PoolClient> {
    const stop = acquireDuration.startTimer({ pool: this.name });
    try {
      return await this.pool.connect();
    } finally {
      stop();
    }
  }

  /**
   * One statement on any pooled connection. Retried only when it was never sent
   * (no connection could be had), or when the caller declares it `idempotent`.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], opts: QueryOptions = {}): Promise<pg.QueryResult<R>> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.acquire();
      } catch (e) {
        if (this.mayRetry(attempt, this.retryLimit, started) && isConnectionLost(e)) {
          retries.inc({ pool: this.name, reason: 'connect' });
          await sleep(backoffMs(attempt));
          continue;
        }
        throw e;
      }
      const stop = queryDuration.startTimer({ pool: this.name });
      try {
        const r = opts.rowMode === 'array' ? ((await client.query({ text: sql, values: params, rowMode: 'array' })) as unknown as pg.QueryResult<R>) : await client.query<R>(sql, params);
        client.release();
        queries.inc({ pool: this.name, outcome: 'ok' });
        return r;
      } catch (e) {
        const lost = isConnectionLost(e);
        client.release(lost ? (e as Error) : undefined);
        queries.inc({ pool: this.name, outcome: 'error' });
        if (lost && opts.idempotent && this.mayRetry(attempt, this.retryLimit, started)) {
          retries.inc({ pool: this.name, reason: 'connection lost' });
          await sleep(backoffMs(attempt));
          continue;
        }
        throw e;
      } finally {
        stop();
      }
    }
  }

  /**
   * Run `fn` in a transaction on one connection. The whole transaction runs again
   * after a serialization failure, a deadlock, or a connection lost before COMMIT
   * was sent: in each case the server rolled it back, so nothing took effect twice.
   * A connection lost during COMMIT is never retried: its outcome is unknown.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    const limit = opts.retries ?? this.retryLimit;
    const started = Date.now();
    let last: unknown;
    let attempt = 0;
    for (; ; attempt++) {
      if (attempt > 0) await sleep(backoffMs(attempt - 1));
      let client: pg.PoolClient | undefined;
      let committing = false;
      try {
        client = await this.acquire();
        const c = client;
        await c.query(`begin${opts.isolation ? ` isolation level ${opts.isolation}` : ''}${opts.readOnly ? ' read only' : ''}`);
        if (opts.tenant !== undefined) await c.query("select set_config('dataplane.org_id', $1, true)", [String(opts.tenant)]);
        const tx: Tx = { query: (sql, params) => this.timed(() => c.query(sql, params)) };
        const result = await fn(tx);
        committing = true;
        await c.query('commit');
        client.release();
        return result;
      } catch (e) {
        last = e;
        const lost = isConnectionLost(e);
        if (client) {
          if (!lost) await client.query('rollback').catch(() => {});
          client.release(lost ? (e as Error) : undefined);
        }
        const reason = isRetryableInTransaction(e);
        if (reason && attempt < limit) {
          retries.inc({ pool: this.name, reason: RETRYABLE_IN_TRANSACTION[reason] });
          continue;
        }
        // A failover: the connection dropped before COMMIT, or a demoted primary refused the write.
        const failover = (lost && !committing) || isNotPrimary(e);
        if (failover && this.mayRetry(attempt, limit, started)) {
          retries.inc({ pool: this.name, reason: lost ? 'connection lost' : 'not the primary' });
          continue;
        }
        if (reason || failover) break;
        throw e;
      }
    }
    throw new RetriesExhaustedError(attempt + 1, last);
  }

  /** Within `retries`, or, for failures a failover causes, within postgres.client.failoverWindowMs. */
  private mayRetry(attempt: number, limit: number, started: number): boolean {
    return attempt < limit || Date.now() - started < this.failoverWindowMs;
  }

  /** A transaction in the tenant's context: RLS policies and tenant_* views see only `orgId`. */
  withTenant<T>(orgId: number | bigint | string, fn: (tx: Tx) => Promise<T>, opts: Omit<TransactionOptions, 'tenant'> = {}): Promise<T> {
    return this.transaction(fn, { ...opts, tenant: orgId });
  }

  private async timed<R>(run: () => Promise<R>): Promise<R> {
    const stop = queryDuration.startTimer({ pool: this.name });
    try {
      const r = await run();
      queries.inc({ pool: this.name, outcome: 'ok' });
      return r;
    } catch (e) {
      queries.inc({ pool: this.name, outcome: 'error' });
      throw e;
    } finally {
      stop();
    }
  }

  close(): Promise<void> {
    openPools.delete(this);
    return this.pool.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function connectPostgres(opts: PostgresOptions): Database {
  return new Database(opts);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
