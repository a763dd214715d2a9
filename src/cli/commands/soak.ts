/** `dataplane soak`: the stack under a steady mixed workload while faults happen, checked against a ledger. */
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Access } from '../../connect/access.js';
import { UsageError } from '../../errors/index.js';
import { durationMs, type Duration } from '../../lib/durations.js';
import { defaultSchedule, loadSchedule, type Fault, type FaultEnvironment } from '../../soak/faults.js';
import { restartSupervisor, startDetachedStack, type DetachedStack } from '../../soak/detached-stack.js';
import { formatSize, parseSize } from '../../lib/sizes.js';
import { ratesText, verdictText, writeReport } from '../../soak/report.js';
import { runSoak } from '../../soak/run.js';
import { accessFor } from '../context.js';
import { printJson } from '../output.js';

interface SoakCliOptions {
  duration: string;
  writes: string;
  cache: string;
  malformedEvery: string;
  telemetry: string;
  queries: string;
  faults: string;
  out?: string;
  ephemeral?: boolean;
  diskSize?: string;
  topology: string;
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
    .description('run a steady mixed workload (rows with outbox events, an idempotent consumer, dead letters, cache writes, telemetry COPY ingest, analytics queries) while servers are killed and frozen; then check every acknowledged write against the servers (exit 1 when one is lost or applied twice)')
    .option('--duration <time>', 'how long the workload runs, e.g. 60s, 30m', '60s')
    .option('--writes <per-second>', 'committed rows (each with its event) per second', '50')
    .option('--cache <per-second>', 'cache writes per second', '200')
    .option('--telemetry <rows-per-second>', 'telemetry samples per second, written with COPY in two batches a second', '1000')
    .option('--queries <per-second>', 'documented analytics queries per second (last hour of a source, latest values, 1-minute and 1-hour rollups)', '8')
    .option('--malformed-every <n>', 'one write in n also commits a malformed event that must be dead-lettered (0: none)', '50')
    .option(
      '--faults <schedule>',
      '"default" (SIGKILL, then SIGSTOP for 5 s, of each server in turn; in ha the primaries and the stream leader; a supervisor crash; with --disk-size a full disk for 20 s), "none", ' +
        'or a JSON file: [{ "atSec": 30, "kind": "kill" | "pause" | "restart-supervisor" | "fill-disk", "target": "postgres" | "nats-2" | "postgres-primary" | "redis-primary" | "nats-leader", "forSec": 5 }]',
      'default',
    )
    .option('--out <dir>', 'where report.json and summary.md go (default soak-<time> in the current folder)')
    .option('--ephemeral', 'start a throw-away stack for the run (temporary folder, free ports, its own supervisor process) instead of using the running one')
    .addOption(new Option('--topology <topology>', 'with --ephemeral: single, or ha (3 NATS nodes, Redis with Sentinel, PostgreSQL with Patroni)').choices(['single', 'ha']).default('single'))
    .option('--disk-size <size>', 'with --ephemeral: put its state folder on a tmpfs of this size (e.g. 2gb), which the fill-disk fault fills up and frees')
    .option('--json', 'print the result as JSON instead of the summary')
    .action(async (opts: SoakCliOptions, cmd: Command) => {
      const durationSec = durationMs(opts.duration as Duration) / 1000;
      if (!(durationSec > 0)) throw new UsageError(`--duration expects a time such as 60s or 30m, got "${opts.duration}"`);
      const rates = { writes: positive('writes', opts.writes), cache: positive('cache', opts.cache), malformedEvery: positive('malformed-every', opts.malformedEvery), telemetry: positive('telemetry', opts.telemetry), queries: positive('queries', opts.queries) };
      if ((opts.diskSize || opts.topology !== 'single') && !opts.ephemeral) throw new UsageError('--disk-size and --topology apply to the throw-away stack: add --ephemeral');
      const diskBytes = opts.diskSize === undefined ? undefined : parseSize(opts.diskSize);
      if (diskBytes === undefined && opts.diskSize !== undefined) throw new UsageError(`--disk-size expects a size such as 2gb, got "${opts.diskSize}"`);
      // A schedule file is checked before anything starts.
      const scheduleFile = opts.faults === 'default' || opts.faults === 'none' ? undefined : loadSchedule(opts.faults);
      let stack: DetachedStack | undefined;
      let access: Access;
      let configFile: string | undefined;
      if (opts.ephemeral) {
        process.stderr.write(`• starting a throw-away ${opts.topology} stack under its own supervisor${diskBytes ? ` on a ${formatSize(diskBytes)} tmpfs` : ''}\n`);
        stack = await startDetachedStack({ topology: opts.topology as 'single' | 'ha', ...(diskBytes ? { diskBytes } : {}), onProgress: (line) => process.stderr.write(`  ${line}\n`) });
        ({ access, configFile } = stack);
        // Interrupted: the throw-away stack must not outlive the run.
        const started = stack;
        for (const sig of ['SIGINT', 'SIGTERM'] as const) {
          process.once(sig, () => {
            process.stderr.write(`• ${sig}: stopping the throw-away stack\n`);
            void started.stop().finally(() => process.exit(130));
          });
        }
      } else {
        const { loaded, access: a } = accessFor(cmd);
        access = a;
        configFile = loaded.file;
      }
      const environment: FaultEnvironment = { restartSupervisor: () => restartSupervisor(access, configFile), ...(stack?.diskBytes ? { diskDir: stack.stateDir } : {}) };
      let out: string | undefined;
      try {
        const faults: Fault[] = opts.faults === 'default' ? defaultSchedule(access.config, durationSec, environment) : (scheduleFile ?? []);
        process.stderr.write(`• soak: ${durationSec} s at ${ratesText(rates)}; ${faults.length} fault(s)\n`);
        const result = await runSoak(access, { durationSec, rates, faults, environment, onProgress: (m) => process.stderr.write(`• ${m}\n`) });
        out = path.resolve(opts.out ?? `soak-${result.startedAt.replace(/[:.]/g, '-')}`);
        const files = writeReport(out, result);
        if (opts.json) printJson(result);
        else process.stdout.write(`${verdictText(result.check)}\nreport: ${files.join(', ')}${stack ? `, the stack's logs in ${path.join(out, 'logs')}` : ''}\n`);
        if (!result.check.ok) process.exitCode = 1;
      } finally {
        // The throw-away stack's logs go with the report: the only post-mortem once its folder is gone.
        await stack?.stop(out ? { keepLogsIn: path.join(out, 'logs') } : {});
      }
    });
}
