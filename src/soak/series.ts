/**
 * What happened over time: per bucket (10 s by default) and operation, how many
 * succeeded, how many failed and by what, and latency percentiles; faults as marks.
 */

export interface Bucket {
  /** seconds since the start of the run */
  t: number;
  ops: Record<string, { ok: number; errors: Record<string, number>; p50Ms: number; p99Ms: number; maxMs: number }>;
}

/** A stretch without a single success of an operation, longer than a second. */
export interface Stall {
  op: string;
  /** seconds since the start: the last success before, and the first after */
  from: number;
  to: number;
}

export interface FaultMark {
  kind: string;
  target: string;
  /** seconds since the start */
  at: number;
  /** when the target answered again, seconds since the start; null if it never did during the run */
  recoveredAt: number | null;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
const round = (n: number) => Math.round(n * 10) / 10;

export class Series {
  private readonly open = new Map<number, Map<string, { ok: number; errors: Record<string, number>; lat: number[] }>>();
  /** successes per operation since the start, for rates over any interval */
  private readonly counts = new Map<string, number>();
  readonly startedAt = performance.now();
  private readonly lastOk = new Map<string, number>();
  readonly stalls: Stall[] = [];

  constructor(readonly bucketSec = 10) {}

  private slot(op: string) {
    const b = Math.floor((performance.now() - this.startedAt) / 1000 / this.bucketSec);
    let ops = this.open.get(b);
    if (!ops) this.open.set(b, (ops = new Map()));
    let s = ops.get(op);
    if (!s) ops.set(op, (s = { ok: 0, errors: {}, lat: [] }));
    return s;
  }

  ok(op: string, latencyMs: number): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
    const now = this.now();
    const last = this.lastOk.get(op);
    if (last !== undefined && now - last > 1) this.stalls.push({ op, from: round(last), to: round(now) });
    this.lastOk.set(op, now);
    const s = this.slot(op);
    s.ok++;
    s.lat.push(latencyMs);
  }

  error(op: string, kind: string): void {
    const s = this.slot(op);
    s.errors[kind] = (s.errors[kind] ?? 0) + 1;
  }

  /** Successes of `op` since the start. */
  count(op: string): number {
    return this.counts.get(op) ?? 0;
  }

  /** Operations seen so far. */
  ops(): string[] {
    return [...this.counts.keys()];
  }

  /** Seconds since the start. */
  now(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  buckets(): Bucket[] {
    return [...this.open.entries()]
      .sort(([a], [b]) => a - b)
      .map(([b, ops]) => ({
        t: b * this.bucketSec,
        ops: Object.fromEntries(
          [...ops.entries()].map(([op, s]) => {
            const sorted = [...s.lat].sort((x, y) => x - y);
            return [op, { ok: s.ok, errors: s.errors, p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)), maxMs: round(sorted.at(-1) ?? 0) }];
          }),
        ),
      }));
  }
}
