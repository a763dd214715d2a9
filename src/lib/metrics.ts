/**
 * The library's Prometheus metrics. One registry for everything dataplane measures;
 * an application exposes it (or merges it into its own) on its /metrics endpoint.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { flushHot, hotReady } from './hot-metrics.js';

export { hotCounter, hotObserver } from './hot-metrics.js';

export const registry = new Registry();

/** Latency buckets from 0.5 ms to 10 s: local database, cache and broker round trips. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// Registering twice (a module loaded by two copies of the package) must not throw.
function existing<T>(name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/** Hot paths count through hotCounter (hot-metrics.ts): its numbers are added here when the registry is read. */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (
    existing<Counter<L>>(name) ??
    hotReady(
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          flushHot(this);
        },
      }),
    )
  );
}

export function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets = LATENCY_BUCKETS): Histogram<L> {
  return (
    existing<Histogram<L>>(name) ??
    hotReady(
      new Histogram({
        name,
        help,
        labelNames,
        buckets,
        registers: [registry],
        collect() {
          flushHot(this);
        },
      }),
    )
  );
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
