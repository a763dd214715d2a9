-- dataplane's time-series API: one way to declare a time-series table, its chunk
-- interval, retention, compression and rollups. With the timescaledb extension it
-- creates hypertables, policies and continuous aggregates (TimescaleDB 2.15 API);
-- without it, native range partitions kept by dataplane.run_maintenance() and rollup
-- tables refreshed from a watermark. Queries read the same on both engines.

create schema if not exists dataplane;
comment on schema dataplane is 'dataplane time-series API and catalog';

-- Nothing here is for PUBLIC; roles get what they need explicitly.
revoke all on schema dataplane from public;
alter default privileges revoke execute on functions from public;

create table dataplane.timeseries (
  schema_name    name        not null,
  table_name     name        not null,
  time_column    name        not null,
  engine         text        not null check (engine in ('timescaledb', 'native')),
  chunk_interval interval    not null check (chunk_interval > interval '0'),
  retention      interval    check (retention > interval '0'),
  compress_after interval    check (compress_after > interval '0'),
  segment_by     text,
  premake        integer     not null default 7 check (premake between 1 and 366),
  created_at     timestamptz not null default now(),
  primary key (schema_name, table_name)
);
comment on table dataplane.timeseries is 'Every time-series table, and the engine that stores it';

create table dataplane.rollups (
  schema_name   name        not null,
  rollup_name   name        not null,
  source_schema name        not null,
  source_table  name        not null,
  bucket        interval    not null check (bucket > interval '0'),
  dimensions    name[]      not null,
  value_column  name        not null,
  engine        text        not null check (engine in ('continuous_aggregate', 'table')),
  start_offset  interval    check (start_offset > interval '0'),
  end_offset    interval    not null check (end_offset >= interval '0'),
  retention     interval    check (retention > interval '0'),
  watermark     timestamptz,
  refreshed_at  timestamptz,
  primary key (schema_name, rollup_name),
  foreign key (source_schema, source_table) references dataplane.timeseries (schema_name, table_name) on delete cascade
);
comment on table dataplane.rollups is 'Rollups of time-series tables: continuous aggregates, or tables refreshed up to watermark';
comment on column dataplane.rollups.watermark is 'table engine: buckets before this time are materialized';

create function dataplane.timescaledb_enabled() returns boolean
language sql stable
as $$ select exists (select 1 from pg_extension where extname = 'timescaledb') $$;

-- time_bucket's semantics (origin Monday 2000-01-03 UTC) on any PostgreSQL >= 14.
create function dataplane.bucket(width interval, ts timestamptz) returns timestamptz
language sql immutable parallel safe
as $$ select date_bin(width, ts, timestamptz '2000-01-03 00:00:00+00') $$;
comment on function dataplane.bucket(interval, timestamptz) is 'Start of the time bucket holding ts; equals TimescaleDB time_bucket(width, ts)';

-- Chunk boundaries as TimescaleDB draws them: multiples of the interval since the Unix epoch.
create function dataplane.partition_start(width interval, ts timestamptz) returns timestamptz
language sql immutable parallel safe
as $$
  select to_timestamp((floor(extract(epoch from ts) / extract(epoch from width)) * extract(epoch from width))::double precision)
$$;

-- The tenant of this session, set by the client library (SET dataplane.org_id = ...).
-- Unset means no tenant: row-level security then shows no tenant rows at all.
create function dataplane.current_org() returns bigint
language sql stable parallel safe
as $$ select nullif(current_setting('dataplane.org_id', true), '')::bigint $$;

create function dataplane._describe(relation regclass, out schema_name name, out table_name name)
language sql stable
as $$ select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = relation $$;

create function dataplane._partition_name(table_name name, slot timestamptz) returns name
language sql immutable
as $$ select (table_name || '_p' || to_char(slot at time zone 'UTC', 'YYYYMMDD_HH24MISS'))::name $$;

-- Replace an empty plain table by a range-partitioned one with the same columns,
-- defaults, checks, indexes and foreign keys, plus a default partition.
create function dataplane._convert_to_partitioned(relation regclass, time_column name) returns void
language plpgsql
as $$
declare
  d record;
  tmp name;
  con record;
  idx record;
