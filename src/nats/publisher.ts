/**
 * JetStream publishing that awaits the server's ack: one at a time (`publish`), or
 * many in flight with a bounded window (`publishAsync`, then `flush`). A message id
 * (Nats-Msg-Id) lets JetStream drop a message published twice.
 *
 * Hand-written rather than nats.js `js.publish`: that makes a request per message,
 * with its own timer, inbox bookkeeping and Error objects, which cost half of a
 * publisher's CPU here (docs/benchmarks.md). Like the Go client, this keeps one
 * reply subscription and matches acks to pending publishes by the reply token,
 * and times out pending acks with one sweep instead of a timer each. Messages
 * without headers go out as frames built here (publish-frames.ts).
 */
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import { DataplaneError } from '../errors/index.js';
import { counter, histogram, hotCounter, hotObserver } from '../lib/metrics.js';
import { readAck, type AckBody } from './pub-ack.js';
import { PublishFrames } from './publish-frames.js';
import type { Subject, SubjectParams } from './subjects.js';

const published = counter('dataplane_nats_published_total', 'JetStream publishes by outcome', ['outcome']);
// Successful acks and their latency are kept as plain numbers, handed over when metrics are read (hot-metrics.ts).
const publishedOk = hotCounter(published, { outcome: 'ok' });
const ackLatency = hotObserver(histogram('dataplane_nats_publish_ack_seconds', 'Time from publish to JetStream ack', []));
// Label lookups hash their labels on every call; on the per-message path, bind them once.
const OUTCOME = {
  duplicate: published.labels('duplicate'),
  error: published.labels('error'),
  timeout: published.labels('timeout'),
  noStream: published.labels('no_stream'),
};

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export class PublishError extends DataplaneError {
  readonly code = 'PUBLISH_FAILED';
  constructor(
    readonly subject: string,
    /** why, without the subject (the message says both) */
    readonly reason: string,
    /** JetStream's own error code (e.g. 503: no stream captures the subject) */
    readonly serverCode?: number,
  ) {
    super(`publish to ${subject} failed: ${reason}`, serverCode === 503 ? { hint: 'declare a stream for the subject and run `dataplane streams reconcile`' } : {});
  }
}

/**
 * Whether a failed publish was refused, so that sending it again will not help soon:
 * JetStream answered with an error (no stream, a permission, a limit), or nats.js refused
 * the message itself (too large, a bad subject). A timeout, an unreadable ack and any
 * error on a closed or draining connection are no answer: sending again may succeed.
 */
export function isRefusal(e: unknown, nc: Pick<NatsConnection, 'isClosed' | 'isDraining'>): boolean {
  if (nc.isClosed() || nc.isDraining()) return false;
  return e instanceof PublishError ? e.serverCode !== undefined : true;
}

/** publishAsync calls that were not acknowledged, reported together by flush(). */
export class PublishFailuresError extends DataplaneError {
  readonly code = 'PUBLISH_FAILED';
  constructor(readonly errors: Error[]) {
    super(`${errors.length} publish(es) failed: ${errors[0]!.message}`, { cause: errors[0] });
  }
}

export interface PublishOptions {
  /** Nats-Msg-Id: JetStream keeps one message per id within the stream's duplicate window. */
  msgId?: string;
  headers?: Record<string, string>;
}

interface Pending {
  subject: string;
  deadline: number;
  started: number;
  resolve: (a: PubAck) => void;
  reject: (e: Error) => void;
}

export interface PublisherOptions {
  /** Acks awaited at once by publishAsync before it waits (default 4000, as nats.go). */
  window?: number;
  /** An ack not received in this time fails the publish (default 5 s). */
  timeoutMs?: number;
  /** The connection's inbox prefix; default from its user (service users have their own). */
  inboxPrefix?: string;
  /** Hears of every failed publishAsync (otherwise flush() reports them). */
  onError?: (e: Error) => void;
}

const noop = (): void => {};

