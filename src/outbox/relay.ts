/**
 * The outbox relay: publishes outbox rows to JetStream with the row's message id
 * as Nats-Msg-Id, reading the outbox as a log from a stored position (relay-log.ts).
 *
 * - At most one relay works at a time (a session advisory lock); others wait, so
 *   several instances give high availability without duplicate work. The position
 *   moves only from where this relay found it, so a relay that lost its lock unnoticed
 *   stops at its next batch.
 * - Per-key order: rows with the same key are published one after another in
 *   (xid, id) order; different keys go in parallel. A row JetStream refuses (no stream
 *   captures its subject, a permission) is held with the later rows of its key as the
 *   position passes them, and retried in order every poll interval: only that key waits.
 * - A publish without an answer (timeout, lost connection) holds nothing: the batch is
 *   not recorded, and the relay starts again from the position after the poll interval.
 * - Two batches are in flight: the next is read while the current one publishes, and
 *   a key's chain in the later batch starts once its chain in the earlier one ended.
 * - Nothing is written per row: a batch costs one read and one update of the position.
 *   A crash between publishing and moving the position publishes those rows again;
 *   JetStream drops them as duplicates (duplicate window), and consumers that record
 *   message ids in messaging.inbox ignore any that get past.
 */
import type pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { counter, gauge, histogram, hotObserver } from '../lib/metrics.js';
import type { Database } from '../postgres/database.js';
import { isRefusal, Publisher, PublishError } from '../nats/publisher.js';
import { advance, heldKeys, heldRowsOf, keyOf, loadPosition, readAfter, recordFailure, release, type Hold, type OutboxRow, type Position } from './relay-log.js';

const relayed = counter('dataplane_outbox_published_total', 'Outbox rows published by the relay', ['outcome']);
const lag = hotObserver(histogram('dataplane_outbox_lag_seconds', 'Time from outbox insert to JetStream ack', [], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]));
const leaderGauge = gauge('dataplane_outbox_relay_leader', '1 while this process is the active outbox relay', []);

/** 'dpoutbox' as a big-endian int8: the advisory lock of the active relay. */
const LEADER_LOCK = '7237407151438851960';
/** Held rows of a key read at a time when retrying it (the oldest first, so its rows stay in order). */
const RETRY_ROWS = 1000;

export interface RelayOptions {
  /** A role that may read messaging.outbox and write the relay's tables (app_rw). */
  db: Database;
  nc: NatsConnection;
  publisher?: Publisher;
  batchSize?: number;
  /** Poll at least this often, besides waking on NOTIFY (default 1 s); held rows are retried as often. */
  pollIntervalMs?: number;
  /** Held rows of a key read at a time when retrying it (default 1000). */
  retryRows?: number;
  onError?: (e: Error) => void;
  /** After each batch: rows published, and each one's seconds from insert to ack. */
  onBatch?: (published: number, lagSeconds: readonly number[]) => void;
}

/** A row JetStream refused, for the error the relay reports. */
interface Failure {
  subject: string;
  error: Error;
}

/** Wait for every promise, then throw the first failure: none is left running behind a throw. */
async function settled(ps: Promise<unknown>[]): Promise<void> {
  const ends = await Promise.allSettled(ps);
  const failure = ends.find((w): w is PromiseRejectedResult => w.status === 'rejected');
  if (failure) throw failure.reason;
}

export class OutboxRelay {
  private readonly publisher: Publisher;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly retryRows: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private leader: { client: pg.PoolClient; onNotification: () => void; onError: () => void } | undefined;
  /** Per key, the publishing chain of the latest batch. */
  private readonly tails = new Map<string, Promise<void>>();
  /** Keys with held rows: their later rows are held too, until a retry publishes the held ones. */
  private heldKeys = new Set<string>();
  /** Position updates, one after another in batch order. */
  private commits: Promise<void> = Promise.resolve();
  /** A publish that got no answer: every chain stops, and the drain starts again from the position. */
  private aborted: Error | undefined;
  private nextRetry = 0;
  readonly stats = { published: 0, failed: 0, batches: 0, leader: false };