begin
  select * into d from dataplane._describe(relation);
  tmp := (d.table_name || '_dp_new')::name;
  if exists (select 1 from pg_constraint where confrelid = relation) then
    raise exception 'dataplane: %.% is referenced by a foreign key; time-series tables cannot be', d.schema_name, d.table_name;
  end if;
  if exists (select 1 from pg_trigger where tgrelid = relation and not tgisinternal)
     or exists (select 1 from pg_policy where polrelid = relation) then
    raise exception 'dataplane: declare %.% as time series before adding triggers or policies', d.schema_name, d.table_name;
  end if;
  execute format('create table %I.%I (like %I.%I including all) partition by range (%I)',
                 d.schema_name, tmp, d.schema_name, d.table_name, time_column);
  for con in select conname, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = relation and contype = 'f' loop
    execute format('alter table %I.%I add constraint %I %s', d.schema_name, tmp, con.conname, con.def);
  end loop;
  execute format('drop table %I.%I', d.schema_name, d.table_name);
  execute format('alter table %I.%I rename to %I', d.schema_name, tmp, d.table_name);
  for idx in select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
             where i.indrelid = format('%I.%I', d.schema_name, d.table_name)::regclass and c.relname like tmp || '%' loop
    execute format('alter index %I.%I rename to %I', d.schema_name, idx.relname, replace(idx.relname, tmp, d.table_name));
  end loop;
  execute format('create table %I.%I partition of %I.%I default', d.schema_name, d.table_name || '_default', d.schema_name, d.table_name);
  -- The index TimescaleDB creates by default on a hypertable, so range scans plan alike.
  execute format('create index %I on %I.%I (%I desc)', d.table_name || '_' || time_column || '_idx', d.schema_name, d.table_name, time_column);
end
$$;

-- Native engine: partitions from the retention horizon (or `premake` chunks back)
-- to `premake` chunks ahead. Rows that landed in the default partition for a range
-- move into the partition created for it. Returns the number of partitions created.
create function dataplane.ensure_partitions(relation regclass, as_of timestamptz default now()) returns integer
language plpgsql
as $$
declare
  d record;
  ts dataplane.timeseries;
  slot timestamptz;
  last_slot timestamptz;
  part name;
  dflt name;
  has_rows boolean;
  created integer := 0;
begin
  select * into d from dataplane._describe(relation);
  select * into ts from dataplane.timeseries t where t.schema_name = d.schema_name and t.table_name = d.table_name;
  if ts.engine is distinct from 'native' then
    return 0;
  end if;
  dflt := (d.table_name || '_default')::name;
  slot := dataplane.partition_start(ts.chunk_interval, as_of - coalesce(ts.retention, ts.chunk_interval * ts.premake));
  last_slot := dataplane.partition_start(ts.chunk_interval, as_of + ts.chunk_interval * ts.premake);
  perform set_config('dataplane.maintenance', 'on', true);
  while slot <= last_slot loop
    part := dataplane._partition_name(d.table_name, slot);
    if to_regclass(format('%I.%I', d.schema_name, part)) is null then
      execute format('select exists (select 1 from %I.%I where %I >= $1 and %I < $2)', d.schema_name, dflt, ts.time_column, ts.time_column)
        into has_rows using slot, slot + ts.chunk_interval;
      if has_rows then
        execute format('create table %I.%I (like %I.%I including defaults including constraints)', d.schema_name, part, d.schema_name, d.table_name);
        execute format('with moved as (delete from %I.%I where %I >= $1 and %I < $2 returning *) insert into %I.%I select * from moved',
                       d.schema_name, dflt, ts.time_column, ts.time_column, d.schema_name, part) using slot, slot + ts.chunk_interval;
        execute format('alter table %I.%I attach partition %I.%I for values from (%L) to (%L)',
                       d.schema_name, d.table_name, d.schema_name, part, slot, slot + ts.chunk_interval);
      else
        execute format('create table %I.%I partition of %I.%I for values from (%L) to (%L)',
                       d.schema_name, part, d.schema_name, d.table_name, slot, slot + ts.chunk_interval);
      end if;
      created := created + 1;
    end if;
    slot := slot + ts.chunk_interval;
  end loop;
  perform set_config('dataplane.maintenance', 'off', true);
  return created;
