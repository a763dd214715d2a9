/** The soak report: report.json (everything) and summary.md (what a person reads first). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SoakResult } from './run.js';

export function summaryMarkdown(r: SoakResult): string {
  const c = r.check;
  const list = (xs: (string | number)[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 20).join(', ')}${xs.length > 20 ? ' ...' : ''}` : '0');
  return [
    `# Soak run ${r.startedAt}`,
    '',
    `${r.durationSec} s at ${r.rates.writes} writes/s and ${r.rates.cache} cache writes/s; ${r.faults.length} fault(s). **${c.ok ? 'Ledger clean' : 'LEDGER VIOLATED'}.**`,
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
    `| cache keys written | ${c.cache.written} | |`,
    `| cache writes lost | ${list(c.cache.lost)} | counted: Redis fsyncs every second (appendfsync everysec) |`,
    '',
    '## Faults',
    '',
    '| fault | target | at (s) | answering again (s) |',
    '| --- | --- | --- | --- |',
    ...r.faults.map((f) => `| ${f.kind} | ${f.target} | ${f.at} | ${f.recoveredAt ?? 'not during the run'} |`),
    '',
    '## Operations',
    '',
    '| operation | ok | errors |',
    '| --- | --- | --- |',
    ...Object.entries(r.totals).map(([op, t]) => `| ${op} | ${t.ok} | ${t.errors} |`),
    '',
  ].join('\n');
}

/** Write report.json and summary.md into `dir`; returns their paths. */
export function writeReport(dir: string, r: SoakResult): string[] {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const md = path.join(dir, 'summary.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, summaryMarkdown(r));
  return [json, md];
}
