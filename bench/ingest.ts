/**
 * Ingest: rows/s of the library's COPY ingest into telemetry.measurements against
 * psql's \copy of the identical rows (a CSV file) into the same table, same role,
 * same TLS connection settings (the secured setup `up` runs). 1M rows over two daily
 * partitions, 20 sources x 5 metrics, references checked on both sides. psql copies into
 * the table, as a user of psql would; the library copies each batch that falls into one
 * day into that day's partition (docs/library.md), which the database lets it do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectPostgres, type Database } from '../src/postgres/database.js';
import { createIngestor } from '../src/postgres/ingest.js';
import type { EphemeralStack } from '../src/testing.js';
import { interleave, progress, series, watchCpu, type Comparison, type Series } from './harness.js';

const ROWS = 1_000_000;

interface Ctx {
  stack: EphemeralStack;
  rounds: number;
}

/**
 * The CSV files psql reads. A function of its own: the million lines are garbage once
 * written, where a local of the async bench would stay live through every run and make
 * each of the library's garbage collections walk them (its CPU doubled with two connections).
 */
function writeCsv(rows: [Date, number, number, number, number][], csv: string, half: string[]): void {
  const lines = rows.map((r) => `${r[0].toISOString()},${r[1]},${r[2]},${r[3]},${r[4]}`);
  writeFileSync(csv, lines.join('\n') + '\n');
  writeFileSync(half[0]!, lines.slice(0, ROWS / 2).join('\n') + '\n');
  writeFileSync(half[1]!, lines.slice(ROWS / 2).join('\n') + '\n');
}

