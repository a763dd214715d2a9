/** hotObserver and hotCounter: what a scrape shows is what prom-client's own observe and inc would have shown, for the same values. */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { counter, histogram, hotCounter, hotObserver, registry } from '../../src/lib/metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
// On each bound, between bounds, below the first and above the last.
const VALUES = [0, 0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.1, 0.5, 1, 2, 30];

const exposition = async (name: string) => (await registry.getSingleMetricAsString(name)).replaceAll(name, 'h');

describe('hotObserver', () => {
  it('adds its counts, sum and count to the histogram when the registry is read', async () => {
    const hot = histogram('test_hot_seconds', 'same help', ['consumer'], BUCKETS);
    const plain = histogram('test_plain_seconds', 'same help', ['consumer'], BUCKETS);
    const a = hotObserver(hot, { consumer: 'A/a' });
    const b = hotObserver(hot, { consumer: 'B/b' });
    for (const v of VALUES) {
      a(v);
      plain.observe({ consumer: 'A/a' }, v);
    }
    b(0.003);
    plain.observe({ consumer: 'B/b' }, 0.003);
    expect(await exposition('test_hot_seconds')).toBe(await exposition('test_plain_seconds'));
    // Counted once: a second read adds nothing, later values add to what is there.
    expect(await exposition('test_hot_seconds')).toBe(await exposition('test_plain_seconds'));
    a(0.2);
    plain.observe({ consumer: 'A/a' }, 0.2);
    expect(await exposition('test_hot_seconds')).toBe(await exposition('test_plain_seconds'));
    // Callers with the same labels share one set of counts.
    expect(hotObserver(hot, { consumer: 'A/a' })).toBe(a);
  });

  it('works without labels, and refuses what prom-client refuses', async () => {
    const hot = histogram('test_hot_nolabels_seconds', 'same help', [], BUCKETS);
    const plain = histogram('test_plain_nolabels_seconds', 'same help', [], BUCKETS);
    const o = hotObserver(hot);
    for (const v of VALUES) {
      o(v);
      plain.observe(v);
    }
    expect(await exposition('test_hot_nolabels_seconds')).toBe(await exposition('test_plain_nolabels_seconds'));
    expect(() => o(Number.NaN)).toThrow(/finite/);
    expect(() => hotObserver(hot as never, { nope: 'x' } as never)).toThrow(/label/i);
  });

  it('observes through prom-client a histogram that histogram() did not make', async () => {
    const other = new Registry();
    const foreign = new Histogram({ name: 'test_foreign_seconds', help: 'f', labelNames: [], buckets: BUCKETS, registers: [other] });
    hotObserver(foreign)(0.05);
    expect(await other.getSingleMetricAsString('test_foreign_seconds')).toContain('test_foreign_seconds_count 1');
  });
});

describe('hotCounter', () => {
  it('adds its increments to the counter when the registry is read, once', async () => {
    const hot = counter('test_hot_total', 'same help', ['op', 'result']);
    const plain = counter('test_plain_total', 'same help', ['op', 'result']);
    const hit = hotCounter(hot, { op: 'get', result: 'hit' });
    const miss = hotCounter(hot, { op: 'get', result: 'miss' });
    for (let i = 0; i < 5; i++) hit();
    miss(3);
    plain.inc({ op: 'get', result: 'hit' }, 5);
    plain.inc({ op: 'get', result: 'miss' }, 3);
    expect(await exposition('test_hot_total')).toBe(await exposition('test_plain_total'));
    expect(await exposition('test_hot_total')).toBe(await exposition('test_plain_total'));
    hit(2);
    plain.inc({ op: 'get', result: 'hit' }, 2);
    expect(await exposition('test_hot_total')).toBe(await exposition('test_plain_total'));
    // The same labels in another order are the same counts.
    hotCounter(hot, { result: 'hit', op: 'get' })(1);
    plain.inc({ op: 'get', result: 'hit' }, 1);
    expect(await exposition('test_hot_total')).toBe(await exposition('test_plain_total'));
    expect(() => hit(-1)).toThrow(/finite/);
  });

  it('counts through prom-client a counter that counter() did not make', async () => {
    const other = new Registry();
    const foreign = new Counter({ name: 'test_foreign_total', help: 'f', labelNames: [], registers: [other] });
    hotCounter(foreign)(4);
    expect(await other.getSingleMetricAsString('test_foreign_total')).toContain('test_foreign_total 4');
  });
});
