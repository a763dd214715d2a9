/**
 * The outbox relay: publishes outbox rows to JetStream with the row's message id
 * as Nats-Msg-Id, then marks them published.
 *
 * - At most one relay works at a time (a session advisory lock); others wait, so
 *   several instances give high availability without duplicate work.
 * - Per-key order: rows with the same key are published one after another in id
 *   order; different keys go in parallel. A failed publish stops its key's chain,
 *   so a later event of that key is never published before an earlier one; events
 *   queued behind a failed one are not even claimed, so such a key cannot fill the
 *   batches and hold the other keys back.
 * - Two batches are in flight: the next is claimed (one claim at a time, so claims
 *   take ids in order) while the current one publishes, and a key's chain in the later
 *   batch starts once its chain in the earlier one succeeded. NATS then does not wait
 *   for PostgreSQL between batches (+10-15% events/s in A/B runs of bench/outbox.ts).
 * - A crash after publishing and before marking leaves rows unmarked; they are
 *   published again and JetStream drops them as duplicates (duplicate window), and
 *   consumers that record message ids in messaging.inbox ignore any that get past.
 */
import type pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { counter, gauge, histogram } from '../lib/metrics.js';
import type { Database, Tx } from '../postgres/database.js';
import { Publisher, PublishError } from '../nats/publisher.js';

