-- The outbox relay keeps per-key order (events about one aggregate are published
-- in the order they were written) and wakes on NOTIFY instead of polling.

alter table messaging.outbox add column key text check (length(key) between 1 and 200);
comment on column messaging.outbox.key is 'ordering key, e.g. an aggregate id: rows with one key are published in id order';

create function messaging.notify_outbox() returns trigger
language plpgsql
as $$
begin
  perform pg_notify('dataplane_outbox', '');
  return null;
end
$$;
create trigger outbox_notify after insert on messaging.outbox
  for each statement execute function messaging.notify_outbox();
