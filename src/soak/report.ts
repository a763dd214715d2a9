/**
 * The soak report: report.json (everything), summary.md (what a person reads first) and
 * report.html (one self-contained page: the ledger, then charts of throughput, latency and
 * resources over time with the faults marked).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatValue, lineChart, type Line } from './charts.js';
import type { LedgerCheck } from './ledger.js';
import type { FaultMark } from './series.js';
import type { SoakResult } from './run.js';
import { ingestBatchRows } from './telemetry.js';
import type { Rates } from './workload.js';

/** The workload's target rates in words. */
export function ratesText(rates: Rates): string {
  return `${rates.writes} writes/s (each with its event), ${rates.cache} cache writes/s, ${rates.telemetry} telemetry rows/s by COPY, ${rates.queries} analytics queries/s`;
}

/** The ledger's verdict in one sentence. */
export function verdictText(c: LedgerCheck): string {
  return (
    `${c.ok ? 'Ledger clean' : 'LEDGER VIOLATED'}: ${c.rows.acknowledged} rows acknowledged, ${c.rows.lost.length} lost; ` +
    `${c.effects.missing.length} events not applied, ${c.effects.duplicated.length} applied twice; ` +
    `${c.deadLetters.sent - c.deadLetters.missing.length}/${c.deadLetters.sent} malformed events dead-lettered; ` +
    `${c.telemetry.batches} telemetry batches (${c.telemetry.rows} rows), ${c.telemetry.lostBatches.length} lost, ${c.telemetry.duplicatedBatches.length} written twice; ` +
    `${c.cache.lost.length}/${c.cache.written} cache keys lost` +
    c.unreadable.map((u) => `; could not read ${u.what}: ${u.reason}`).join('')
  );
}

/**
 * Per operation, the longest stretch without a success that overlaps the fault (from its
 * start to a few seconds after its target answered again), longest first.
 */
export function longestStalls(r: Pick<SoakResult, 'stalls' | 'durationSec'>, f: FaultMark): { op: string; seconds: number }[] {
  const end = (f.recoveredAt ?? r.durationSec) + 5;
  const longest = new Map<string, number>();
  for (const s of r.stalls) {
    if (s.to < f.at || s.from > end) continue;
    longest.set(s.op, Math.max(longest.get(s.op) ?? 0, Math.round((s.to - s.from) * 10) / 10));
  }
  return [...longest.entries()].map(([op, seconds]) => ({ op, seconds })).sort((a, b) => b.seconds - a.seconds);
}

export function summaryMarkdown(r: SoakResult): string {
  const c = r.check;
  const list = (xs: (string | number)[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 20).join(', ')}${xs.length > 20 ? ' ...' : ''}` : '0');
  return [
    `# Soak run ${r.startedAt}`,
    '',
    `${r.durationSec} s at ${ratesText(r.rates)}; ${r.faults.length} fault(s). **${c.ok ? 'Ledger clean' : 'LEDGER VIOLATED'}.**`,
    '',
    '## Ledger',
    '',
    '| check | count | must be |',
    '| --- | --- | --- |',
    `| rows acknowledged | ${c.rows.acknowledged} | |`,
    `| acknowledged rows lost | ${list(c.rows.lost)} | 0 |`,
    `| events not applied | ${list(c.effects.missing)} | 0 |`,
    `| events applied twice | ${list(c.effects.duplicated)} | 0 |`,
    `| malformed events sent | ${c.deadLetters.sent} | |`,
    `| malformed events not dead-lettered | ${list(c.deadLetters.missing)} | 0 |`,
    `| telemetry batches acknowledged (rows) | ${c.telemetry.batches} (${c.telemetry.rows}) | |`,
    `| telemetry batches lost | ${list(c.telemetry.lostBatches)} | 0 |`,
    `| telemetry batches written twice | ${list(c.telemetry.duplicatedBatches)} | 0 |`,
    `| cache keys written | ${c.cache.written} | |`,
    `| cache writes lost | ${list(c.cache.lost)} | counted: Redis fsyncs every second (appendfsync everysec) |`,
    '',
    '## Faults',
    '',
    '| fault | target | at (s) | answering again (s) | longest stall per operation (s) |',
    '| --- | --- | --- | --- | --- |',
    ...r.faults.map((f) => `| ${f.kind} | ${f.target} | ${f.at} | ${f.recoveredAt ?? 'not during the run'} | ${longestStalls(r, f).map((s) => `${s.op} ${s.seconds}`).join(', ') || 'none over 1 s'} |`),
    '',
    '## Growth at constant load',
    '',
    ...(r.growth.length ? r.growth.map((g) => `- ${g.what}: +${formatValue(g.perMinute, g.unit === 'bytes' ? 'bytes' : 'files')} per minute`) : ['None found (memory and open files of every process, disk used by every data area, second half of the run).']),
    '',
    '## Operations',
    '',
    '| operation | ok | errors |',
    '| --- | --- | --- |',
    ...Object.entries(r.totals).map(([op, t]) => `| ${op} | ${t.ok} | ${t.errors} |`),
    '',
  ].join('\n');
}

