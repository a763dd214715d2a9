/**
 * The soak's workload, through the client library as an application uses it: rows
 * committed with their event in one transaction (the transactional outbox; the
 * supervisor's relay publishes them to JetStream), a consumer that applies each event
 * once with the inbox, a share of malformed events that must end in the dead letter
 * stream, and cache writes. Each worker paces itself to its target rate.
 */
import { z } from 'zod';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type { Access } from '../connect/access.js';
import { connectNats } from '../nats/connection.js';
import { runConsumer, dlqSubject, type ConsumerRunner } from '../nats/consumer.js';
import { defineSubject } from '../nats/subjects.js';
import { msgIdOf, processOnce } from '../outbox/inbox.js';
import { enqueueRaw } from '../outbox/outbox.js';
import { connectPostgres, type Database } from '../postgres/database.js';
import { connectRedis } from '../redis/connection.js';
import type { Ledger, LedgerReaders } from './ledger.js';
import { kindOf, paced, sleep } from './pacing.js';
import type { Series } from './series.js';
import { TelemetryWorkload } from './telemetry.js';

export interface Rates {
  /** committed rows (each with its event) per second */
  writes: number;
  /** cache writes per second */
  cache: number;
  /** one write in this many also carries a malformed event (0: none) */
  malformedEvery: number;
  /** telemetry samples per second, by COPY */
  telemetry: number;
  /** documented analytics queries per second */
  queries: number;
}

const SUBJECT = 'app.events.soak.write';
const STREAM = 'EVENTS';
const CONSUMER = 'dataplane-soak';
/** Enough deliveries (with the backoff below, about 35 s) to outlast a server restart: only malformed events are dead letters. */
const MAX_DELIVER = 20;
const soakWrite = defineSubject({ name: SUBJECT, description: 'a soak run wrote a row', schema: z.object({ id: z.number().int() }) });


export class Workload {
  private stopping = false;
  private readonly workers: Promise<void>[] = [];

  private constructor(
    private readonly access: Access,
    private readonly ledger: Ledger,
    private readonly series: Series,
    private readonly db: Database,
    private readonly redis: Redis,
    private readonly nc: NatsConnection,
    private readonly consumer: ConsumerRunner,
    private readonly telemetry: TelemetryWorkload,
  ) {}

  /** Tables, the durable consumer, then the workers. */
  static async start(access: Access, ledger: Ledger, series: Series, rates: Rates): Promise<Workload> {
    const { config } = access;
    const owner = connectPostgres({ access, user: config.postgres.owner, max: 1 });
    try {
      await owner.query(`create schema if not exists soak;
        create table if not exists soak.writes (id bigint primary key, at timestamptz not null default now());
        create table if not exists soak.effects (id bigint primary key, applied int not null);
        truncate soak.writes, soak.effects;
        grant usage on schema soak to app_rw;
        grant select, insert, update on soak.writes, soak.effects to app_rw`);
    } finally {
      await owner.close();
    }
    const nc = await connectNats({ access, user: 'admin' });
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.delete(STREAM, CONSUMER).catch(() => undefined);
    await jsm.streams.purge('DLQ', { filter: dlqSubject(STREAM, CONSUMER) }).catch(() => undefined);
    await jsm.consumers.add(STREAM, { durable_name: CONSUMER, filter_subject: `${SUBJECT}`, ack_policy: AckPolicy.Explicit, max_deliver: MAX_DELIVER, ack_wait: 10_000_000_000 });
    const db = connectPostgres({ access, user: 'app_rw', max: 4 });
    const consumer = await runConsumer({
      nc,
      stream: STREAM,
      consumer: CONSUMER,
      subject: soakWrite,
      concurrency: 8,
      maxDeliver: MAX_DELIVER,
      backoff: ['200ms', '1s', '2s'],
      handler: async (event, msg) => {
        const t0 = performance.now();
        await processOnce(db, CONSUMER, msgIdOf(msg), (tx) => tx.query('insert into soak.effects (id, applied) values ($1, 1) on conflict (id) do update set applied = soak.effects.applied + 1', [event.id]));
        series.ok('consume', performance.now() - t0);
      },
      onError: (e) => series.error('consume', kindOf(e)),
    });
    const telemetry = await TelemetryWorkload.start(access);
    const w = new Workload(access, ledger, series, db, connectRedis({ access }), nc, consumer, telemetry);
    const stopping = () => w.stopping;
    if (rates.writes > 0) w.workers.push(paced(rates.writes, stopping, (n) => w.write(n, rates.malformedEvery)));
    if (rates.cache > 0) w.workers.push(paced(rates.cache, stopping, (n) => w.cacheWrite(n)));
    if (rates.telemetry > 0) w.workers.push(telemetry.ingest(rates.telemetry, ledger, series, stopping));
    if (rates.queries > 0) w.workers.push(telemetry.query(rates.queries, series, stopping));
    return w;
  }