export class Publisher {
  /** Reply subjects are this and a number that names the publish. */
  private readonly replyPrefix: string;
  private readonly sub: Subscription;
  private readonly frames: PublishFrames;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: (() => void)[] = [];
  private idle: (() => void)[] = [];
  private next = 0;
  private readonly window: number;
  private readonly resumeAt: number;
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly failures: Error[] = [];
  private readonly onError: ((e: Error) => void) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    opts: PublisherOptions = {},
  ) {
    // The connection's own prefix: a service user may receive replies only under it.
    const prefix = opts.inboxPrefix ?? (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix ?? '_INBOX';
    // 8 random characters, as nats.go, not a 22-character nuid: nats-server reads the reply
    // subject, matches the ack against it and writes it back, and with the nuid it spent 5-9%
    // more CPU per async publish (measured from /proc in alternating rounds), the rate it
    // limits fell as much, and Node parsed 14 more bytes per ack. 48 random bits keep two
    // publishers of an account from sharing a token.
    this.replyPrefix = `${prefix}.${randomBytes(6).toString('base64url')}.`;
    this.window = opts.window ?? 4000;
    this.resumeAt = Math.floor((this.window * 3) / 4);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.onError = opts.onError;
    this.sub = nc.subscribe(`${this.replyPrefix}*`, { callback: (_err, msg) => this.onAck(msg) });
    this.frames = new PublishFrames(nc);
    this.sweeper = setInterval(() => this.sweep(), Math.min(250, this.timeoutMs));
    this.sweeper.unref();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private onAck(msg: Msg): void {
    const id = this.idOf(msg);
    const p = this.pending.get(id);
    if (!p) return; // timed out already
    this.settle(id);
    const status = msg.headers?.code;
    if (status === 503) {
      OUTCOME.noStream.inc();
      return p.reject(new PublishError(p.subject, 'no stream captures this subject (503 no responders)', 503));
    }
    let body: AckBody;
    try {
      body = readAck(msg.data);
    } catch {
      OUTCOME.error.inc();
      return p.reject(new PublishError(p.subject, 'unreadable ack'));
    }
    if (body.error) {
      OUTCOME.error.inc();
      return p.reject(new PublishError(p.subject, body.error.description, body.error.code));
    }
    if (body.duplicate) OUTCOME.duplicate.inc();
    else publishedOk();
    ackLatency((performance.now() - p.started) / 1000);
    if (p.resolve !== noop) p.resolve({ stream: body.stream!, seq: body.seq!, duplicate: Boolean(body.duplicate) });
  }

  /**
   * The publish an ack answers: the number that ends its reply subject. Read from the
   * subject's bytes where nats.js has them (its Msg decodes the subject to a string on
   * first use, a cost per ack that this skips).
   */
  private idOf(msg: Msg): number {
    const raw = (msg as unknown as { _msg?: { subject?: Uint8Array } })._msg?.subject;
    if (!raw) return Number(msg.subject.slice(this.replyPrefix.length));
    let id = 0;
    for (let i = this.replyPrefix.length; i < raw.length; i++) id = id * 10 + raw[i]! - 48;
    return id;
  }

  private settle(id: number): void {
    this.pending.delete(id);
    // Blocked publishers go on once a quarter of the window is free, not at every ack:
    // they then publish in bursts that share socket writes, instead of one message (and
    // one promise) per ack received.
    if (this.waiters.length && this.pending.size <= this.resumeAt) for (const w of this.waiters.splice(0)) w();
    if (!this.pending.size) {
      const idle = this.idle;
      this.idle = [];
      for (const w of idle) w();
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.settle(id);
      OUTCOME.timeout.inc();
      p.reject(new PublishError(p.subject, `no ack within ${this.timeoutMs} ms`));
    }
  }

  private send(subject: string, data: Uint8Array | string, opts: PublishOptions, resolve: (ack: PubAck) => void, reject: (e: Error) => void): void {
    const id = this.next++;
    const reply = this.replyPrefix + id;
    // Other headers than a message id go through nats.js (it canonicalises and checks them).
    let hdrs: MsgHdrs | undefined;
    if (opts.headers && Object.keys(opts.headers).length) {
      hdrs = natsHeaders();
      if (opts.msgId) hdrs.set('Nats-Msg-Id', opts.msgId);
      for (const [k, v] of Object.entries(opts.headers)) hdrs.set(k, v);
    }
    const started = performance.now();
    this.pending.set(id, { subject, deadline: started + this.timeoutMs, started, resolve, reject });
    try {
      if (hdrs) this.nc.publish(subject, data, { reply, headers: hdrs });
      else this.frames.publish(subject, reply, data, opts.msgId || undefined);
    } catch (e) {
      this.settle(id);
      reject(e as Error);
    }
  }

  /** A publishAsync failure, recorded synchronously so that a flush() woken by the same ack sees it. */
  private readonly recordFailure = (e: Error): void => {
    if (this.onError) this.onError(e);
    else this.failures.push(e);
  };

  /** Publish; the promise resolves with the ack (await it for one-at-a-time publishing). */
  publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PubAck> {
    return new Promise<PubAck>((resolve, reject) => this.send(subject, data, opts, resolve, reject));
  }

  /**
   * Publish, hearing of the ack or the failure through callbacks: for a caller that
   * publishes chains of messages on its hot path (the outbox relay), no promise and no
   * resumed async function per message. `onError` may be called before this returns.
   */
  publishWith(subject: string, data: Uint8Array | string, opts: PublishOptions, onAck: (ack: PubAck) => void, onError: (e: Error) => void): void {
    this.send(subject, data, opts, onAck, onError);
  }

  /**
   * Publish without waiting for the ack. Returns nothing while fewer than `window`
   * acks are outstanding, and a promise to wait on when the window is full
   * (backpressure, as Ingestor.write), which resolves once a quarter of the window is free. A failed ack is kept: `flush()` rejects with
   * every failure, and `onError` (if given) hears of each one.
   *
   *   for (const m of messages) {
   *     const wait = publisher.publishAsync(subject, m);
   *     if (wait) await wait;   // not awaiting every call lets publishes share socket writes
   *   }
   *   await publisher.flush();
   */
  publishAsync(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<void> | void {
    // No promise per message: the ack only settles the window, a failure is recorded.
    this.send(subject, data, opts, noop, this.recordFailure);
    if (this.pending.size >= this.window) return new Promise<void>((r) => this.waiters.push(r));
  }

  /** A typed subject: the payload is checked against its schema before anything is sent. */
  async emit<S extends string, Z extends z.ZodType>(subject: Subject<S, Z>, params: SubjectParams<S>, payload: z.input<Z>, opts: PublishOptions = {}): Promise<PubAck> {
    return this.publish(subject.subject(params), subject.encode(payload), opts);
  }

  /** Wait until every outstanding ack has arrived; rejects with the publishAsync failures since the last flush. */
  async flush(): Promise<void> {
    if (this.pending.size) await new Promise<void>((r) => this.idle.push(r));
    if (this.failures.length) {
      const errs = this.failures.splice(0);
      throw new PublishFailuresError(errs);
    }
  }

  async close(): Promise<void> {
    await this.flush();
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
  }
}
