/**
 * Outbox: events/s from committed outbox rows to JetStream acks (and the relay's
 * position moved past them), through the relay, against the library publishing the
 * same events straight to JetStream without the database (the ceiling the relay
 * works under).
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats } from '../src/nats/connection.js';
import { Publisher } from '../src/nats/publisher.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import { connectPostgres } from '../src/postgres/database.js';
import type { EphemeralStack } from '../src/testing.js';
import { interleave, series, watchCpu, type Comparison } from './harness.js';

const EVENTS = 20_000;
const KEYS = 200;

export async function benchOutbox({ stack, rounds }: { stack: EphemeralStack; rounds: number }): Promise<{ comparisons: Comparison[]; lag: { p50: number; p99: number; events: number } }> {
  const { access } = stack;
  const config = access.config;
  const owner = connectPostgres({ access, user: config.postgres.owner, max: 2 });
  const rw = connectPostgres({ access, user: 'app_rw', max: 4 });
  const nc = await connectNats({ access, user: 'admin' });
  const jsm = await jetstreamManager(nc);
  const relay = series();
  const direct = series();
  /** Insert-to-published seconds of every event, per relay run; the first run is the warm-up. */
  const lagRuns: number[][] = [];
  const pids = Object.fromEntries(stack.supervisor.snapshot().filter((s) => s.name === 'postgres' || s.name === 'nats').map((s) => [s.name, s.pid!]));
  const body = JSON.stringify({ id: 0, note: 'x'.repeat(100) });
  // The direct side's message ids are UUIDs, as the outbox's (message_id defaults to
  // gen_random_uuid()): the server stores and de-duplicates every id, and with the
  // 14-character ids this side used before it published 6-8% faster than with UUIDs
  // (alternating rounds, one server). New ones each run, made before the clock starts.
  let ids: string[] = [];
  try {
    await interleave('outbox', rounds, [
      [
        {
          label: 'outbox relay',
          into: relay,
          watch: () => watchCpu(pids),
          // Committed beforehand: the relay's rate, not the writers'.
          before: async () => {
            await owner.query('truncate messaging.outbox cascade');
            await jsm.streams.purge('EVENTS');
            for (let i = 0; i < EVENTS; i += 1000) {
              await rw.query(
                `insert into messaging.outbox (subject, payload, key)
                 select 'app.events.bench.e' || g, $1::jsonb, 'k' || (g % ${KEYS}) from generate_series($2::int, $3::int) g`,
                [body, i, i + 999],
              );
            }
          },
          run: async () => {
            const lags: number[] = [];
            let drained!: () => void;
            const done = new Promise<void>((res) => (drained = res));
            // Timed to the batch that completes the backlog (polling for it added up to 20 ms).
            const r = new OutboxRelay({ db: rw, nc, batchSize: 2000, pollIntervalMs: 50, onBatch: (_, l) => (lags.push(...l) >= EVENTS ? drained() : undefined) });
            const t0 = performance.now();
            r.start();
            await done;
            const rate = EVENTS / ((performance.now() - t0) / 1000);
            await r.stop();
            lagRuns.push(lags);
            return rate;
          },
        },
        {
          // The same events, published directly in the same per-key chains (no database).
          label: 'Publisher.publish, direct',
          into: direct,
          watch: () => watchCpu(pids),
          before: async () => {
            ids = Array.from({ length: EVENTS }, () => randomUUID());
            await jsm.streams.purge('EVENTS');
          },
          run: async () => {
            const p = new Publisher(nc);
            const t1 = performance.now();
            await Promise.all(
              Array.from({ length: KEYS }, async (_, k) => {
                for (let i = k; i < EVENTS; i += KEYS) await p.publish(`app.events.bench.e${i}`, body, { msgId: ids[i] });
              }),
            );
            const rate = EVENTS / ((performance.now() - t1) / 1000);
            await p.close();
            return rate;
          },
        },
      ],
    ]);
    await owner.query('truncate messaging.outbox cascade');
    await jsm.streams.purge('EVENTS');
    const sorted = lagRuns.slice(1).flat().sort((a, b) => a - b);
    const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
    return {
      comparisons: [
        { group: 'outbox', ours: `outbox relay, ${KEYS} keys, batch 2000`, reference: `Publisher.publish, same ${KEYS} per-key chains, no database`, oursRates: relay.rates, refRates: direct.rates, oursCpu: relay.cpu, refCpu: direct.cpu, unit: 'events/s', target: 0.7, security: 'TLS + login (PostgreSQL, NATS)' },
      ],
      lag: { p50: pct(0.5), p99: pct(0.99), events: sorted.length },
    };
  } finally {
    await nc.close();
    await rw.close();
    await owner.close();
  }
}
