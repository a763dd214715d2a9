-- messaging: the transactional outbox (rows written in the same transaction as
-- the change they announce, published to NATS by the relay) and the inbox
-- (message ids a consumer has processed, so redeliveries are ignored).

create schema messaging;
comment on schema messaging is 'Transactional outbox to NATS JetStream, and the inbox of idempotent consumers';

alter default privileges in schema messaging grant select, insert, update, delete on tables to dp_messaging_rw;
alter default privileges in schema messaging grant select on tables to dp_readonly;
grant usage on schema messaging to dp_messaging_rw, dp_readonly;

create table messaging.outbox (
  id           bigint generated always as identity primary key,
  subject      text        not null check (subject ~ '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'),
  payload      jsonb       not null,
  headers      jsonb       not null default '{}' check (jsonb_typeof(headers) = 'object'),
  -- Sent as Nats-Msg-Id: JetStream drops a duplicate published twice after a crash.
  message_id   uuid        not null default gen_random_uuid(),
  created_at   timestamptz not null default now(),
  published_at timestamptz check (published_at >= created_at),
  attempts     integer     not null default 0 check (attempts >= 0),
  last_error   text,
  constraint outbox_message_id_key unique (message_id)
);
comment on table messaging.outbox is 'Messages to publish to NATS, written in the transaction of the change they announce';
-- The relay takes the oldest unpublished rows.
create index outbox_unpublished_idx on messaging.outbox (id) where published_at is null;
-- Clean-up removes published rows past a horizon.
create index outbox_published_at_idx on messaging.outbox (published_at) where published_at is not null;

create table messaging.inbox (
  consumer     text        not null check (consumer ~ '^[A-Za-z0-9_-]{1,64}$'),
  message_id   text        not null check (length(message_id) between 1 and 200),
  processed_at timestamptz not null default now(),
  -- "Has this consumer processed this message?", inside the consumer's transaction.
  primary key (consumer, message_id)
);
comment on table messaging.inbox is 'Message ids each consumer has processed';
-- Clean-up removes entries past the redelivery horizon.
create index inbox_processed_at_idx on messaging.inbox (processed_at);
