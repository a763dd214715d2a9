-- The outbox becomes an append-only log read from a position, as PgQ reads its queues,
-- instead of rows locked, published and updated one by one. Publishing no longer writes
-- to each row: marking a row published cost a row lock and a new row version with three
-- index entries, and held the relay to 0.4x of publishing the same events directly.
--
-- Each row carries the transaction that wrote it (xid). The relay reads rows in
-- (xid, id) order, only those of transactions older than every transaction still running
-- (the snapshot's xmin): once such a row is visible, no row can appear before it any
-- more, so the position never passes a row that commits later. The cost: an open write
-- transaction anywhere in the cluster holds the relay until it ends (the roles'
-- idle_in_transaction_session_timeout bounds an idle one).
--
-- A row that cannot be published (no stream captures its subject, a permission) and the
-- later rows of its key are recorded in outbox_held as the position passes them; the relay
-- retries them in order, so only that key waits.

alter table messaging.outbox add column xid xid8;
update messaging.outbox set xid = pg_current_xact_id();
alter table messaging.outbox alter column xid set default pg_current_xact_id(), alter column xid set not null;
comment on column messaging.outbox.xid is 'the transaction that wrote the row: the relay reads rows in (xid, id) order';
create index outbox_position_idx on messaging.outbox (xid, id);

create table messaging.outbox_relay (
  singleton  boolean primary key default true check (singleton),
  xid        xid8        not null,
  last_id    bigint      not null,
  moved_at   timestamptz not null default now()
);
comment on table messaging.outbox_relay is 'How far the outbox relay has read: every row at or before (xid, last_id) is published or held';

create table messaging.outbox_held (
  id         bigint primary key references messaging.outbox on delete cascade,
  key        text        not null,
  xid        xid8        not null,
  attempts   integer     not null default 1 check (attempts >= 0),
  last_error text,
  held_at    timestamptz not null default now()
);
comment on table messaging.outbox_held is 'Outbox rows that failed to publish, and the later rows of their key: retried in id order';
comment on column messaging.outbox_held.key is 'the row''s ordering key, or #id for a row without one';
-- Each held key's rows in publishing order, and the held keys themselves (a loose index scan):
-- a key held for a long time with many rows does not slow the retry of the others.
create index outbox_held_key_idx on messaging.outbox_held (key, xid, id);
comment on column messaging.outbox_held.last_error is 'why the row failed; null for a row held only because an earlier row of its key failed';

-- Rows already published stay behind the position; those not yet published after a failure
-- (with anything before them unpublished) are held, so nothing is published twice or skipped.
insert into messaging.outbox_relay (xid, last_id)
  select pg_current_xact_id(), coalesce(max(id), 0) from messaging.outbox where published_at is not null;
insert into messaging.outbox_held (id, key, xid, attempts, last_error)
  select o.id, coalesce(o.key, '#' || o.id), o.xid, greatest(o.attempts, 1), o.last_error
    from messaging.outbox o, messaging.outbox_relay r
   where o.published_at is null and o.id <= r.last_id;

-- json keeps the text the application wrote, which is what the relay publishes: no jsonb
-- parse on insert and no re-serialisation on every read.
alter table messaging.outbox alter column payload type json using payload::json;
comment on column messaging.outbox.payload is 'the event''s JSON, published as written';

drop index messaging.outbox_failed_idx;
drop index messaging.outbox_unpublished_idx;
drop index messaging.outbox_published_at_idx;
alter table messaging.outbox drop column published_at, drop column attempts, drop column last_error;

create or replace function messaging.outbox_backlog(out unpublished bigint, out oldest_age_seconds double precision)
  language sql stable security definer
  set search_path = pg_catalog, messaging
as $$
  with pending as (
    select o.created_at from messaging.outbox o, messaging.outbox_relay r where (o.xid, o.id) > (r.xid, r.last_id)
    union all
    select o.created_at from messaging.outbox_held h join messaging.outbox o using (id)
  )
  select count(*), coalesce(extract(epoch from now() - min(created_at)), 0)::float8 from pending
$$;
