/**
 * Retention of the outbox and the inbox: messaging.prune() (migration 0014) called while a
 * call comes back full, up to MAX_CALLS. Each call deletes a bounded number of rows in its own
 * transaction, so a first run on a year of rows does not hold one long transaction.
 */
import type { MigrationClient } from '../postgres/migrations.js';

export interface MessagingKeeps {
  /** days a published outbox row stays; 0 = forever */
  outboxKeepDays: number;
  /** days an inbox entry stays; 0 = forever */
  inboxKeepDays: number;
}

export interface Pruned {
  outbox: number;
  inbox: number;
}

/** Stops a run after this many calls (rows per call × calls), to go on at the next run. */
const MAX_CALLS = 100;

/** Deletes what the keeps allow; null when the messaging schema (or migration 0014) is absent. */
export async function pruneMessaging(db: MigrationClient, keeps: MessagingKeeps, rowsPerCall = 10_000): Promise<Pruned | null> {
  const exists = await db.query<{ p: string | null }>("select to_regprocedure('messaging.prune(interval, interval, integer)')::text as p");
  if (!exists.rows[0]?.p) return null;
  const keep = (days: number): string | null => (days > 0 ? `${days} days` : null);
  const total: Pruned = { outbox: 0, inbox: 0 };
  for (let call = 0; call < MAX_CALLS; call++) {
    const r = await db.query<{ outbox_deleted: number; inbox_deleted: number }>(
      'select outbox_deleted, inbox_deleted from messaging.prune($1::interval, $2::interval, $3)',
      [keep(keeps.outboxKeepDays), keep(keeps.inboxKeepDays), rowsPerCall],
    );
    const { outbox_deleted: o, inbox_deleted: i } = r.rows[0]!;
    total.outbox += o;
    total.inbox += i;
    if (o < rowsPerCall && i < rowsPerCall) break;
  }
  return total;
}
