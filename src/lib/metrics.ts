/**
 * The library's Prometheus metrics. One registry for everything dataplane measures;
 * an application exposes it (or merges it into its own) on its /metrics endpoint.
 */
import { InvalidArgumentError } from '../errors/index.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';

export const registry = new Registry();

/** Latency buckets from 0.5 ms to 10 s: local database, cache and broker round trips. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// Registering twice (a module loaded by two copies of the package) must not throw.
function existing<T>(name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/** `collect` runs before each read of the registry (to add counts kept elsewhere on a hot path). */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Counter<L>) => void): Counter<L> {
  return existing<Counter<L>>(name) ?? new Counter({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) });
}

export function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets = LATENCY_BUCKETS): Histogram<L> {
  return (
    existing<Histogram<L>>(name) ??
    new Histogram({
      name,
      help,
      labelNames,
      buckets,
      registers: [registry],
      collect() {
        for (const h of (this as unknown as Hot).hot?.values() ?? []) h.flush();
      },
    })
  );
}

/** What hotObserver reads and writes of a prom-client 15 histogram. */
interface HotInternals {
  upperBounds?: readonly number[];
  hashMap?: Record<string, { labels: Record<string, unknown>; bucketValues: Record<number, number>; sum: number; count: number }>;
  zero(labels: Record<string, unknown>): void;
}
/** One per label set, shared by every caller with those labels (as prom-client keeps one value per label set). */
type Hot = { hot?: Map<string, { flush(): void; observe(value: number): void }> };

/**
 * An observe function for a hot path (a value per message): it counts into the
 * histogram's buckets here and adds the counts to the histogram when the registry is
 * read. prom-client's observe checks and hashes the labels and searches the buckets on
 * every call: 0.8 us, a fifth of a consumer runner's CPU per message (bench/messaging.ts);
 * it has no way to add many observations at once. This writes prom-client 15's per-label
 * values (`hashMap`, `upperBounds`); where those are missing, or the histogram was not
 * made by `histogram()` above, it observes through prom-client.
 */
export function hotObserver<L extends string>(h: Histogram<L>, labels: LabelValues<L> = {}): (value: number) => void {
  const child = h.labels(labels); // checks the label names, once
  const internals = h as unknown as HotInternals & Hot;
  const bounds = internals.upperBounds;
  const own = (h as unknown as { collect?: unknown }).collect !== undefined;
  if (!own || !Array.isArray(bounds) || typeof internals.hashMap !== 'object' || typeof internals.zero !== 'function') {
    return (value) => child.observe(value);
  }
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  const shared = internals.hot?.get(key);
  if (shared) return shared.observe;
  // counts[i]: values in bucket i; counts[bounds.length]: above the last bound (only in count and sum).
  const counts = new Float64Array(bounds.length + 1);
  let sum = 0;
  let count = 0;
  const flush = (): void => {
    if (!count) return;
    const entryOf = () => Object.values(internals.hashMap!).find((e) => sameLabels(e.labels, labels));
    let entry = entryOf();
    if (!entry) {
      internals.zero(labels as Record<string, unknown>);
      entry = entryOf()!;
    }
    for (let i = 0; i < bounds.length; i++) if (counts[i]) entry.bucketValues[bounds[i]!] = (entry.bucketValues[bounds[i]!] ?? 0) + counts[i]!;
    entry.sum += sum;
    entry.count += count;
    counts.fill(0);
    sum = 0;
    count = 0;
  };
  const observe = (value: number): void => {
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`a histogram observes finite numbers, not ${value}`);
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    counts[i]!++;
    sum += value;
    count++;
  };
  (internals.hot ??= new Map()).set(key, { flush, observe });
  return observe;
}

function sameLabels(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => String(a[k]) === String(b[k]));
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Gauge<L>) => void): Gauge<L> {
  return existing<Gauge<L>>(name) ?? new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) });
}

let processMetrics = false;
/** CPU, memory, event-loop lag, handles and GC of this process, on the library registry (once). */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry });
}
