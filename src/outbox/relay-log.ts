/**
 * The outbox as the relay sees it (migration 0012): an append-only log read from a
 * position, and the held rows of keys whose events failed to publish.
 *
 * Rows are read in (xid, id) order, and only rows of transactions older than every
 * transaction still running: a row appearing later (a transaction that commits after
 * the read) then always comes after the position, never before it.
 */
import { DataplaneError } from '../errors/index.js';
import type { Database } from '../postgres/database.js';

export interface Position {
  /** the writing transaction, as text (xid8 exceeds a double) */
  xid: string;
  id: string;
}

export interface OutboxRow {
  id: string;
  xid: string;
  subject: string;
  /** The stored JSON as PostgreSQL writes it: published as is, so a number keeps every digit. */
  payload: string;
  /** null when the row has none (most rows: no JSON to parse) */
  headers: Record<string, string> | null;
  message_id: string;
  key: string | null;
  /** insert time, in milliseconds since the epoch (a number parses faster than a timestamp) */
  created_ms: number;
}

/** A row the position passes without publishing it: it failed, or an earlier row of its key did. */
export interface Hold {
  id: string;
  key: string;
  xid: string;
  error: string | null;
}

export class OutboxPositionMovedError extends DataplaneError {
  readonly code = 'OUTBOX_POSITION_MOVED';
  constructor() {
    super('the outbox position was moved by another relay', { hint: 'two relays were active at once (a lost leader session); this one starts again from the stored position' });
  }
}

/** The ordering key of a row; a row without one is alone in its chain. */
export const keyOf = (row: Pick<OutboxRow, 'id' | 'key'>): string => row.key ?? `#${row.id}`;

/**
 * Read as arrays, mapped to rows here: node-postgres then builds no object per row (a
 * spread of a template and a keyed store per column), ~0.2-0.3 us less per row on the
 * relay's path, where every row is read once. The insert time stays a float: as an
 * integer (numeric or int8 casts) it cost the server more than float8's text form.
 */
const COLUMNS = `o.id, o.xid::text, o.subject, o.payload::text, nullif(o.headers, '{}'), o.message_id, o.key,
  date_part('epoch', o.created_at) * 1000`;

type RowValues = [string, string, string, string, Record<string, string> | null, string, string | null, number];

const toRows = (r: { rows: RowValues[] }): OutboxRow[] =>
  r.rows.map((v) => ({ id: v[0], xid: v[1], subject: v[2], payload: v[3], headers: v[4], message_id: v[5], key: v[6], created_ms: v[7] }));

export async function loadPosition(db: Database): Promise<{ position: Position; heldKeys: Set<string> }> {
  const p = await db.query<Position>('select xid::text as xid, last_id::text as id from messaging.outbox_relay');
  return { position: p.rows[0] ?? { xid: '0', id: '0' }, heldKeys: await heldKeys(db) };
}

/** The keys with held rows: one index probe per key (a loose index scan), however many rows each holds. */
export async function heldKeys(db: Database): Promise<Set<string>> {
  const r = await db.query<{ key: string }>(
    `with recursive k as (
       (select key from messaging.outbox_held order by key limit 1)
       union all
       select (select h.key from messaging.outbox_held h where h.key > k.key order by h.key limit 1) from k where k.key is not null)
     select key from k where key is not null`,
  );
  return new Set(r.rows.map((x) => x.key));
}

/** The next rows after `after` that no running transaction can still precede. */
export async function readAfter(db: Database, after: Position, limit: number): Promise<OutboxRow[]> {
  const r = await db.query<RowValues>(
    `select ${COLUMNS} from messaging.outbox o
      where (o.xid, o.id) > ($1::xid8, $2::bigint) and o.xid < pg_snapshot_xmin(pg_current_snapshot())
      order by o.xid, o.id limit $3`,
    [after.xid, after.id, limit],
    { rowMode: 'array' },
  );
  return toRows(r);
}

/**
 * Move the position from `from` to `to`, recording the rows held on the way, in one
 * statement. Refused if the stored position is not `from` (another relay moved it).
 */
export async function advance(db: Database, from: Position, to: Position, holds: readonly Hold[]): Promise<void> {
  const r = await db.query(
    `with held as (
       insert into messaging.outbox_held (id, key, xid, last_error)
       select * from unnest($5::bigint[], $6::text[], $7::xid8[], $8::text[]) on conflict (id) do nothing)
     update messaging.outbox_relay set xid = $3::xid8, last_id = $4, moved_at = now()
      where xid = $1::xid8 and last_id = $2`,
    [from.xid, from.id, to.xid, to.id, holds.map((h) => h.id), holds.map((h) => h.key), holds.map((h) => h.xid), holds.map((h) => h.error)],
  );
  if (r.rowCount !== 1) throw new OutboxPositionMovedError();
}

/** The first `limit` held rows of a key, in publishing order. */
export async function heldRowsOf(db: Database, key: string, limit: number): Promise<OutboxRow[]> {
  const r = await db.query<RowValues>(
    `select ${COLUMNS} from (select id from messaging.outbox_held where key = $1 order by xid, id limit $2) h
       join messaging.outbox o using (id) order by o.xid, o.id`,
    [key, limit],
    { rowMode: 'array' },
  );
  return toRows(r);
}

export async function release(db: Database, ids: readonly string[]): Promise<void> {
  await db.query('delete from messaging.outbox_held where id = any($1::bigint[])', [ids]);
}

export async function recordFailure(db: Database, id: string, error: string): Promise<void> {
  await db.query('update messaging.outbox_held set attempts = attempts + 1, last_error = $2 where id = $1', [id, error]);
}

export interface OutboxCounts {
  pending: number;
  oldestPendingSeconds: number | null;
  /** held rows whose own publish failed */
  failing: number;
  /** held rows, failed or waiting behind a failed one of their key */
  held: number;
  published: number;
  /** the error of the oldest failing row */
  lastError: string | null;
}

/**
 * What `dataplane outbox status` reports: the backlog as monitoring sees it
 * (messaging.outbox_backlog(): rows after the position, and held ones), with the held rows.
 */
export async function outboxCounts(db: Database): Promise<OutboxCounts> {
  const r = await db.query<{ unpublished: string; oldest_s: number; failing: string; held: string; total: string; last_error: string | null }>(`
    select b.unpublished, b.oldest_age_seconds as oldest_s,
           (select count(*) from messaging.outbox_held where last_error is not null) as failing,
           (select count(*) from messaging.outbox_held) as held,
           (select count(*) from messaging.outbox) as total,
           (select last_error from messaging.outbox_held where last_error is not null order by xid, id limit 1) as last_error
      from messaging.outbox_backlog() b`);
  const row = r.rows[0]!;
  const pending = Number(row.unpublished);
  return {
    pending,
    oldestPendingSeconds: pending ? row.oldest_s : null,
    failing: Number(row.failing),
    held: Number(row.held),
    published: Number(row.total) - pending,
    lastError: row.last_error,
  };
}