end
$$;

-- Drop what is past retention, as TimescaleDB's drop_chunks does: whole chunks
-- (partitions) whose range ends at or before as_of - retention. Returns the count.
create function dataplane.apply_retention(relation regclass, as_of timestamptz default now()) returns integer
language plpgsql
as $$
declare
  d record;
  ts dataplane.timeseries;
  cutoff timestamptz;
  part record;
  dropped integer := 0;
begin
  select * into d from dataplane._describe(relation);
  select * into ts from dataplane.timeseries t where t.schema_name = d.schema_name and t.table_name = d.table_name;
  if ts.retention is null then
    return 0;
  end if;
  cutoff := as_of - ts.retention;
  if ts.engine = 'timescaledb' then
    execute 'select count(*) from drop_chunks($1, older_than => $2)' into dropped using relation, cutoff;
    return dropped;
  end if;
  perform set_config('dataplane.maintenance', 'on', true);
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = relation and c.relname ~ ('^' || d.table_name || '_p[0-9]{8}_[0-9]{6}$')
      and to_timestamp(substring(c.relname from '[0-9]{8}_[0-9]{6}$'), 'YYYYMMDD_HH24MISS')::timestamp at time zone 'UTC'
          + ts.chunk_interval <= cutoff
  loop
    execute format('drop table %I.%I', d.schema_name, part.relname);
    dropped := dropped + 1;
  end loop;
  execute format('delete from %I.%I where %I < $1', d.schema_name, d.table_name || '_default', ts.time_column)
    using dataplane.partition_start(ts.chunk_interval, cutoff);
  perform set_config('dataplane.maintenance', 'off', true);
  return dropped;
end
$$;

-- Declare a time-series table. Call it right after CREATE TABLE (empty, before
-- triggers and grants). Returns the engine used.
--
-- TimescaleDB cannot compress a table with row-level security, so time-series
-- tables isolate tenants through security-barrier views instead of policies
-- (see telemetry.tenant_measurements).
create function dataplane.create_timeseries(
  relation       regclass,
  time_column    name     default 'time',
  chunk_interval interval default interval '1 day',
  retention      interval default null,
  compress_after interval default null,
  segment_by     text     default null,
  premake        integer  default 7
) returns text
language plpgsql
as $$
declare
  d record;
  col_type regtype;
  engine text;
begin
  select * into d from dataplane._describe(relation);
  select a.atttypid::regtype into col_type from pg_attribute a where a.attrelid = relation and a.attname = time_column and not a.attisdropped;
  if col_type is null then
    raise exception 'dataplane: %.% has no column %', d.schema_name, d.table_name, time_column;
  end if;
  if col_type <> 'timestamptz'::regtype then
    raise exception 'dataplane: %.%.% must be timestamptz, not %', d.schema_name, d.table_name, time_column, col_type;
  end if;
  if extract(month from chunk_interval) <> 0 or extract(year from chunk_interval) <> 0 then
    raise exception 'dataplane: chunk_interval must be fixed (days, hours...), not %', chunk_interval;
  end if;
  if length(d.table_name) > 40 then
    raise exception 'dataplane: time-series table names are limited to 40 characters (partition names add a suffix)';
  end if;

  if dataplane.timescaledb_enabled() then
    engine := 'timescaledb';
    perform create_hypertable(relation, by_range(time_column, chunk_interval));
    if compress_after is not null then
      execute format('alter table %s set (timescaledb.compress, timescaledb.compress_orderby = %L%s)',
                     relation, quote_ident(time_column) || ' DESC',
                     case when segment_by is null then '' else format(', timescaledb.compress_segmentby = %L', segment_by) end);
      perform add_compression_policy(relation, compress_after);
    end if;
    if retention is not null then
      perform add_retention_policy(relation, retention);
    end if;
  else
    engine := 'native';
    perform dataplane._convert_to_partitioned(relation, time_column);
  end if;

  insert into dataplane.timeseries (schema_name, table_name, time_column, engine, chunk_interval, retention, compress_after, segment_by, premake)
  values (d.schema_name, d.table_name, time_column, engine, chunk_interval, retention, compress_after, segment_by, premake);
  if engine = 'native' then
    perform dataplane.ensure_partitions(format('%I.%I', d.schema_name, d.table_name)::regclass);
  end if;
  return engine;