const relayed = counter('dataplane_outbox_published_total', 'Outbox rows published by the relay', ['outcome']);
const lag = histogram('dataplane_outbox_lag_seconds', 'Time from outbox insert to JetStream ack', [], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
const leaderGauge = gauge('dataplane_outbox_relay_leader', '1 while this process is the active outbox relay', []);

/** 'dpoutbox' as a big-endian int8: the advisory lock of the active relay. */
const LEADER_LOCK = '7237407151438851960';

export interface RelayOptions {
  /** A role that may read and update messaging.outbox (app_rw). */
  db: Database;
  nc: NatsConnection;
  publisher?: Publisher;
  batchSize?: number;
  /** Poll at least this often, besides waking on NOTIFY (default 1 s). */
  pollIntervalMs?: number;
  onError?: (e: Error) => void;
  onBatch?: (published: number) => void;
}

interface Row {
  id: string;
  subject: string;
  /** The stored JSON as PostgreSQL writes it: published as is, so a number keeps every digit. */
  payload: string;
  headers: Record<string, string>;
  message_id: string;
  key: string | null;
  created_at: Date;
}

export class OutboxRelay {
  private readonly publisher: Publisher;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private leader: pg.PoolClient | undefined;
  /** Claims of batches, one at a time: chained so each claim sees the previous one's locks. */
  private claims: Promise<unknown> = Promise.resolve();
  /** Per key, the publishing chain of the latest batch. */
  private readonly tails = new Map<string, Promise<boolean>>();
  /**
   * Per key, its event that failed to publish: later events of the key wait. Kept after the
   * failure is committed, until a claim that began after the commit (its snapshot sees
   * last_error, so it holds back the later events itself) or a retry that publishes it.
   * `committedAt` is the number of claims begun when the failure's batch ended.
   */
  private readonly blocked = new Map<string, { id: bigint; committedAt?: number }>();
  /** Claims begun so far: a claim's number says which commits its snapshot saw. */
  private claimsBegun = 0;
  readonly stats = { published: 0, failed: 0, batches: 0, leader: false };

  constructor(private readonly opts: RelayOptions) {
    this.publisher = opts.publisher ?? new Publisher(opts.nc);
    this.batchSize = opts.batchSize ?? 500;
    this.pollMs = opts.pollIntervalMs ?? 1000;
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
    const c = this.leader;
    this.leader = undefined;
    this.stats.leader = false;
    leaderGauge.set(0);
    if (!c) return;
    await c.query(`select pg_advisory_unlock(${LEADER_LOCK})`).catch(() => {});
    c.release();
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
      c.on('notification', () => this.wake?.());
      // A lost connection loses the lock: step down and try again.
      c.once('error', () => void this.releaseLeadership());
      this.leader = c;
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
        // Two workers, each a batch at a time, until the outbox is drained.
        if (await this.lead()) {
          const workers = await Promise.allSettled([this.drain(), this.drain()]);
          const failure = workers.find((w): w is PromiseRejectedResult => w.status === 'rejected');
          if (failure) throw failure.reason;
        }
      } catch (e) {
        this.opts.onError?.(e as Error);
        await this.releaseLeadership();
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

  private async drain(): Promise<void> {
    while (this.running && (await this.runOnce()) >= this.batchSize);
  }

  /** Claim the next batch: its rows locked, grouped by key; claims run one at a time. */
  private claim(tx: Tx): Promise<{ rows: Row[]; chains: Map<string, Row[]>; claimNo: number }> {
    const claimed = this.claims.then(async () => {
      const claimNo = ++this.claimsBegun;
      const rows = (
        await tx.query<Row>(
          // Not the events behind a failed one of their key: they wait for it, and would
          // otherwise fill the batches while other keys wait (outbox_failed_idx).
          `select id, subject, payload::text as payload, headers, message_id, key, created_at from messaging.outbox o
            where published_at is null
              and not exists (select from messaging.outbox f
                               where f.published_at is null and f.last_error is not null and f.key = o.key and f.id < o.id)
            order by id limit $1 for update skip locked`,
          [this.batchSize],
        )
      ).rows;
      const chains = new Map<string, Row[]>();
      for (const row of rows) {
        const k = row.key ?? `#${row.id}`;
        const chain = chains.get(k);
        if (chain) chain.push(row);
        else chains.set(k, [row]);
      }
      return { rows, chains, claimNo };
    });
    this.claims = claimed.catch(() => undefined);
    return claimed;
  }

  /** Publish one batch of unpublished rows; returns how many were published. */
  async runOnce(): Promise<number> {
    const failedHere: string[] = [];
    const published = await this.opts.db.transaction(async (tx) => {
      const { rows, chains, claimNo } = await this.claim(tx);
      if (!rows.length) return 0;
      const done: string[] = [];
      const failed: { id: string; subject: string; error: string }[] = [];
      await Promise.all(
        [...chains].map(([key, chain]) => {
          const previous = this.tails.get(key);
          const run = (async () => {
            // The key's rows of the batch claimed before this one go first. If one of them failed,
            // these wait: its failure is committed only with its batch, after this batch's claim.
            await previous;
            const blocked = this.blocked.get(key);
            if (blocked && BigInt(chain[0]!.id) > blocked.id) {
              // This claim may predate the failure's commit (its snapshot then let the later events
              // through): they wait. A claim begun after the commit saw last_error itself.
              if (blocked.committedAt === undefined || claimNo <= blocked.committedAt) return false;
              this.blocked.delete(key);
            }
            for (const row of chain) {
              try {
                await this.publisher.publish(row.subject, row.payload, { msgId: row.message_id, headers: row.headers });
                done.push(row.id);
                if (this.blocked.get(key)?.id === BigInt(row.id)) this.blocked.delete(key); // the failed one, retried
                lag.observe((Date.now() - row.created_at.getTime()) / 1000);
              } catch (e) {
                failed.push({ id: row.id, subject: row.subject, error: (e as Error).message });
                this.blocked.set(key, { id: BigInt(row.id) });
                failedHere.push(key);
                return false; // later rows of this key wait for this one
              }
            }
            return true;
          })();
          this.tails.set(key, run);
          void run.finally(() => {
            if (this.tails.get(key) === run) this.tails.delete(key);
          });
          return run;
        }),
      );
      if (done.length) await tx.query('update messaging.outbox set published_at = now(), attempts = attempts + 1 where id = any($1::bigint[])', [done]);
      for (const f of failed) {
        await tx.query('update messaging.outbox set attempts = attempts + 1, last_error = $2 where id = $1', [f.id, f.error]);
      }
      relayed.inc({ outcome: 'published' }, done.length);
      if (failed.length) {
        relayed.inc({ outcome: 'failed' }, failed.length);
        this.stats.failed += failed.length;
        this.opts.onError?.(new PublishError(failed[0]!.subject, `${failed.length} outbox row(s) not published: ${failed[0]!.error}`));
      }
      return done.length;
    }).finally(() => {
      // Committed (or rolled back) now: claims begun from here on see the failure (last_error) or,
      // after a rollback, the failed event itself ahead of the later ones.
      for (const key of failedHere) {
        const b = this.blocked.get(key);
        if (b && b.committedAt === undefined) b.committedAt = this.claimsBegun;
      }
    });
    this.stats.published += published;
    if (published) this.stats.batches++;
    this.opts.onBatch?.(published);
    return published;
  }
}
