/** Reading the time-series catalog, and running the native engine's maintenance. */
import type { MigrationClient } from './migrations.js';

export interface TimeseriesTable {
  table: string;
  engine: 'timescaledb' | 'native';
  chunkInterval: string;
  retention: string | null;
  compressAfter: string | null;
  rollups: { name: string; engine: 'continuous_aggregate' | 'table'; bucket: string }[];
}

/** PostgreSQL's interval text ("7 days", "01:00:00") as people write it ("7 days", "1 hour"). */
export function humanInterval(text: string | null): string | null {
  if (text === null) return null;
  const m = /^(.*?)(-?\d+):(\d\d):(\d\d)$/.exec(text.trim());
  if (!m) return text;
  const parts = m[1]!.trim() ? [m[1]!.trim()] : [];
  const units: [number, string][] = [[Number(m[2]), 'hour'], [Number(m[3]), 'minute'], [Number(m[4]), 'second']];
  for (const [n, unit] of units) if (n) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  return parts.join(' ') || '0 seconds';
}

/** Empty when the database has no dataplane time-series API (not migrated). */
export async function listTimeseries(db: MigrationClient): Promise<TimeseriesTable[]> {
  const exists = await db.query<{ t: string | null }>("select to_regclass('dataplane.timeseries')::text as t");
  if (!exists.rows[0]?.t) return [];
  const tables = await db.query<{ s: string; t: string; engine: TimeseriesTable['engine']; chunk: string; retention: string | null; compress: string | null }>(
    `select schema_name as s, table_name as t, engine, chunk_interval::text as chunk, retention::text as retention, compress_after::text as compress
       from dataplane.timeseries order by 1, 2`,
  );
  const rollups = await db.query<{ ss: string; st: string; s: string; r: string; engine: 'continuous_aggregate' | 'table'; bucket: string }>(
    `select source_schema as ss, source_table as st, schema_name as s, rollup_name as r, engine, bucket::text as bucket
       from dataplane.rollups order by bucket, 3, 4`,
  );
  return tables.rows.map((row) => ({
    table: `${row.s}.${row.t}`,
    engine: row.engine,
    chunkInterval: humanInterval(row.chunk)!,
    retention: humanInterval(row.retention),
    compressAfter: humanInterval(row.compress),
    rollups: rollups.rows.filter((r) => r.ss === row.s && r.st === row.t).map((r) => ({ name: `${r.s}.${r.r}`, engine: r.engine, bucket: humanInterval(r.bucket)! })),
  }));
}

/** CALL dataplane.run_maintenance() when the API is installed; returns false when it is not. */
export async function runMaintenance(db: MigrationClient): Promise<boolean> {
  const exists = await db.query<{ p: string | null }>("select to_regprocedure('dataplane.run_maintenance(timestamptz)')::text as p");
  if (!exists.rows[0]?.p) return false;
  await db.query('call dataplane.run_maintenance()');
  return true;
}
