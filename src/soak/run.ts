/**
 * A soak run: the workload at its target rates for the duration, the fault schedule
 * beside it, then a drain and the ledger check. Progress is reported every few seconds.
 */
import type { Access } from '../connect/access.js';
import { Ledger, type LedgerCheck } from './ledger.js';
import { growth, ResourceSampler, type Growth, type ResourceSample } from './resources.js';
import { runFaults, type Fault, type FaultEnvironment } from './faults.js';
import { ServerSampler, type ServerSample } from './server-series.js';
import { Series, type Bucket, type FaultMark, type Stall } from './series.js';
import { ingestBatchRows } from './telemetry.js';
import { Workload, type Rates } from './workload.js';

export interface SoakOptions {
  durationSec: number;
  rates: Rates;
  faults: Fault[];
  bucketSec?: number;
  onProgress?: (msg: string) => void;
  /** What the faults may use: a supervisor restart, a filesystem of the run's own. */
  environment?: FaultEnvironment;
  /** Runs after the drain, before the check (tests use it to lose a write on purpose). */
  beforeCheck?: () => Promise<void>;
}

export interface SoakResult {
  startedAt: string;
  durationSec: number;
  /** width of each bucket of the series */
  bucketSec: number;
  rates: Rates;
  faults: FaultMark[];
  /** every stretch of more than a second without a success of an operation */
  stalls: Stall[];
  buckets: Bucket[];
  totals: Record<string, { ok: number; errors: number }>;
  /** per process and data area, every bucket */
  resources: ResourceSample[];
  /** what the servers report, every bucket: WAL rate, database size, Redis memory, JetStream storage */
  servers: ServerSample[];
  /** what kept growing through the second half at a constant load (a leak, or a store filling) */
  growth: Growth[];
  check: LedgerCheck;
}

export async function runSoak(access: Access, opts: SoakOptions): Promise<SoakResult> {
  const progress = opts.onProgress ?? (() => {});
  const ledger = new Ledger();
  const series = new Series(opts.bucketSec ?? 10);
  const startedAt = new Date().toISOString();
  const workload = await Workload.start(access, ledger, series, opts.rates);
  let faultsSoFar = 0;
  // At the end of the run no new fault starts; a recovery under way is waited for through the drain.
  const ends = new AbortController();
  const giveUp = new AbortController();
  const faultsDone = runFaults(access, opts.faults, series, { ends: ends.signal, giveUp: giveUp.signal }, opts.environment, (m) => progress(`fault ${++faultsSoFar}/${opts.faults.length}: ${m.kind} ${m.target} at ${m.at} s, ${m.recoveredAt === null ? 'still not answering when the run ended' : `answering again at ${m.recoveredAt} s`}`));
  // Rates over the last tick, not the bucket under way (a bucket just begun would read as a stall).
  let last = { at: series.now(), counts: new Map<string, number>() };
  const sampler = new ResourceSampler(access.config);
  sampler.sample(0);
  const servers = new ServerSampler(access);
  let serverSampling: Promise<unknown> = servers.sample(0);
  const sampling = setInterval(() => {
    sampler.sample(series.now());
    // One at a time: a server that hangs during a fault must not pile up samples.
    serverSampling = serverSampling.then(() => servers.sample(series.now()));
  }, (opts.bucketSec ?? 10) * 1000);
  const ticker = setInterval(() => {
    const ops = series.ops();
    const now = { at: series.now(), counts: new Map(ops.map((op) => [op, series.count(op)])) };
    const rate = (...names: string[]) => Math.round(names.reduce((a, op) => a + now.counts.get(op)! - (last.counts.get(op) ?? 0), 0) / Math.max(0.001, now.at - last.at));
    const queries = ops.filter((op) => op.startsWith('query'));
    progress(
      `${Math.round(now.at)}/${opts.durationSec} s · writes ${rate('write')}/s · consumed ${rate('consume')}/s · cache ${rate('cache')}/s · ` +
        `telemetry ${rate('ingest') * ingestBatchRows(opts.rates.telemetry)} rows/s · queries ${rate(...queries)}/s · acknowledged rows ${ledger.rows.size} · faults ${faultsSoFar}/${opts.faults.length}`,
    );
    last = now;
  }, 5000);
  try {
    await new Promise((r) => setTimeout(r, opts.durationSec * 1000));
    ends.abort();
    clearInterval(sampling);
    sampler.sample(series.now());
    await serverSampling;
    progress('draining: waiting for the consumer to apply every relayed event');
    await workload.stop();
    giveUp.abort();
    const faults = await faultsDone;
    await opts.beforeCheck?.();
    progress('checking the ledger against the servers');
    const check = await ledger.check(workload.readers());
    const buckets = series.buckets();
    const totals: SoakResult['totals'] = {};
    for (const b of buckets) {
      for (const [op, s] of Object.entries(b.ops)) {
        const t = (totals[op] ??= { ok: 0, errors: 0 });
        t.ok += s.ok;
        t.errors += Object.values(s.errors).reduce((a, c) => a + c, 0);
      }
    }
    return { startedAt, durationSec: opts.durationSec, bucketSec: series.bucketSec, rates: opts.rates, faults, stalls: series.stalls, buckets, totals, resources: sampler.samples, servers: servers.samples, growth: growth(sampler.samples), check };
  } finally {
    clearInterval(ticker);
    clearInterval(sampling);
    ends.abort();
    giveUp.abort();
    await faultsDone.catch(() => undefined);
    await serverSampling.catch(() => undefined);
    await workload.close();
  }
}
