/**
 * Counting and observing on hot paths (once per message or operation): the values are
 * kept here and handed to the prom-client metric when the registry is read.
 *
 * prom-client's `inc` and `observe` convert, check and hash the labels on every call, and
 * `observe` searches the buckets; it has no way to add many values at once. For the
 * consumer runner's handler time that was 0.8 us of 3.9 us of node's CPU per consumed
 * message (bench/messaging.ts), and the keyspace's counters and timers are paid on every
 * cache operation. Only metrics made by `counter()` and `histogram()` (lib/metrics.ts)
 * hand over what is kept here, from their collect hooks; others are counted through
 * prom-client, call by call.
 */
import type { Counter, Histogram, LabelValues } from 'prom-client';
import { InvalidArgumentError } from '../errors/index.js';

interface Kept {
  flush(): void;
  add(value: number): void;
}

/**
 * On the metric object, not in a module variable: a second copy of this module (a package
 * loaded twice) gets the registered metric, and with it the first copy's kept values.
 */
const KEPT = Symbol.for('dataplane.metrics.hot');
type Hot = { [KEPT]?: Map<string, Kept> };

/** Mark a metric whose collect hook calls flushHot. */
export function hotReady<M extends object>(metric: M): M {
  (metric as Hot)[KEPT] = new Map();
  return metric;
}

/** Hand what was kept over to the metric (from its collect hook). */
export function flushHot(metric: object): void {
  for (const k of (metric as Hot)[KEPT]?.values() ?? []) k.flush();
}

/** One per label set, shared by every caller with those labels (as prom-client keeps one value per label set). */
function keptFor(metric: object, labels: Record<string, unknown>, make: () => Kept): ((value: number) => void) | undefined {
  const kept = (metric as Hot)[KEPT];
  if (!kept) return undefined;
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  let k = kept.get(key);
  if (!k) kept.set(key, (k = make()));
  return k.add;
}

/** `inc(n = 1)` for a counter's label set. */
export function hotCounter<L extends string>(c: Counter<L>, labels: LabelValues<L> = {}): (n?: number) => void {
  const child = c.labels(labels); // checks the label names, once
  const add = keptFor(c, labels, () => pendingSum(child)) ?? ((n: number) => child.inc(n));
  return (n = 1) => add(n);
}

function pendingSum(child: { inc(n: number): void }): Kept {
  let pending = 0;
  return {
    add: (n) => {
      if (!(n >= 0) || n === Infinity) throw new InvalidArgumentError(`a counter goes up by finite amounts, not ${n}`);
      pending += n;
    },
    flush: () => {
      if (pending) child.inc(pending);
      pending = 0;
    },
  };
}

/** What hotObserver writes of a prom-client 15 histogram. */
interface HistogramInternals {
  upperBounds?: readonly number[];
  hashMap?: Record<string, { labels: Record<string, unknown>; bucketValues: Record<number, number>; sum: number; count: number }>;
  zero(labels: Record<string, unknown>): void;
}

/**
 * `observe(value)` for a histogram's label set: counted into the histogram's buckets here,
 * added to prom-client 15's value for the labels (`hashMap`, `upperBounds`) when read.
 * Where those are missing, it observes through prom-client.
 */
export function hotObserver<L extends string>(h: Histogram<L>, labels: LabelValues<L> = {}): (value: number) => void {
  const child = h.labels(labels); // checks the label names, once
  const internals = h as unknown as HistogramInternals;
  const bounds = internals.upperBounds;
  if (!Array.isArray(bounds) || typeof internals.hashMap !== 'object' || typeof internals.zero !== 'function') return (value) => child.observe(value);
  const add = keptFor(h, labels, () => bucketCounts(internals, bounds, labels as Record<string, unknown>));
  return add ?? ((value) => child.observe(value));
}

function bucketCounts(internals: HistogramInternals, bounds: readonly number[], labels: Record<string, unknown>): Kept {
  // counts[i]: values in bucket i; counts[bounds.length]: above the last bound (only in count and sum).
  const counts = new Float64Array(bounds.length + 1);
  let sum = 0;
  let count = 0;
  const entryOf = () => Object.values(internals.hashMap!).find((e) => sameLabels(e.labels, labels));
  return {
    add: (value) => {
      if (!Number.isFinite(value)) throw new InvalidArgumentError(`a histogram observes finite numbers, not ${value}`);
      let i = 0;
      while (i < bounds.length && value > bounds[i]!) i++;
      counts[i]!++;
      sum += value;
      count++;
    },
    flush: () => {
      if (!count) return;
      let entry = entryOf();
      if (!entry) {
        internals.zero(labels);
        entry = entryOf()!;
      }
      for (let i = 0; i < bounds.length; i++) if (counts[i]) entry.bucketValues[bounds[i]!] = (entry.bucketValues[bounds[i]!] ?? 0) + counts[i]!;
      entry.sum += sum;
      entry.count += count;
      counts.fill(0);
      sum = 0;
      count = 0;
    },
  };
}

function sameLabels(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => String(a[k]) === String(b[k]));
}