export async function benchIngest({ stack, rounds }: Ctx): Promise<Comparison[]> {
  const { access } = stack;
  const config = access.config;
  const owner = connectPostgres({ access, user: config.postgres.owner, max: 2 });
  const org = Number((await owner.query<{ id: string }>("select iam.create_organization('bench', 'Bench') as id")).rows[0]!.id);
  await owner.query("insert into registry.metrics (name, unit, kind) select 'bench.m' || g, '1', 'gauge' from generate_series(1, 5) g");
  const metrics = (await owner.query<{ id: number }>("select id from registry.metrics where name like 'bench.m%' order by id")).rows.map((r) => r.id);
  const sources = (await owner.query<{ id: string }>("insert into registry.sources (org_id, name, kind) select $1, 'bench-' || g, 'device' from generate_series(1, 20) g returning id", [org])).rows.map((r) => Number(r.id));

  // The same rows for both: two UTC days ending an hour ago, spread over 20 x 5 series.
  const end = Date.now() - 3_600_000;
  const start = end - 2 * 86_400_000;
  const step = (end - start) / ROWS;
  progress(`generating ${ROWS.toLocaleString()} rows`);
  const rows: [Date, number, number, number, number][] = new Array(ROWS);
  for (let i = 0; i < ROWS; i++) rows[i] = [new Date(Math.floor(start + i * step)), org, sources[i % 20]!, metrics[Math.floor(i / 20) % 5]!, (i % 1000) / 8];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-bench-'));
  const csv = path.join(dir, 'rows.csv');
  const half = [path.join(dir, 'a.csv'), path.join(dir, 'b.csv')];
  writeCsv(rows, csv, half);

  const cred = stack.credentials.find((c) => c.service === 'postgres' && c.user === 'app_ingest')!;
  const url = `postgresql://${cred.user}@${cred.host}:${cred.port}/${cred.database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(cred.caFile!)}`;
  const pgEnv = { ...process.env, PGPASSWORD: cred.password }; // the environment, never argv
  // A checkpoint before each run: otherwise one falls due (max_wal_size) in the middle of some
  // runs and not others, and its full-page writes double those runs' WAL.
  const superuser = connectPostgres({ access, user: config.postgres.superuser, max: 1 });
  const truncate = async () => {
    await owner.query('truncate telemetry.measurements');
    await superuser.query('checkpoint');
  };
  const pgPid = stack.supervisor.snapshot().find((s) => s.name === 'postgres')!.pid!;

  const psqlCopy = (file: string) =>
    new Promise<void>((resolve, reject) => {
      const r = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', `\\copy telemetry.measurements (time, org_id, source_id, metric_id, value) from '${file}' with (format csv)`], { env: pgEnv, encoding: 'utf8' });
      if (r.status === 0) resolve();
      else reject(new Error(r.stderr));
    });
  const psqlParallel = async () => {
    // Two psql processes, one per half file (and so per partition), concurrently.
    const { spawn } = await import('node:child_process');
    await Promise.all(
      half.map(
        (f) =>
          new Promise<void>((resolve, reject) => {
            const p = spawn('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', `\\copy telemetry.measurements (time, org_id, source_id, metric_id, value) from '${f}' with (format csv)`], { env: pgEnv, stdio: ['ignore', 'ignore', 'pipe'] });
            let err = '';
            p.stderr.on('data', (d: Buffer) => (err += d.toString()));
            p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err))));
          }),
      ),
    );
  };
  const library = async (connections: number, format: 'auto' | 'text' = 'auto') => {
    const db: Database = connectPostgres({ access, user: 'app_ingest', max: connections });
    const ing = createIngestor(db, { table: 'telemetry.measurements', columns: ['time', 'org_id', 'source_id', 'metric_id', 'value'], batchRows: 50_000, connections, format });
    for (const r of rows) {
      const wait = ing.write(r);
      if (wait) await wait;
    }
    await ing.close();
    await db.close();
  };

  /** One timed ingest of every row, checked by a count; CPU over the run itself. */
  const timed = (label: string, fn: () => Promise<void>) => async () => {
    const stop = watchCpu({ postgres: pgPid }, 'psql');
    const t0 = performance.now();
    await fn();
    const s = (performance.now() - t0) / 1000;
    const count = Number((await owner.query<{ n: string }>('select count(*) as n from telemetry.measurements')).rows[0]!.n);
    if (count !== ROWS) throw new Error(`${label}: ${count} rows instead of ${ROWS}`);
    return { rate: ROWS / s, cpu: stop(s) };
  };
  const side = (label: string, into: Series, fn: () => Promise<void>) => ({ label, into, before: truncate, run: timed(label, fn) });
  const psql1 = series();
  const ours1 = series();
  const ours2 = series();
  const psql2 = series();
  const text1 = series();
  await interleave('ingest', rounds, [
    [side('psql \\copy', psql1, () => psqlCopy(csv)), side('library COPY, 1 connection', ours1, () => library(1))],
    [side('2 x psql \\copy', psql2, psqlParallel), side('library COPY, 2 connections', ours2, () => library(2))],
    [side('library COPY, text format, 1 connection', text1, () => library(1, 'text'))],
  ]);
  await truncate();
  await owner.close();
  await superuser.close();
  rmSync(dir, { recursive: true, force: true });
  const pair = (ours: Series, ref: Series) => ({ oursRates: ours.rates, refRates: ref.rates, oursCpu: ours.cpu, refCpu: ref.cpu, unit: 'rows/s', security: 'TLS + SCRAM' });
  return [
    { group: 'ingest', ours: 'library COPY (binary), 1 connection', reference: 'psql \\copy (1 process)', ...pair(ours1, psql1), target: 0.9 },
    { group: 'ingest', ours: 'library COPY (binary), 2 connections', reference: 'psql \\copy (1 process)', ...pair(ours2, psql1), target: 1.6, ceilingRates: psql2.rates, ceilingName: '2 × psql \\copy' },
    { group: 'ingest', ours: 'library COPY (binary), 2 connections', reference: '2 x psql \\copy (half files)', ...pair(ours2, psql2) },
    { group: 'ingest', ours: 'library COPY (text format), 1 connection', reference: 'psql \\copy (1 process)', ...pair(text1, psql1) },
  ];
}
