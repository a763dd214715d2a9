/** `dataplane soak`: the stack under a steady mixed workload while faults happen, checked against a ledger. */
import path from 'node:path';
import type { Command } from 'commander';
import type { Access } from '../../connect/access.js';
import { UsageError } from '../../errors/index.js';
import { durationMs, type Duration } from '../../lib/durations.js';
import { defaultSchedule, loadSchedule, type Fault } from '../../soak/faults.js';
import { writeReport } from '../../soak/report.js';
import { runSoak } from '../../soak/run.js';
import { startEphemeralStack, type EphemeralStack } from '../../stack/ephemeral.js';
import { accessFor } from '../context.js';
import { printJson } from '../output.js';

interface SoakCliOptions {
  duration: string;
  writes: string;
  cache: string;
  malformedEvery: string;
  faults: string;
  out?: string;
  ephemeral?: boolean;
  json?: boolean;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} expects a number of 0 or more, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('soak')
    .description('run a steady mixed workload (rows with outbox events, an idempotent consumer, dead letters, cache writes) while servers are killed and frozen; then check every acknowledged write against the servers (exit 1 when one is lost or applied twice)')
    .option('--duration <time>', 'how long the workload runs, e.g. 60s, 30m', '60s')
    .option('--writes <per-second>', 'committed rows (each with its event) per second', '50')
    .option('--cache <per-second>', 'cache writes per second', '200')
    .option('--malformed-every <n>', 'one write in n also commits a malformed event that must be dead-lettered (0: none)', '50')
    .option('--faults <schedule>', '"default" (SIGKILL, then SIGSTOP for 5 s, of each server in turn), "none", or a JSON file: [{ "atSec": 30, "kind": "kill" | "pause", "target": "postgres", "pauseSec": 5 }]', 'default')
    .option('--out <dir>', 'where report.json and summary.md go (default soak-<time> in the current folder)')
    .option('--ephemeral', 'start a throw-away stack for the run (temporary folder, free ports) instead of using the running one')
    .option('--json', 'print the result as JSON instead of the summary')
    .action(async (opts: SoakCliOptions, cmd: Command) => {
      const durationSec = durationMs(opts.duration as Duration) / 1000;
      if (!(durationSec > 0)) throw new UsageError(`--duration expects a time such as 60s or 30m, got "${opts.duration}"`);
      const rates = { writes: positive('writes', opts.writes), cache: positive('cache', opts.cache), malformedEvery: positive('malformed-every', opts.malformedEvery) };
      let stack: EphemeralStack | undefined;
      let access: Access;
      if (opts.ephemeral) {
        process.stderr.write('• starting a throw-away stack\n');
        stack = await startEphemeralStack();
        access = stack.access;
      } else access = accessFor(cmd).access;
      try {
        const faults: Fault[] = opts.faults === 'default' ? defaultSchedule(access.config, durationSec) : opts.faults === 'none' ? [] : loadSchedule(opts.faults);
        process.stderr.write(`• soak: ${durationSec} s, ${rates.writes} writes/s, ${rates.cache} cache writes/s, ${faults.length} fault(s)\n`);
        const result = await runSoak(access, { durationSec, rates, faults, onProgress: (m) => process.stderr.write(`• ${m}\n`) });
        const out = path.resolve(opts.out ?? `soak-${result.startedAt.replace(/[:.]/g, '-')}`);
        const files = writeReport(out, result);
        if (opts.json) printJson(result);
        else {
          const c = result.check;
          process.stdout.write(
            `${c.ok ? 'ledger clean' : 'LEDGER VIOLATED'}: ${c.rows.acknowledged} rows acknowledged, ${c.rows.lost.length} lost; ${c.effects.missing.length} events not applied, ${c.effects.duplicated.length} applied twice; ` +
              `${c.deadLetters.sent - c.deadLetters.missing.length}/${c.deadLetters.sent} malformed events dead-lettered; ${c.cache.lost.length}/${c.cache.written} cache keys lost\nreport: ${files.join(', ')}\n`,
          );
        }
        if (!result.check.ok) process.exitCode = 1;
      } finally {
        await stack?.stop();
      }
    });
}
