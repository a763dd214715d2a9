/**
 * The soak's time-series part, as a telemetry service and its dashboards use the stack:
 * samples streamed into telemetry.measurements with COPY (as the ingest role), and the
 * documented analytics queries (docs/schema.md): the last hour of one source from the raw
 * table, its latest values, and the 1-minute and 1-hour rollups.
 *
 * Each COPY batch is one ledger entry: its rows carry the batch number in their value
 * (batch * 1e6 + row), so the check counts every batch's rows on the server with one
 * aggregate. A COPY is atomic: a batch is there whole or not at all, and once more would
 * be a duplicate.
 */
import type { Access } from '../connect/access.js';
import { connectPostgres, type Database } from '../postgres/database.js';
import { createIngestor, type Ingestor } from '../postgres/ingest.js';
import type { Ledger } from './ledger.js';
import { kindOf, paced } from './pacing.js';
import type { Series } from './series.js';

export const SOAK_ORG = 'soak';
const SOURCES = 20;
const METRICS = ['soak.temperature', 'soak.pressure', 'soak.flow', 'soak.power'];
/** Rows per batch: the batch number lives above this in each row's value. */
const ROW_SPAN = 1_000_000;

/** COPY batches per second at a given row rate: two a second, as a service that flushes every 500 ms. */
export function ingestBatchRows(rowsPerSec: number): number {
  return Math.max(1, Math.min(ROW_SPAN - 1, Math.round(rowsPerSec / 2)));
}

interface Catalog {
  orgId: number;
  sources: number[];
  metrics: number[];
}

const HOUR = 3_600_000;

/**
 * The documented queries, each as the role an application would use for it, with the time
 * range as parameters as the docs write them (so the planner prunes partitions at plan time).
 */
const QUERIES: { name: string; role: 'app_ro' | 'app_analytics'; tenant: boolean; sql: string; range?: (now: number) => Date[] }[] = [
  {
    name: 'query raw last hour',
    role: 'app_ro',
    tenant: true,
    sql: `select dataplane.bucket('5 minutes', time) as bucket, avg(value) from telemetry.tenant_measurements
           where source_id = $1 and metric_id = $2 and time >= $3 and time < $4 group by 1 order by 1`,
    range: (now) => [new Date(now - HOUR), new Date(now)],
  },
  {
    name: 'query latest values',
    role: 'app_ro',
    tenant: true,
    sql: 'select time, value from telemetry.tenant_measurements where source_id = $1 and metric_id = $2 and time >= $3 order by time desc limit 100',
    range: (now) => [new Date(now - 24 * HOUR)],
  },
  {
    name: 'query rollup 1m',
    role: 'app_analytics',
    tenant: false,
    sql: `select bucket, count, min, max, avg from analytics.measurements_1m
           where source_id = $1 and metric_id = $2 and bucket >= $3 order by bucket`,
    range: (now) => [new Date(now - HOUR)],
  },
  {
    name: 'query rollup 1h',
    role: 'app_analytics',
    tenant: false,
    sql: `select bucket, count, min, max, avg from analytics.measurements_1h
           where source_id = $1 and metric_id = $2 and bucket >= $3 and bucket < $4 order by bucket`,
    range: (now) => [new Date(now - 24 * HOUR), new Date(now)],
  },
];

export class TelemetryWorkload {
  private constructor(
    private readonly catalog: Catalog,
    private readonly ingestDb: Database,
    private readonly readers: Record<'app_ro' | 'app_analytics', Database>,
    private readonly ingestor: Ingestor,
  ) {}

