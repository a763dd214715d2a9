-- Monitoring (dp_monitor, no data access) sees how far the outbox relay is behind
-- without reading any event: a count and the age of the oldest unpublished row.
create function messaging.outbox_backlog(out unpublished bigint, out oldest_age_seconds double precision)
  language sql stable security definer
  set search_path = pg_catalog, messaging
as $$
  select count(*), coalesce(extract(epoch from now() - min(created_at)), 0)::float8
  from messaging.outbox
  where published_at is null
$$;

revoke all on function messaging.outbox_backlog() from public;
grant usage on schema messaging to dp_monitor;
grant execute on function messaging.outbox_backlog() to dp_monitor;