export function reportHtml(r: SoakResult): string {
  const ops = [...new Set(r.buckets.flatMap((b) => Object.keys(b.ops)))];
  const bucketSec = r.bucketSec;
  type Ops = SoakResult['buckets'][number]['ops'][string];
  // Latency exists only where the operation succeeded; a rate is 0 where it did not.
  const perOp = (f: (o: Ops) => number): Line[] =>
    ops.map((op) => ({ name: op, points: r.buckets.filter((b) => b.ops[op]).map((b) => ({ t: b.t + bucketSec / 2, y: f(b.ops[op]!) })) }));
  const full = r.buckets.filter((b) => b.t + bucketSec <= r.durationSec);
  const rate = (op: string, per: number) => ({ name: op, points: full.map((b) => ({ t: b.t + bucketSec / 2, y: ((b.ops[op]?.ok ?? 0) * per) / bucketSec })) });
  const errors: Line[] = ops.map((op) => ({ name: op, points: r.buckets.map((b) => ({ t: b.t + bucketSec / 2, y: Object.values(b.ops[op]?.errors ?? {}).reduce((a, c) => a + c, 0) })) }));
  const names = [...new Set(r.resources.flatMap((s) => Object.keys(s.processes)))];
  const proc = (k: 'memoryBytes' | 'cpuPct' | 'openFiles'): Line[] => names.map((n) => ({ name: n, points: r.resources.filter((s) => s.processes[n]).map((s) => ({ t: s.t, y: s.processes[n]![k] })) }));
  const areas = [...new Set(r.resources.flatMap((s) => Object.keys(s.diskBytes)))];
  const disk: Line[] = areas.map((a) => ({ name: a, points: r.resources.map((s) => ({ t: s.t, y: s.diskBytes[a] ?? 0 })) }));
  const server = (k: Exclude<keyof SoakResult['servers'][number], 't'>, name: string): Line => ({ name, points: r.servers.filter((s) => s[k] !== undefined).map((s) => ({ t: s.t, y: s[k]! })) });
  // One time axis for every chart, so a fault's band sits at the same place in each.
  const span = Math.max(r.durationSec, ...r.buckets.map((b) => b.t + bucketSec), ...r.resources.map((s) => s.t));
  const chart = (title: string, lines: Line[], unit: string) => lineChart(title, lines, { unit, durationSec: span, faults: r.faults });
  const md = summaryMarkdown(r);
  const c = r.check;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Soak run ${esc(r.startedAt)}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#111827}h1{font-size:20px}.verdict{padding:8px 12px;border-radius:6px;font-weight:600;display:inline-block}
.ok{background:#dcfce7;color:#166534}.bad{background:#fee2e2;color:#991b1b}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}svg{display:block;margin:12px 0}</style></head>
<body><h1>Soak run ${esc(r.startedAt)}</h1>
<p>${r.durationSec} s at ${esc(ratesText(r.rates))}; ${r.faults.length} fault(s), shaded from start to recovery.</p>
<p class="verdict ${c.ok ? 'ok' : 'bad'}">${esc(verdictText(c))}</p>
${chart('Throughput (operations per second)', ops.filter((op) => op !== 'ingest').map((op) => rate(op, 1)), '/s')}
${chart('Telemetry ingest (rows per second, by COPY)', [rate('ingest', ingestBatchRows(r.rates.telemetry))], '/s')}
${chart('Latency p99 (ms)', perOp((o) => o.p99Ms), 'ms')}
${chart('Errors per bucket', errors, '')}
${chart('Memory per process with its children (PSS)', proc('memoryBytes'), 'bytes')}
${chart('CPU per process with its children (% of one core)', proc('cpuPct'), '%')}
${chart('Open files per process', proc('openFiles'), '')}
${chart('Disk used per data area', disk, 'bytes')}
${chart('WAL written per second (PostgreSQL)', [server('walBytesPerSec', 'WAL')], 'bytes')}
${chart('Server storage: database size, Redis memory, JetStream storage', [server('databaseBytes', 'postgres database'), server('redisMemoryBytes', 'redis used memory'), server('jetstreamStorageBytes', 'jetstream storage')], 'bytes')}
<pre style="white-space:pre-wrap;background:#f9fafb;padding:12px">${esc(md)}</pre>
</body></html>
`;
}

/** Write report.json, summary.md and report.html into `dir`; returns their paths. */
export function writeReport(dir: string, r: SoakResult): string[] {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const md = path.join(dir, 'summary.md');
  const html = path.join(dir, 'report.html');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, summaryMarkdown(r));
  writeFileSync(html, reportHtml(r));
  return [json, md, html];
}
