/**
 * The consumer runner: pulls from a durable consumer, runs the handler with
 * bounded concurrency, acks on success and naks with a backoff on failure. A
 * message that failed `maxDeliver` times, or whose payload fails its schema, goes
 * to the dead-letter stream with headers saying why, from where and after how many
 * tries, and only then leaves the consumer. Nothing is dropped silently: if the
 * dead-letter publish fails, the message is nak'ed and tried again.
 *
 *   const runner = runConsumer({ nc, stream: 'EVENTS', consumer: 'billing', subject: orderCreated,
 *     handler: async (order) => charge(order) });
 *   ...
 *   await runner.stop();
 */
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import { counter, histogram, hotObserver } from '../lib/metrics.js';
import { durationMs, type Duration } from '../lib/durations.js';
import { AckFrames } from './ack-frames.js';
import { deliveryCounter } from './delivery-count.js';
import { Publisher } from './publisher.js';
import type { Subject } from './subjects.js';

const outcomes = counter('dataplane_nats_consumed_total', 'Messages handled by consumer runners, by outcome', ['consumer', 'outcome']);
const redeliveries = counter('dataplane_nats_redeliveries_total', 'Messages handled again after a failed, timed-out or interrupted delivery', ['consumer']);
const handlerDuration = histogram('dataplane_nats_handler_duration_seconds', 'Handler time per message', ['consumer']);

/** Headers on a dead-lettered message. */
export const DLQ_HEADERS = {
  reason: 'Dataplane-Dlq-Reason',
  stream: 'Dataplane-Dlq-Stream',
  consumer: 'Dataplane-Dlq-Consumer',
  subject: 'Dataplane-Dlq-Subject',
  sequence: 'Dataplane-Dlq-Sequence',
  deliveries: 'Dataplane-Dlq-Deliveries',
  time: 'Dataplane-Dlq-Time',
} as const;

/** Dead letters of a stream go to dlq.<stream>.<consumer> (the DLQ stream captures dlq.>). */
export function dlqSubject(stream: string, consumer: string): string {
  return `dlq.${stream}.${consumer}`;
}

export interface ConsumerRunnerOptions<T> {
  nc: NatsConnection;
  stream: string;
  /** Durable consumer name (declared with defineConsumer, created by reconcile). */
  consumer: string;
  /** Decodes and validates payloads; without it the handler gets the raw bytes. */
  subject?: Subject<string, z.ZodType<T>>;
  handler: (payload: T, msg: JsMsg) => Promise<void>;
  /** Messages handled at once (default 16). */
  concurrency?: number;
  /** Deliveries before dead-lettering; default the consumer's max_deliver, or 5. */
  maxDeliver?: number;
  /** Nak delay after the n-th failure (last one repeats); default 1s, 5s, 30s. */
  backoff?: Duration[];
  /** Publisher for dead letters (default: one on `nc`). */
  publisher?: Publisher;
  onError?: (error: Error, msg: JsMsg) => void;
}

export interface ConsumerRunner {
  stop(): Promise<void>;
  /** Resolves when the runner has stopped (stop(), or the connection closed). */
  done: Promise<void>;
  stats(): { acked: number; nakked: number; deadLettered: number; inFlight: number };
}

const ACK_BATCH = 128;