  /**
   * The soak's tenant, sources and metrics (created once, kept between runs); an earlier
   * run's samples are deleted so that batch numbers start afresh.
   */
  static async start(access: Access): Promise<TelemetryWorkload> {
    const owner = connectPostgres({ access, user: access.config.postgres.owner, max: 1 });
    let catalog: Catalog;
    try {
      const org = await owner.query<{ id: string }>(`select coalesce((select id from iam.organizations where slug = $1), iam.create_organization($1, 'Soak runs')) as id`, [SOAK_ORG]);
      const orgId = Number(org.rows[0]!.id);
      await owner.query(`insert into registry.sources (org_id, name, kind) select $1, 'soak-' || g, 'device' from generate_series(1, $2::int) g on conflict (org_id, name) do nothing`, [orgId, SOURCES]);
      await owner.query(`insert into registry.metrics (name, unit, kind) select unnest($1::text[]), '1', 'gauge' on conflict (name) do nothing`, [METRICS]);
      const sources = (await owner.query<{ id: string }>(`select id from registry.sources where org_id = $1 and name like 'soak-%' order by id`, [orgId])).rows.map((r) => Number(r.id));
      const metrics = (await owner.query<{ id: number }>('select id from registry.metrics where name = any($1) order by id', [METRICS])).rows.map((r) => r.id);
      await owner.query('delete from telemetry.measurements where org_id = $1', [orgId]);
      catalog = { orgId, sources, metrics };
    } finally {
      await owner.close();
    }
    const ingestDb = connectPostgres({ access, user: 'app_ingest', max: 1 });
    const ingestor = createIngestor(ingestDb, {
      table: 'telemetry.measurements',
      columns: ['time', 'org_id', 'source_id', 'metric_id', 'value'],
      // Batches are cut by the worker (flush), never by size or time.
      batchRows: ROW_SPAN,
      flushIntervalMs: 3_600_000,
      // A failed batch is counted by the worker; the ingestor must not keep it for close().
      onError: () => {},
    });
    const readers = { app_ro: connectPostgres({ access, user: 'app_ro', max: 2 }), app_analytics: connectPostgres({ access, user: 'app_analytics', max: 2 }) };
    return new TelemetryWorkload(catalog, ingestDb, readers, ingestor);
  }

  /** The ingest worker: `rowsPerSec` rows in two COPY batches a second. */
  ingest(rowsPerSec: number, ledger: Ledger, series: Series, stopping: () => boolean): Promise<void> {
    const rows = ingestBatchRows(rowsPerSec);
    const { orgId, sources, metrics } = this.catalog;
    return paced(rowsPerSec / rows, stopping, async (batch) => {
      const t0 = performance.now();
      const failedBefore = this.ingestor.stats().failedRows;
      const now = Date.now();
      for (let i = 0; i < rows; i++) {
        const wait = this.ingestor.write([new Date(now - (rows - i)), orgId, sources[i % sources.length]!, metrics[(i >> 3) % metrics.length]!, batch * ROW_SPAN + i]);
        if (wait) await wait;
      }
      await this.ingestor.flush();
      // One batch in flight at a time, so a change of failedRows is this batch's.
      if (this.ingestor.stats().failedRows > failedBefore) {
        series.error('ingest', 'copy failed');
        return;
      }
      ledger.telemetry.set(batch, rows);
      series.ok('ingest', performance.now() - t0);
    });
  }

  /** The query worker: the documented queries in turn, `perSec` in all, on random sources and metrics. */
  query(perSec: number, series: Series, stopping: () => boolean): Promise<void> {
    const { orgId, sources, metrics } = this.catalog;
    return paced(perSec, stopping, async (n) => {
      const q = QUERIES[n % QUERIES.length]!;
      const params = [sources[Math.floor(Math.random() * sources.length)]!, metrics[Math.floor(Math.random() * metrics.length)]!, ...(q.range?.(Date.now()) ?? [])];
      const db = this.readers[q.role];
      const t0 = performance.now();
      try {
        if (q.tenant) await db.withTenant(orgId, (tx) => tx.query(q.sql, params), { readOnly: true });
        else await db.query(q.sql, params, { idempotent: true });
        series.ok(q.name, performance.now() - t0);
      } catch (e) {
        series.error(q.name, kindOf(e));
      }
    });
  }

  /** Rows found per batch number, for the ledger check. */
  async batchesPresent(): Promise<Map<number, number>> {
    const r = await this.readers.app_ro.withTenant(
      this.catalog.orgId,
      (tx) => tx.query<{ batch: string; n: number }>(`select floor(value / ${ROW_SPAN})::bigint as batch, count(*)::int as n from telemetry.tenant_measurements group by 1`),
      { readOnly: true },
    );
    return new Map(r.rows.map((x) => [Number(x.batch), x.n]));
  }

  async close(): Promise<void> {
    await this.ingestor.close().catch(() => undefined);
    await Promise.all([this.ingestDb.close(), this.readers.app_ro.close(), this.readers.app_analytics.close()]);
  }
}
