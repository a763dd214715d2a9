/**
 * Outbox: events/s from committed outbox rows to JetStream acks (and marked
 * published), through the relay, against the library publishing the same events
 * straight to JetStream without the database (the ceiling the relay works under).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats } from '../src/nats/connection.js';
import { Publisher } from '../src/nats/publisher.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import { connectPostgres } from '../src/postgres/database.js';
import type { EphemeralStack } from '../src/testing.js';
import { progress, watchCpu, type Comparison, type Cpu } from './harness.js';

const EVENTS = 20_000;
const KEYS = 200;

export async function benchOutbox({ stack, rounds }: { stack: EphemeralStack; rounds: number }): Promise<{ comparisons: Comparison[]; lag: { p50: number; p99: number } }> {
  const { access } = stack;
  const config = access.config;
  const owner = connectPostgres({ access, user: config.postgres.owner, max: 2 });
  const rw = connectPostgres({ access, user: 'app_rw', max: 4 });
  const nc = await connectNats({ access, user: 'admin' });
  const jsm = await jetstreamManager(nc);
  const relayRates: number[] = [];
  const directRates: number[] = [];
  const lags: number[] = [];
  const relayCpu: Cpu[] = [];
  const directCpu: Cpu[] = [];
  const pids = Object.fromEntries(stack.supervisor.snapshot().filter((s) => s.name === 'postgres' || s.name === 'nats').map((s) => [s.name, s.pid!]));
  const body = JSON.stringify({ id: 0, note: 'x'.repeat(100) });
  try {
    for (let round = 1; round <= rounds; round++) {
      progress(`outbox round ${round}/${rounds}`);
      await owner.query('truncate messaging.outbox');
      await jsm.streams.purge('EVENTS');
      // Committed beforehand: the relay's rate, not the writers'.
      for (let i = 0; i < EVENTS; i += 1000) {
        await rw.query(
          `insert into messaging.outbox (subject, payload, key)
           select 'app.events.bench.e' || g, $1::jsonb, 'k' || (g % ${KEYS}) from generate_series($2::int, $3::int) g`,
          [body, i, i + 999],
        );
      }
      const relay = new OutboxRelay({ db: rw, nc, batchSize: 2000, pollIntervalMs: 50 });
      const stopCpu = watchCpu(pids);
      const t0 = performance.now();
      relay.start();
      while (relay.stats.published < EVENTS) await new Promise((r) => setTimeout(r, 20));
      relayRates.push(EVENTS / ((performance.now() - t0) / 1000));
      relayCpu.push(stopCpu());
      await relay.stop();
      const lag = await owner.query<{ p50: number; p99: number }>(
        'select percentile_cont(0.5) within group (order by extract(epoch from published_at - created_at)) as p50, percentile_cont(0.99) within group (order by extract(epoch from published_at - created_at)) as p99 from messaging.outbox',
      );
      lags.push(lag.rows[0]!.p50);
      // The same events, published directly in the same per-key chains (no database).
      await jsm.streams.purge('EVENTS');
      const p = new Publisher(nc);
      const stopDirect = watchCpu(pids);
      const t1 = performance.now();
      await Promise.all(
        Array.from({ length: KEYS }, async (_, k) => {
          for (let i = k; i < EVENTS; i += KEYS) await p.publish(`app.events.bench.e${i}`, body, { msgId: `direct-${round}-${i}` });
        }),
      );
      directRates.push(EVENTS / ((performance.now() - t1) / 1000));
      directCpu.push(stopDirect());
      await p.close();
      progress(`  relay ${Math.round(relayRates.at(-1)!)} events/s; direct ${Math.round(directRates.at(-1)!)} msgs/s`);
    }
    await owner.query('truncate messaging.outbox');
    await jsm.streams.purge('EVENTS');
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      comparisons: [
        { group: 'outbox', ours: `outbox relay, ${KEYS} keys, batch 2000`, reference: `Publisher.publish, same ${KEYS} per-key chains, no database`, oursRates: relayRates, refRates: directRates, oursCpu: relayCpu, refCpu: directCpu, unit: 'events/s' },
      ],
      lag: { p50: sorted[Math.floor(sorted.length / 2)]!, p99: Math.max(...lags) },
    };
  } finally {
    await nc.close();
    await rw.close();
    await owner.close();
  }
}
