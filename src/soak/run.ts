/**
 * A soak run: the workload at its target rates for the duration, the fault schedule
 * beside it, then a drain and the ledger check. Progress is reported every few seconds.
 */
import type { Access } from '../connect/access.js';
import { Ledger, type LedgerCheck } from './ledger.js';
import { growth, ResourceSampler, type Growth, type ResourceSample } from './resources.js';
import { runFaults, type Fault } from './faults.js';
import { Series, type Bucket, type FaultMark } from './series.js';
import { Workload, type Rates } from './workload.js';

export interface SoakOptions {
  durationSec: number;
  rates: Rates;
  faults: Fault[];
  bucketSec?: number;
  onProgress?: (msg: string) => void;
  /** Runs after the drain, before the check (tests use it to lose a write on purpose). */
  beforeCheck?: () => Promise<void>;
}

export interface SoakResult {
  startedAt: string;
  durationSec: number;
  rates: Rates;
  faults: FaultMark[];
  buckets: Bucket[];
  totals: Record<string, { ok: number; errors: number }>;
  /** per process and data area, every bucket */
  resources: ResourceSample[];
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
  const ends = new AbortController();
  const faultsDone = runFaults(access, opts.faults, series, ends.signal, (m) => progress(`fault: ${m.kind} ${m.target} at ${m.at} s, answering again at ${m.recoveredAt ?? '-'} s`));
  // Rates over the last tick, not the bucket under way (a bucket just begun would read as a stall).
  let last = { at: series.now(), counts: new Map<string, number>() };
  const sampler = new ResourceSampler(access.config);
  sampler.sample(0);
  const sampling = setInterval(() => sampler.sample(series.now()), (opts.bucketSec ?? 10) * 1000);
  const ticker = setInterval(() => {
    const now = { at: series.now(), counts: new Map(['write', 'consume', 'cache'].map((op) => [op, series.count(op)])) };
    const rate = (op: string) => Math.round((now.counts.get(op)! - (last.counts.get(op) ?? 0)) / Math.max(0.001, now.at - last.at));
    progress(`${Math.round(now.at)}/${opts.durationSec} s · writes ${rate('write')}/s · consumed ${rate('consume')}/s · cache ${rate('cache')}/s · acknowledged rows ${ledger.rows.size}`);
    last = now;
  }, 5000);
  try {
    await new Promise((r) => setTimeout(r, opts.durationSec * 1000));
    ends.abort();
    clearInterval(sampling);
    sampler.sample(series.now());
    const faults = await faultsDone;
    progress('draining: waiting for the consumer to apply every relayed event');
    await workload.stop();
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
    return { startedAt, durationSec: opts.durationSec, rates: opts.rates, faults, buckets, totals, resources: sampler.samples, growth: growth(sampler.samples), check };
  } finally {
    clearInterval(ticker);
    clearInterval(sampling);
    ends.abort();
    await faultsDone.catch(() => undefined);
    await workload.close();
  }
}
