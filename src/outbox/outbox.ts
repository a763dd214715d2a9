/**
 * Writing to the outbox: inside the transaction that changes the business rows,
 * so the event exists exactly when the change does.
 *
 *   await db.withTenant(orgId, async (tx) => {
 *     await tx.query('update registry.sources set retired_at = now() where id = $1', [id]);
 *     await enqueue(tx, sourceRetired, { orgId }, { sourceId: id }, { key: `source:${id}` });
 *   });
 */
import type { z } from 'zod';
import type { Tx } from '../postgres/database.js';
import type { Subject, SubjectParams } from '../nats/subjects.js';

const decoder = new TextDecoder();

export interface EnqueueOptions {
  /** Ordering key: events with the same key are published in the order they were written. */
  key?: string;
  headers?: Record<string, string>;
}

export interface Enqueued {
  id: string;
  /** Becomes Nats-Msg-Id: JetStream and inbox-based consumers drop repeats of it. */
  messageId: string;
}

/** A typed event: the payload is checked against the subject's schema before anything is written. */
export async function enqueue<S extends string, Z extends z.ZodType>(
  tx: Tx,
  subject: Subject<S, Z>,
  params: SubjectParams<S>,
  payload: z.input<Z>,
  opts: EnqueueOptions = {},
): Promise<Enqueued> {
  const body = decoder.decode(subject.encode(payload));
  return enqueueRaw(tx, subject.subject(params), body, opts);
}

/** An event whose payload is already JSON text. */
export async function enqueueRaw(tx: Tx, subject: string, json: string, opts: EnqueueOptions = {}): Promise<Enqueued> {
  const r = await tx.query<{ id: string; message_id: string }>(
    'insert into messaging.outbox (subject, payload, headers, key) values ($1, $2::json, $3::jsonb, $4) returning id, message_id',
    [subject, json, JSON.stringify(opts.headers ?? {}), opts.key ?? null],
  );
  return { id: r.rows[0]!.id, messageId: r.rows[0]!.message_id };
}