  constructor(private readonly opts: RelayOptions) {
    this.publisher = opts.publisher ?? new Publisher(opts.nc);
    this.batchSize = opts.batchSize ?? 500;
    this.pollMs = opts.pollIntervalMs ?? 1000;
    this.retryRows = opts.retryRows ?? RETRY_ROWS;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.releaseLeadership();
    if (!this.opts.publisher) await this.publisher.close();
  }

  private async releaseLeadership(): Promise<void> {
    const l = this.leader;
    this.leader = undefined;
    this.stats.leader = false;
    leaderGauge.set(0);
    if (!l) return;
    // The client goes back to the pool: it must not keep waking or deposing this relay.
    l.client.off('notification', l.onNotification);
    l.client.off('error', l.onError);
    await l.client.query(`unlisten dataplane_outbox; select pg_advisory_unlock(${LEADER_LOCK})`).catch(() => {});
    l.client.release();
  }

  /** Try to become the active relay; LISTEN on the same session. */
  private async lead(): Promise<boolean> {
    if (this.leader) return true;
    const c = await this.opts.db.pool.connect();
    try {
      const r = await c.query<{ ok: boolean }>(`select pg_try_advisory_lock(${LEADER_LOCK}) as ok`);
      if (!r.rows[0]?.ok) {
        c.release();
        return false;
      }
      await c.query('listen dataplane_outbox');
      const onNotification = () => this.wake?.();
      // A lost connection loses the lock: step down and try again.
      const onError = () => void this.releaseLeadership();
      c.on('notification', onNotification);
      c.once('error', onError);
      this.leader = { client: c, onNotification, onError };
      this.stats.leader = true;
      leaderGauge.set(1);
      return true;
    } catch (e) {
      c.release(e as Error);
      throw e;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (await this.lead()) await this.drain();
      } catch (e) {
        this.opts.onError?.(e as Error);
        // A publish without an answer keeps the lock; anything else may mean a lost session.
        if (!(e instanceof PublishError)) await this.releaseLeadership();
      }
      if (this.running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.pollMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** Publish from the stored position until the outbox is drained, two batches in flight. */
  private async drain(): Promise<void> {
    const state = await loadPosition(this.opts.db);
    this.heldKeys = state.heldKeys;
    this.commits = Promise.resolve();
    this.aborted = undefined;
    let read: Position = state.position;
    const inflight: Promise<void>[] = [];
    try {
      while (this.running && !this.aborted) {
        if (this.heldKeys.size && Date.now() >= this.nextRetry) {
          // Retried with nothing in flight: every hold is then recorded, and no later row of a key runs alongside.
          await settled(inflight.splice(0));
          await this.retryHeld();
          this.nextRetry = Date.now() + this.pollMs;
          if (this.aborted) break;
        }
        const rows = await readAfter(this.opts.db, read, this.batchSize);
        if (!rows.length) break;
        const from = read;
        read = { xid: rows.at(-1)!.xid, id: rows.at(-1)!.id };
        const batch = this.relayBatch(rows, from, read);
        batch.catch(() => {}); // awaited below; handled here so a failure while the next batch is read is not unhandled
        inflight.push(batch);
        if (inflight.length >= 2) await inflight.shift();
        if (rows.length < this.batchSize) break;
      }
    } finally {
      await settled(inflight);
    }
    if (this.aborted) throw this.aborted;
  }

  /** Run `fn` for `key` after the key's previous chain. */
  private chain(key: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Publish a row, with its message id (and headers, if it has any). */
  private send(row: OutboxRow, onAck: () => void, onError: (e: Error) => void): void {
    this.publisher.publishWith(row.subject, row.payload, row.headers ? { msgId: row.message_id, headers: row.headers } : { msgId: row.message_id }, onAck, onError);
  }

  private acked(row: OutboxRow, lags: number[]): void {
    const seconds = (Date.now() - row.created_ms) / 1000;
    lag(seconds);
    lags.push(seconds);
  }

  /** True if JetStream refused the publish (the row is held); else the publish got no answer and the relay aborts. */
  private refused(e: Error): boolean {
    if (isRefusal(e, this.opts.nc)) return true;
    this.aborted ??= e;
    return false;
  }

  /** Publish a held row again; false (and the relay aborted) if it got no answer, the error if JetStream refused it. */
  private publishRow(row: OutboxRow, lags: number[]): Promise<Error | undefined | false> {
    return new Promise((resolve) => {
      const onAck = () => {
        this.acked(row, lags);
        resolve(undefined);
      };
      this.send(row, onAck, (e) => resolve(this.refused(e) ? e : false));
    });
  }

  private async relayBatch(rows: OutboxRow[], from: Position, to: Position): Promise<void> {
    const chains = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const k = keyOf(row);
      const chain = chains.get(k);
      if (chain) chain.push(row);
      else chains.set(k, [row]);
    }
    const holds: Hold[] = [];
    const failures: Failure[] = [];
    const lags: number[] = [];
    const published = Promise.all([...chains].map(([key, chain]) => this.chain(key, () => this.publishChain(key, chain, { holds, failures, lags }))));
    // The position moves in batch order, whichever batch's chains end first: the slot is taken now.
    // The chains are waited for even when an earlier batch failed, so none runs on behind a failure.
    const previous = this.commits;
    const commit = published
      .then(() => previous)
      .then(() => {
        if (this.aborted) throw this.aborted;
        return advance(this.opts.db, from, to, holds);
      });
    this.commits = commit;
    await commit;
    this.counted(lags, failures);
  }

  /**
   * Publish a key's rows of a batch in order, each once the previous one's ack arrived.
   * Callbacks rather than a loop awaiting each publish: no promise per row on the
   * relay's path. A refused row is held, and so are the key's later rows; a publish
   * without an answer stops every chain (the relay starts again from the position).
   */
  private publishChain(key: string, rows: readonly OutboxRow[], out: { holds: Hold[]; failures: Failure[]; lags: number[] }): Promise<void> {
    return new Promise<void>((done) => {
      let i = 0;
      let row: OutboxRow;
      const next = (): void => {
        for (;;) {
          if (i === rows.length || this.aborted) return done();
          row = rows[i++]!;
          if (!this.heldKeys.has(key)) break;
          out.holds.push({ id: row.id, key, xid: row.xid, error: null });
        }
        this.send(row, onAck, onError);
      };
      const onAck = (): void => {
        this.acked(row, out.lags);
        next();
      };
      const onError = (e: Error): void => {
        if (!this.refused(e)) return done();
        out.failures.push({ subject: row.subject, error: e });
        out.holds.push({ id: row.id, key, xid: row.xid, error: e.message });
        this.heldKeys.add(key);
        next();
      };
      next();
    });
  }

  /** Publish held rows in order, every held key at once; a key whose rows all went out is free again. */
  private async retryHeld(): Promise<void> {
    const failures: Failure[] = [];
    const lags: number[] = [];
    await Promise.all([...(await heldKeys(this.opts.db))].map((key) => this.retryKey(key, failures, lags)));
    this.heldKeys = await heldKeys(this.opts.db);
    this.counted(lags, failures);
  }

  /** A key's held rows, a chunk at a time, until one fails or none is left. */
  private async retryKey(key: string, failures: Failure[], lags: number[]): Promise<void> {
    for (;;) {
      const chain = await heldRowsOf(this.opts.db, key, this.retryRows);
      const done: string[] = [];
      let stopped = false;
      for (const row of chain) {
        const failed = this.aborted ? false : await this.publishRow(row, lags);
        if (failed === false) stopped = true;
        else if (failed) {
          failures.push({ subject: row.subject, error: failed });
          await recordFailure(this.opts.db, row.id, failed.message);
          stopped = true;
        }
        if (stopped) break;
        done.push(row.id);
      }
      if (done.length) await release(this.opts.db, done);
      if (stopped || chain.length < this.retryRows) return;
    }
  }

  private counted(lags: number[], failures: Failure[]): void {
    const published = lags.length;
    relayed.inc({ outcome: 'published' }, published);
    this.stats.published += published;
    if (published) this.stats.batches++;
    if (failures.length) {
      relayed.inc({ outcome: 'failed' }, failures.length);
      this.stats.failed += failures.length;
      const first = failures[0]!;
      const reason = first.error instanceof PublishError ? first.error.reason : first.error.message;
      const serverCode = first.error instanceof PublishError ? first.error.serverCode : undefined;
      this.opts.onError?.(new PublishError(first.subject, `${reason} (${failures.length} outbox row(s) failed; their keys are held)`, serverCode));
    }
    this.opts.onBatch?.(published, lags);
  }
}