export async function runConsumer<T = Uint8Array>(opts: ConsumerRunnerOptions<T>): Promise<ConsumerRunner> {
  const js = jetstream(opts.nc);
  const consumer = await js.consumers.get(opts.stream, opts.consumer);
  const info = await consumer.info();
  const serverMax = info.config.max_deliver ?? -1;
  const maxDeliver: number = opts.maxDeliver ?? (serverMax > 0 ? serverMax : 5);
  const backoff = (opts.backoff ?? ['1s', '5s', '30s']).map(durationMs);
  const concurrency = opts.concurrency ?? 16;
  const ownPublisher = !opts.publisher;
  const publisher = opts.publisher ?? new Publisher(opts.nc);
  const label = `${opts.stream}/${opts.consumer}`;
  const counted = { acked: outcomes.labels(label, 'acked'), nakked: outcomes.labels(label, 'nakked') };
  const timing = hotObserver(handlerDuration, { consumer: label });
  const deliveryCount = deliveryCounter(opts.stream, opts.consumer);
  const stats = { acked: 0, nakked: 0, deadLettered: 0, inFlight: 0 };
  let stopping = false;
  let idle: (() => void)[] = [];
  // Acks are sent together once per event-loop turn: each ack is a publish, and sent
  // one by one every ack is its own socket write (half of a consumer's CPU here). Every
  // ACK_BATCH acks go out at once as well: the server stops delivering at the consumer's
  // max_ack_pending (1000 by default), and acks held for a whole turn of a busy loop kept
  // it waiting (consume rate +15-25% against the Go client, bench/messaging.ts).
  // They go out as one frame per batch (ack-frames.ts). The acked counter is counted per
  // batch too (prom-client hashes the labels on every call).
  const ackFrames = new AckFrames(opts.nc);
  let acks: JsMsg[] = [];
  const flushAcks = () => {
    const batch = acks;
    acks = [];
    ackFrames.ack(batch);
    if (batch.length) counted.acked.inc(batch.length);
  };
  const ack = (msg: JsMsg) => {
    const n = acks.push(msg);
    if (n === 1) setImmediate(flushAcks);
    else if (n >= ACK_BATCH) flushAcks();
  };

  // Messages come to a callback (not the library's async iterator: a promise per message); those
  // that arrive while every slot is busy wait here. The server delivers no more than the
  // consumer's max_ack_pending unacknowledged messages, which bounds this queue.
  const waiting: JsMsg[] = [];
  const dispatch = (msg: JsMsg): void => {
    if (stopping) return void msg.nak(); // not ours to handle any more: the next runner gets it
    if (stats.inFlight >= concurrency) return void waiting.push(msg);
    stats.inFlight++;
    void handle(msg).finally(release);
  };
  const release = () => {
    stats.inFlight--;
    const queued = waiting.shift();
    if (queued) return dispatch(queued);
    if (!stats.inFlight) {
      const w = idle;
      idle = [];
      for (const f of w) f();
    }
  };

  async function deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const h = DLQ_HEADERS;
    const oneLine = reason.slice(0, 1000).replace(/[\r\n]+/g, ' ');
    const headers: Record<string, string> = {
      [h.reason]: oneLine,
      [h.stream]: opts.stream,
      [h.consumer]: opts.consumer,
      [h.subject]: msg.subject,
      [h.sequence]: String(msg.info.streamSequence),
      [h.deliveries]: String(msg.info.deliveryCount),
      [h.time]: new Date().toISOString(),
    };
    try {
      // Same id on a retry after a crash: the DLQ keeps one copy.
      await publisher.publish(dlqSubject(opts.stream, opts.consumer), msg.data, { msgId: `${opts.stream}:${msg.info.streamSequence}`, headers });
      // The server's MSG_TERMINATED advisory carries the reason too (nats-server >= 2.10.4).
      msg.term(oneLine);
      stats.deadLettered++;
      outcomes.inc({ consumer: label, outcome: 'dead_lettered' });
    } catch (e) {
      // Not dead-lettered, so not removed: it comes back and is tried again, later each time (as a
      // failed handler): a dead letter stream without a leader for a few seconds (a NATS node frozen,
      // an election) must not use up the message's deliveries and leave it neither consumed nor dead-lettered.
      msg.nak(backoff[Math.min(msg.info.deliveryCount - 1, backoff.length - 1)]);
      stats.nakked++;
      outcomes.inc({ consumer: label, outcome: 'dlq_failed' });
      opts.onError?.(e as Error, msg);
    }
  }

  async function handle(msg: JsMsg): Promise<void> {
    if ((deliveryCount(msg) ?? msg.info.deliveryCount) > 1) redeliveries.inc({ consumer: label });
    let payload: T;
    try {
      payload = opts.subject ? opts.subject.decode(msg.data) : (msg.data as unknown as T);
    } catch (e) {
      return deadLetter(msg, (e as Error).message);
    }
    const t0 = performance.now(); // a timer object per message costs more than the clock
    try {
      await opts.handler(payload, msg);
      ack(msg);
      stats.acked++;
    } catch (e) {
      opts.onError?.(e as Error, msg);
      const tries = msg.info.deliveryCount;
      if (tries >= maxDeliver) return deadLetter(msg, `failed ${tries} times; last error: ${(e as Error).message}`);
      msg.nak(backoff[Math.min(tries - 1, backoff.length - 1)]);
      stats.nakked++;
      counted.nakked.inc();
    } finally {
      timing((performance.now() - t0) / 1000);
    }
  }

  const messages = await consumer.consume({ max_messages: concurrency * 2, callback: dispatch });
  const done = (async () => {
    await messages.closed();
    stopping = true;
    for (const msg of waiting.splice(0)) msg.nak();
    if (stats.inFlight) await new Promise<void>((r) => idle.push(r));
    flushAcks();
    if (ownPublisher) await publisher.close();
  })();

  return {
    async stop() {
      stopping = true;
      await messages.close();
      await done;
    },
    done,
    stats: () => ({ ...stats }),
  };
}
