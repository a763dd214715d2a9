-- The outbox and the inbox stop growing forever: messaging.prune() deletes outbox rows the
-- relay is done with and inbox entries past their keep, a bounded number per call, and the
-- supervisor's maintenance job calls it (postgres.outboxKeepDays, postgres.inboxKeepDays).
--
-- No created_at index on the outbox: it would cost every event an index entry to save the
-- clean-up a scan. The clean-up reads the log from its start in (xid, id) order instead,
-- and stops at the first row younger than the keep, so it reads about what it deletes. A
-- row written by a transaction that started long before its xid was assigned may wait for
-- the rows in front of it to age out; no row is ever deleted early.
--
-- Never deleted: rows after the relay's position (not published yet) and held rows (waiting
-- for a retry; outbox_held's rows cascade from the outbox, so deleting one would drop it).

create function messaging.prune(outbox_keep interval, inbox_keep interval, max_rows integer default 10000,
  out outbox_deleted integer, out inbox_deleted integer)
  language plpgsql
  set search_path = pg_catalog, messaging
as $$
declare
  pos messaging.outbox_relay;
  ids bigint[] := '{}';
  r record;
begin
  if max_rows is null or max_rows < 1 then
    raise exception 'max_rows must be at least 1, not %', max_rows using errcode = '22023';
  end if;
  if outbox_keep < interval '0' or inbox_keep < interval '0' then
    raise exception 'a keep cannot be negative (outbox %, inbox %)', outbox_keep, inbox_keep using errcode = '22023';
  end if;
  outbox_deleted := 0;
  inbox_deleted := 0;

  -- null = keep forever
  if outbox_keep is not null then
    select * into pos from messaging.outbox_relay where singleton;
    if found then
      for r in
        select o.id, o.created_at from messaging.outbox o
         where (o.xid, o.id) <= (pos.xid, pos.last_id)
           and not exists (select from messaging.outbox_held h where h.id = o.id)
         order by o.xid, o.id limit max_rows
      loop
        exit when r.created_at >= now() - outbox_keep;
        ids := ids || r.id;
      end loop;
      -- held is checked again at the delete: cheap, and safe whatever the relay does meanwhile
      delete from messaging.outbox o
       where o.id = any(ids) and not exists (select from messaging.outbox_held h where h.id = o.id);
      get diagnostics outbox_deleted = row_count;
    end if;
  end if;

  if inbox_keep is not null then
    delete from messaging.inbox
     where ctid = any(array(select ctid from messaging.inbox where processed_at < now() - inbox_keep
                             order by processed_at limit max_rows));
    get diagnostics inbox_deleted = row_count;
  end if;
end
$$;
comment on function messaging.prune(interval, interval, integer) is
  'Deletes up to max_rows published outbox rows older than outbox_keep and inbox entries older than inbox_keep (null: keep); call again while it returns max_rows';
revoke all on function messaging.prune(interval, interval, integer) from public;
