-- Telemetry's references to the registry, checked once per statement instead of once
-- per row.
--
-- A foreign key checks each inserted row with its own lookup and row lock: on
-- telemetry.measurements that cost three quarters of COPY throughput (docs/schema.md,
-- "Reference checks"). The promise stays the same: no sample for a source or metric
-- that does not exist or belongs to another tenant, and a source or metric with history
-- cannot be deleted (retire it). It is kept by
--   - an AFTER statement trigger on the referencing table that looks up the distinct
--     keys of the statement's new rows (a transition table) at once, locking the
--     registry rows FOR KEY SHARE as a foreign key would, so a concurrent delete waits
--     for the insert to commit and then sees it;
--   - DELETE / UPDATE (of the key) / TRUNCATE triggers on the registry table that
--     refuse to remove a key that telemetry still references;
--   - dataplane.check_references(), which finds rows that bypassed both (a restore with
--     triggers disabled, session_replication_role = replica).
-- Errors carry SQLSTATE 23503 and the foreign key's own wording, so callers see what a
-- foreign key would have said.
--
-- TimescaleDB supports transition tables on hypertables from 2.18 on
-- (timescale/timescaledb#6901); on older versions the foreign key stays.

create table dataplane.table_references (
  schema_name        name     not null,
  table_name         name     not null,
  name               name     not null,
  columns            name[]   not null,
  target_schema      name     not null,
  target_table       name     not null,
  target_columns     name[]   not null check (cardinality(target_columns) = cardinality(columns)),
  enforcement        text     not null check (enforcement in ('statement_check', 'foreign_key')),
  primary key (schema_name, table_name, name)
);
comment on table dataplane.table_references is 'References from (time-series) tables to registry tables, and how each is enforced';

-- Whether a statement trigger with a transition table can be put on this table.
create function dataplane._statement_checks_supported(relation regclass) returns boolean
language sql stable
as $$
  select case
    when not exists (select from dataplane.timeseries t join dataplane._describe(relation) d using (schema_name, table_name)
                      where t.engine = 'timescaledb') then true
    else (select (string_to_array(split_part(extversion, '-', 1), '.')::int[])[1:2] >= array[2, 18]
            from pg_extension where extname = 'timescaledb')
  end
$$;

-- "(a, b)" and the matching "t.a = k.x and t.b = k.y" for dynamic SQL.
create function dataplane._column_list(cols name[], prefix text default '') returns text
language sql immutable
as $$ select string_agg(prefix || quote_ident(c), ', ' order by i) from unnest(cols) with ordinality u(c, i) $$;

create function dataplane._columns_equal(left_cols name[], left_alias text, right_cols name[], right_alias text) returns text
language sql immutable
as $$
  select string_agg(format('%s.%I = %s.%I', left_alias, l, right_alias, r), ' and ' order by i)
    from unnest(left_cols, right_cols) with ordinality u(l, r, i)
$$;

-- AFTER INSERT / UPDATE, for each statement: every distinct key of the new rows must
-- exist in its target. Security definer: the writer (app_ingest) has no read access to
-- the registry, and row-level security must not hide another tenant's rows from the
-- check (it does not from a foreign key either).
create function dataplane._check_new_references() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r dataplane.table_references;
  missing text;
begin
  for r in select * from dataplane.table_references x
            where x.schema_name = tg_table_schema and x.table_name = tg_table_name and x.enforcement = 'statement_check' loop
    -- One lookup per distinct key, each locking its registry row like a foreign key does.
    execute format(
      'select concat_ws('', '', %s) from (select distinct %s from new_rows where %s) k
        where not exists (select from %I.%I t where %s for key share of t) limit 1',
      dataplane._column_list(r.columns, 'k.'), dataplane._column_list(r.columns),
      (select string_agg(format('%I is not null', c), ' and ') from unnest(r.columns) c),
      r.target_schema, r.target_table, dataplane._columns_equal(r.target_columns, 't', r.columns, 'k'))
      into missing;
    if missing is not null then
      raise exception using
        errcode = 'foreign_key_violation',
        message = format('insert or update on table "%s" violates foreign key constraint "%s"', r.table_name, r.name),
        detail = format('Key (%s)=(%s) is not present in table "%s".', array_to_string(r.columns, ', '), missing, r.target_table),
        schema = r.schema_name, table = r.table_name, constraint = r.name;
    end if;
  end loop;
  return null;
end
$$;

-- AFTER DELETE / UPDATE of a registry row's key, per row: refused while telemetry
-- references the old key. After, as a foreign key's own check: the row is locked by
-- then (a concurrent insert's FOR KEY SHARE made it wait), and row-level security has
-- had its say first.
create function dataplane._refuse_referenced_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r dataplane.table_references;
  unchanged boolean;
  referenced boolean;
  key text;
begin
  for r in select * from dataplane.table_references x
            where x.target_schema = tg_table_schema and x.target_table = tg_table_name and x.enforcement = 'statement_check' loop
    if tg_op = 'UPDATE' then
      execute format('select %s', (select string_agg(format('($1).%1$I is not distinct from ($2).%1$I', c), ' and ') from unnest(r.target_columns) c))
        into unchanged using old, new;
      continue when unchanged;
    end if;
    -- A snapshot older than this statement would miss rows that concurrent ingest
    -- committed meanwhile (a foreign key re-checks with a fresh snapshot; plpgsql cannot).
    if current_setting('transaction_isolation') <> 'read committed' then
      raise exception using
        errcode = 'feature_not_supported',
        message = format('%s on table "%s" needs READ COMMITTED isolation', lower(tg_op), tg_table_name),
        detail = format('%s.%s references it through a statement check, which only READ COMMITTED sees complete.', r.schema_name, r.table_name);
    end if;
    execute format('select exists (select from %I.%I x where %s), concat_ws('', '', %s)',
                   r.schema_name, r.table_name,
                   (select string_agg(format('x.%I = ($1).%I', c, t), ' and ') from unnest(r.columns, r.target_columns) u(c, t)),
                   (select string_agg(format('($1).%I', t), ', ') from unnest(r.target_columns) t))
      into referenced, key using old;
    if referenced then
      raise exception using
        errcode = 'foreign_key_violation',
        message = format('update or delete on table "%s" violates foreign key constraint "%s" on table "%s"', tg_table_name, r.name, r.table_name),
        detail = format('Key (%s)=(%s) is still referenced from table "%s".', array_to_string(r.target_columns, ', '), key, r.table_name),
        hint = case when tg_table_name = 'sources' then 'A source with history is retired (retired_at), not deleted; retention ages its data out.'
                    else 'It stays while data references it; retention ages that data out.' end,
        schema = tg_table_schema, table = tg_table_name, constraint = r.name;
    end if;
  end loop;
  return null;
end
$$;

-- BEFORE TRUNCATE of a registry table: refused while a referencing table has rows.
create function dataplane._refuse_referenced_truncate() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r dataplane.table_references;
  referenced boolean;
begin
  for r in select * from dataplane.table_references x
            where x.target_schema = tg_table_schema and x.target_table = tg_table_name and x.enforcement = 'statement_check' loop
    execute format('select exists (select from %I.%I)', r.schema_name, r.table_name) into referenced;
    if referenced then
      raise exception using
        errcode = 'feature_not_supported',
        message = format('cannot truncate table "%s": table "%s" references it', tg_table_name, r.table_name),
        schema = tg_table_schema, table = tg_table_name, constraint = r.name;
    end if;
  end loop;
  return null;
end
$$;

-- Declare that relation(columns) references target(target_columns). Replaces a foreign
-- key of the same name by statement checks where the engine allows them, keeps (or
-- adds) the foreign key where it does not. Returns the enforcement chosen.
create function dataplane.add_reference(name name, relation regclass, columns name[], target regclass, target_columns name[]) returns text
language plpgsql
as $$
declare
  d record;
  t record;
  enforcement text;
begin
  select * into d from dataplane._describe(relation);
  select * into t from dataplane._describe(target);
  enforcement := case when dataplane._statement_checks_supported(relation) then 'statement_check' else 'foreign_key' end;
  insert into dataplane.table_references values (d.schema_name, d.table_name, name, columns, t.schema_name, t.table_name, target_columns, enforcement)
    on conflict on constraint table_references_pkey do update set enforcement = excluded.enforcement;
  if enforcement = 'foreign_key' then
    if not exists (select from pg_constraint where conrelid = relation and conname = name) then
      execute format('alter table %s add constraint %I foreign key (%s) references %s (%s) on delete restrict',
                     relation, name, dataplane._column_list(columns), target, dataplane._column_list(target_columns));
    end if;
    return enforcement;
  end if;
  execute format('alter table %s drop constraint if exists %I', relation, name);
  if not exists (select from pg_trigger where tgrelid = relation and tgname = 'dataplane_reference_check_insert') then
    execute format('create trigger dataplane_reference_check_insert after insert on %s referencing new table as new_rows
                    for each statement execute function dataplane._check_new_references()', relation);
    execute format('create trigger dataplane_reference_check_update after update on %s referencing new table as new_rows
                    for each statement execute function dataplane._check_new_references()', relation);
  end if;
  -- One trigger per target, on the union of the key columns referenced in it.
  execute format('drop trigger if exists dataplane_referenced_change on %s', target);
  execute format('create trigger dataplane_referenced_change after delete or update of %s on %s
                  for each row execute function dataplane._refuse_referenced_change()',
                 (select string_agg(distinct quote_ident(c), ', ')
                    from dataplane.table_references r, unnest(r.target_columns) c
                   where r.target_schema = t.schema_name and r.target_table = t.table_name and r.enforcement = 'statement_check'),
                 target);
  if not exists (select from pg_trigger where tgrelid = target and tgname = 'dataplane_referenced_truncate') then
    execute format('create trigger dataplane_referenced_truncate before truncate on %s
                    for each statement execute function dataplane._refuse_referenced_truncate()', target);
  end if;
  perform dataplane.seal_partitions(relation);
  return enforcement;
end
$$;

-- Rows whose key is missing from its target: what reached a table with its triggers
-- disabled. A full scan of each referencing table; run it after such a restore, or
-- from time to time, not on every maintenance round.
create function dataplane.check_references()
returns table (schema_name name, table_name name, reference name, orphan_rows bigint, example text)
language plpgsql
as $$
declare
  r dataplane.table_references;
begin
  for r in select * from dataplane.table_references order by 1, 2, 3 loop
    schema_name := r.schema_name; table_name := r.table_name; reference := r.name;
    execute format(
      'select count(*), min(concat_ws('', '', %s)) from (select distinct %s from %I.%I) k
        where not exists (select from %I.%I t where %s)',
      dataplane._column_list(r.columns, 'k.'), dataplane._column_list(r.columns), r.schema_name, r.table_name,
      r.target_schema, r.target_table, dataplane._columns_equal(r.target_columns, 't', r.columns, 'k'))
      into orphan_rows, example;
    return next;
  end loop;
end
$$;
comment on function dataplane.check_references() is 'Distinct keys per reference missing from their target (orphan_rows counts keys); 0 everywhere when nothing bypassed the checks';

-- Native partitions are storage, written through their table: statement checks fire
-- for the table a statement names, so only the owner may name a partition. Called by
-- add_reference and by every maintenance round (new partitions). TimescaleDB keeps
-- its chunks' privileges itself, in a schema the roles cannot use.
create function dataplane.seal_partitions(relation regclass) returns integer
language plpgsql
as $$
declare
  p record;
  sealed integer := 0;
begin
  for p in select c.oid::regclass as part, g.grantee::regrole as grantee
             from pg_inherits i join pg_class c on c.oid = i.inhrelid,
                  lateral aclexplode(c.relacl) g
            where i.inhparent = relation and g.grantee <> c.relowner and g.grantee <> 0
              and (select relkind from pg_class where oid = relation) = 'p' loop
    execute format('revoke all on %s from %s', p.part, p.grantee);
    sealed := sealed + 1;
  end loop;
  return sealed;
end
$$;

-- run_maintenance as in 0001, and new partitions sealed.
create or replace procedure dataplane.run_maintenance(as_of timestamptz default now())
language plpgsql
as $$
declare
  t record;
begin
  for t in select * from dataplane.timeseries where engine = 'native' order by schema_name, table_name loop
    perform dataplane.ensure_partitions(format('%I.%I', t.schema_name, t.table_name)::regclass, as_of);
    perform dataplane.seal_partitions(format('%I.%I', t.schema_name, t.table_name)::regclass);
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

select dataplane.add_reference('measurements_metric_id_fkey', 'telemetry.measurements', array['metric_id'], 'registry.metrics', array['id']);
select dataplane.add_reference('measurements_org_id_source_id_fkey', 'telemetry.measurements', array['org_id', 'source_id'], 'registry.sources', array['org_id', 'id']);
select dataplane.add_reference('events_org_id_source_id_fkey', 'telemetry.events', array['org_id', 'source_id'], 'registry.sources', array['org_id', 'id']);
