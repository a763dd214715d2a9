/**
 * Idempotent consumers: a message's effect and the record that it was processed
 * commit together, so a redelivered message (after a crash, a nak, a relay
 * re-publish outside the duplicate window) has no effect the second time.
 *
 *   await processOnce(db, 'billing', msgIdOf(msg), async (tx) => {
 *     await tx.query('insert into invoices ...');
 *   });
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Database, Tx } from '../postgres/database.js';

export function msgIdOf(msg: Pick<JsMsg, 'headers' | 'info'>): string {
  return msg.headers?.get('Nats-Msg-Id') || `${msg.info.stream}:${msg.info.streamSequence}`;
}

export async function processOnce<T>(
  db: Database,
  consumer: string,
  messageId: string,
  fn: (tx: Tx) => Promise<T>,
  opts: { tenant?: number | string } = {},
): Promise<{ processed: true; result: T } | { processed: false }> {
  return db.transaction(async (tx) => {
    const r = await tx.query('insert into messaging.inbox (consumer, message_id) values ($1, $2) on conflict do nothing', [consumer, messageId]);
    if (!r.rowCount) return { processed: false as const };
    return { processed: true as const, result: await fn(tx) };
  }, opts.tenant === undefined ? {} : { tenant: opts.tenant });
}