end
$$;

-- Declare a rollup of a time-series table: per bucket and dimensions, count, min,
-- max, sum and avg of value_column. A continuous aggregate with a refresh policy on
-- TimescaleDB; otherwise a table refreshed by dataplane.refresh_rollup().
create function dataplane.add_rollup(
  source        regclass,
  rollup        text,
  bucket        interval,
  dimensions    name[],
  value_column  name,
  start_offset  interval default null,
  end_offset    interval default null,
  retention     interval default null
) returns text
language plpgsql
as $$
declare
  src record;
  ts dataplane.timeseries;
  r_schema name;
  r_name name;
  dims text;
  dim_defs text;
  engine text;
  value_type text;
begin
  select * into src from dataplane._describe(source);
  select * into ts from dataplane.timeseries t where t.schema_name = src.schema_name and t.table_name = src.table_name;
  if ts.table_name is null then
    raise exception 'dataplane: %.% is not a time-series table; declare it with dataplane.create_timeseries first', src.schema_name, src.table_name;
  end if;
  if position('.' in rollup) > 0 then
    r_schema := split_part(rollup, '.', 1)::name;
    r_name := split_part(rollup, '.', 2)::name;
  else
    r_schema := src.schema_name;
    r_name := rollup::name;
  end if;
  end_offset := coalesce(end_offset, bucket);
  select string_agg(quote_ident(x), ', ' order by o) into dims from unnest(dimensions) with ordinality as u(x, o);
  select string_agg(format('%I %s not null', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' order by u.o)
    into dim_defs
    from unnest(dimensions) with ordinality as u(x, o)
    join pg_attribute a on a.attrelid = source and a.attname = u.x and not a.attisdropped;
  select format_type(a.atttypid, a.atttypmod) into value_type from pg_attribute a where a.attrelid = source and a.attname = value_column and not a.attisdropped;
  if value_type is null or dim_defs is null or cardinality(dimensions) <> (select count(*) from pg_attribute a where a.attrelid = source and a.attname = any (dimensions) and not a.attisdropped) then
    raise exception 'dataplane: % must have the value column % and the dimension columns %', source, value_column, dimensions;
  end if;

  if ts.engine = 'timescaledb' then
    engine := 'continuous_aggregate';
    execute format(
      'create materialized view %I.%I with (timescaledb.continuous, timescaledb.materialized_only = true) as '
      'select time_bucket(%L::interval, %I) as bucket, %s, count(*) as count, min(%I) as min, max(%I) as max, sum(%I) as sum, avg(%I) as avg '
      'from %I.%I group by 1, %s with no data',
      r_schema, r_name, bucket, ts.time_column, dims, value_column, value_column, value_column, value_column,
      src.schema_name, src.table_name, dims);
    perform add_continuous_aggregate_policy(format('%I.%I', r_schema, r_name)::regclass,
      start_offset => start_offset, end_offset => end_offset, schedule_interval => greatest(bucket, interval '1 minute'));
    if retention is not null then
      perform add_retention_policy(format('%I.%I', r_schema, r_name)::regclass, retention);
    end if;
    -- What the table engine's primary key gives: "these dimensions over a time range".
    execute format('create index %I on %I.%I (%s, bucket)', r_name || '_dims_bucket_idx', r_schema, r_name, dims);
  else
    engine := 'table';
    execute format(
      'create table %I.%I (bucket timestamptz not null, %s, count bigint not null, min %s not null, max %s not null, sum %s not null, avg %s not null, primary key (%s, bucket))',
      r_schema, r_name, dim_defs, value_type, value_type, value_type,
      case when value_type in ('real', 'double precision') then 'double precision' else 'numeric' end, dims);
  end if;

  insert into dataplane.rollups (schema_name, rollup_name, source_schema, source_table, bucket, dimensions, value_column, engine, start_offset, end_offset, retention)
  values (r_schema, r_name, src.schema_name, src.table_name, bucket, dimensions, value_column, engine, start_offset, end_offset, retention);
  return engine;
end
$$;

-- Materialize complete buckets up to as_of - end_offset, over the same window on
-- both engines (refresh_continuous_aggregate, or delete + insert for tables).
-- As with TimescaleDB's refresh policy, rows older than start_offset that arrive
-- after their buckets were materialized need an explicit window_from.
-- A procedure, because refreshing a continuous aggregate commits.
create procedure dataplane.refresh_rollup(rollup regclass, as_of timestamptz default now(), window_from timestamptz default null)
language plpgsql
as $$
declare
  d record;
  r dataplane.rollups;
  ts dataplane.timeseries;
  window_start timestamptz;
  window_end timestamptz;
  dims text;
begin
  select * into d from dataplane._describe(rollup);
  select * into r from dataplane.rollups x where x.schema_name = d.schema_name and x.rollup_name = d.table_name;
  if r.rollup_name is null then
    raise exception 'dataplane: % is not a rollup', rollup;
  end if;
  select * into ts from dataplane.timeseries t where t.schema_name = r.source_schema and t.table_name = r.source_table;
  window_end := dataplane.bucket(r.bucket, as_of - r.end_offset);
  -- Never materialized: everything. Afterwards: from the watermark, or from
  -- start_offset back when that reaches further (late rows). window_from re-does an
  -- older range on demand, e.g. after a backfill.
  window_start := case
    when window_from is not null then dataplane.bucket(r.bucket, window_from)
    when r.watermark is null then '-infinity'::timestamptz
    when r.start_offset is null then r.watermark
    else least(r.watermark, dataplane.bucket(r.bucket, as_of - r.start_offset))
  end;
  if r.engine = 'continuous_aggregate' then
    call refresh_continuous_aggregate(rollup, case when window_start = '-infinity' then null else window_start end, window_end);
  else
    select string_agg(quote_ident(x), ', ' order by o) into dims from unnest(r.dimensions) with ordinality as u(x, o);
    execute format('delete from %I.%I where bucket >= $1 and bucket < $2', r.schema_name, r.rollup_name) using window_start, window_end;
    execute format(
      'insert into %I.%I (bucket, %s, count, min, max, sum, avg) '
      'select dataplane.bucket(%L::interval, %I), %s, count(*), min(%I), max(%I), sum(%I), avg(%I) from %I.%I '
      'where %I >= $1 and %I < $2 group by 1, %s',
      r.schema_name, r.rollup_name, dims, r.bucket, ts.time_column, dims, r.value_column, r.value_column, r.value_column, r.value_column,
      r.source_schema, r.source_table, ts.time_column, ts.time_column, dims) using window_start, window_end;
  end if;
  update dataplane.rollups x set watermark = greatest(coalesce(x.watermark, '-infinity'), window_end), refreshed_at = now()
   where x.schema_name = r.schema_name and x.rollup_name = r.rollup_name;
end
$$;

-- The native engine's scheduler entry point (the dataplane supervisor calls it):
-- partitions ahead, retention, rollup refresh and rollup retention. TimescaleDB runs
-- its own jobs for the same work, so its tables are skipped. Commits per table.
create procedure dataplane.run_maintenance(as_of timestamptz default now())
language plpgsql
as $$
declare
  t record;
begin
  for t in select * from dataplane.timeseries where engine = 'native' order by schema_name, table_name loop
    perform dataplane.ensure_partitions(format('%I.%I', t.schema_name, t.table_name)::regclass, as_of);
    perform dataplane.apply_retention(format('%I.%I', t.schema_name, t.table_name)::regclass, as_of);
    commit;
  end loop;
  for t in select * from dataplane.rollups where engine = 'table' order by schema_name, rollup_name loop
    call dataplane.refresh_rollup(format('%I.%I', t.schema_name, t.rollup_name)::regclass, as_of);
    if t.retention is not null then
      execute format('delete from %I.%I where bucket < $1', t.schema_name, t.rollup_name)
        using dataplane.bucket(t.bucket, as_of - t.retention);
    end if;
    commit;
  end loop;
end
$$;