  private async write(id: number, malformedEvery: number): Promise<void> {
    const t0 = performance.now();
    const bad = malformedEvery > 0 && id % malformedEvery === 0 ? `bad-${id}` : undefined;
    try {
      await this.db.transaction(async (tx) => {
        await tx.query('insert into soak.writes (id) values ($1)', [id]);
        await enqueueRaw(tx, SUBJECT, JSON.stringify({ id }));
        // A payload the consumer's schema refuses: it must reach the dead letter stream.
        if (bad) await enqueueRaw(tx, SUBJECT, JSON.stringify({ id: bad }));
      });
      this.ledger.rows.add(id);
      if (bad) this.ledger.malformed.add(bad);
      this.series.ok('write', performance.now() - t0);
    } catch (e) {
      // Not acknowledged (or its outcome unknown): not in the ledger.
      this.series.error('write', kindOf(e));
    }
  }

  private async cacheWrite(n: number): Promise<void> {
    const key = `${this.access.config.redis.namespace}:soak:${n % 1000}`;
    const t0 = performance.now();
    try {
      await this.redis.set(key, String(n));
      this.ledger.cache.set(key, String(n));
      this.series.ok('cache', performance.now() - t0);
    } catch (e) {
      this.series.error('cache', kindOf(e));
    }
  }

  /** Stop the producers, let the consumer apply what was relayed (up to `drainMs`), stop it. */
  async stop(drainMs = 120_000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
    const want = this.ledger.rows.size;
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline) {
      const r = await this.db.query<{ n: number }>('select count(*)::int as n from soak.effects', [], { idempotent: true }).catch(() => undefined);
      const dead = await this.deadLetters().catch(() => new Set<string>());
      if (r && r.rows[0]!.n >= want && dead.size >= this.ledger.malformed.size) break;
      await sleep(500);
    }
    await this.consumer.stop();
  }

  async close(): Promise<void> {
    await this.telemetry.close();
    await this.db.close();
    this.redis.disconnect();
    await this.nc.close();
  }

  /** Tags of the malformed events in the dead letter stream, read to the end (a fetch may return part of what is pending). */
  private async deadLetters(): Promise<Set<string>> {
    const js = jetstream(this.nc);
    // A single subject as a string: nats-server 2.9 knows filter_subject, not filter_subjects.
    const oc = await js.consumers.get('DLQ', { filter_subjects: dlqSubject(STREAM, CONSUMER) });
    const tags = new Set<string>();
    let left = (await oc.info()).num_pending;
    while (left > 0) {
      let got = 0;
      const batch = await oc.fetch({ max_messages: Math.min(left, 500), expires: 5000 });
      for await (const m of batch) {
        const id = (m.json() as { id?: unknown }).id;
        if (typeof id === 'string') tags.add(id);
        got++;
        if (got >= Math.min(left, 500)) break;
      }
      if (!got) break;
      left -= got;
    }
    return tags;
  }

  readers(): LedgerReaders {
    const ids = (rows: { id: string }[]) => rows.map((r) => Number(r.id));
    return {
      rowsPresent: async (list) => new Set(ids((await this.db.query<{ id: string }>('select id from soak.writes where id = any($1)', [list], { idempotent: true })).rows)),
      effects: async (list) =>
        new Map((await this.db.query<{ id: string; applied: number }>('select id, applied from soak.effects where id = any($1)', [list], { idempotent: true })).rows.map((r) => [Number(r.id), r.applied])),
      deadLetters: () => this.deadLetters(),
      cacheValues: async (keys) => {
        const values = keys.length ? await this.redis.mget(...keys) : [];
        return new Map(keys.map((k, i) => [k, values[i] ?? null]));
      },
      telemetryBatches: () => this.telemetry.batchesPresent(),
    };
  }
}
