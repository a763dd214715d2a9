/**
 * Start and probes: how long `dataplane up --detach` takes on an empty state folder
 * (initdb, migrations, monitoring) and on an existing one, and the probe latency
 * `dataplane status --json` reports per server. Absolute figures against the issue's
 * targets; there is no reference tool. Runs the CLI as a user would, in a temporary
 * folder with the default configuration (its ports must be free: `up` names any
 * that is not, with its setting).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/lib/package-root.js';
import { median, progress } from './harness.js';

const CLI = path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');

export interface AbsoluteFigure {
  name: string;
  unit: 's' | 'ms';
  values: number[];
  /** At most this (lower is better). */
  target: number;
}

function cli(cwd: string, args: string[]): { seconds: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`dataplane ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`);
  return { seconds, stdout: r.stdout };
}

export function benchStart({ rounds }: { rounds: number }): AbsoluteFigure[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-bench-start-'));
  const cold: number[] = [];
  const warm: number[] = [];
  const probes = new Map<string, number[]>();
  try {
    progress('start: cold (empty state folder)');
    cold.push(cli(dir, ['up', '--detach']).seconds);
    cli(dir, ['down']);
    // Round 0 warms the page cache and is not counted.
    for (let round = 0; round <= rounds; round++) {
      const s = cli(dir, ['up', '--detach']).seconds;
      progress(`start: warm ${round === 0 ? '(warm-up, not counted)' : `${round}/${rounds}`}: ${s.toFixed(2)} s`);
      if (round > 0) {
        warm.push(s);
        for (let i = 0; i < 3; i++) {
          type Row = { service: string; latencyMs: number | null };
          const status = JSON.parse(cli(dir, ['status', '--json']).stdout) as Row[] | { services: Row[] };
          for (const svc of Array.isArray(status) ? status : status.services) if (svc.latencyMs !== null) probes.set(svc.service, [...(probes.get(svc.service) ?? []), svc.latencyMs]);
        }
      }
      cli(dir, ['down']);
    }
  } finally {
    spawnSync(process.execPath, [CLI, 'down'], { cwd: dir, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    { name: 'cold start: `up --detach` on an empty state folder (initdb, migrations, monitoring)', unit: 's', values: cold, target: 8 },
    { name: 'warm start: `up --detach` on an existing state folder', unit: 's', values: warm, target: 3 },
    ...[...probes].map(([service, values]) => ({ name: `probe latency, ${service} (\`status --json\`: the supervisor's probe, on its kept login for the data servers)`, unit: 'ms' as const, values, target: 20 })),
  ];
}

export function startMarkdown(figures: AbsoluteFigure[], runDate: string): string {
  const fmt = (v: number, unit: string) => (unit === 's' ? `${v.toFixed(2)} s` : `${v.toFixed(1)} ms`);
  const rows = figures.map((f) => {
    const m = median(f.values);
    return `| ${f.name} | ${fmt(m, f.unit)} (${fmt(Math.min(...f.values), f.unit)}–${fmt(Math.max(...f.values), f.unit)}) | ≤ ${f.target} ${f.unit} | ${m <= f.target ? '✓' : '✗'} |`;
  });
  const missed = figures.filter((f) => median(f.values) > f.target);
  return `<!-- start:begin (written by \`npm run bench -- --only start\`) -->
## Start and probes

Run ${runDate}: \`dataplane up --detach\` in a temporary folder with the default configuration
(monitoring on), timed from the command's start to its exit; then \`status --json\` three times per
warm start. Its probe latencies are the supervisor's (\`/readyz\`): a round trip on the login it keeps
for PostgreSQL, Redis and NATS, an HTTP request for the others (docs/operations.md, "Probes"). Medians with the spread (min–max). ${figures.length - missed.length} of ${figures.length} targets met${missed.length ? `; missed: ${missed.map((f) => `${f.name.split(':')[0]!.split(' (')[0]} ${fmt(median(f.values), f.unit)}`).join('; ')}` : ''}.

| figure | median (min–max) | target | |
| --- | --- | --- | --- |
${rows.join('\n')}
<!-- start:end -->`;
}
