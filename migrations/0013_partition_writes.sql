-- Native partitions open to their table's inserters, checked as the table is.
--
-- Until now a partition was sealed (0010): statement checks fire for the table a
-- statement names, so naming a partition skipped them. But a COPY that names one
-- partition is cheaper for the server than one routed through the partitioned table:
-- no routing per row, and PostgreSQL inserts the rows in batches, where into a
-- partitioned table whose triggers have transition tables it inserts them one by one
-- (copyfrom.c, CIM_SINGLE). Measured with psql \copy of 500k rows of one day, 3 rounds:
-- 9-13% less server CPU per row into the partition than into the table, checks included.
--
-- So each partition now carries the table's reference-check triggers, which resolve a
-- partition to its table, and the roles that may INSERT into the table may INSERT into
-- its partitions, and nothing else. A partition stays sealed where naming it would skip
-- something else: row-level security, or a statement trigger other than the checks
-- (row triggers are cloned onto partitions by PostgreSQL itself).

-- As in 0010, with the references looked up for the partitioned table when the
-- statement named one of its partitions.
create or replace function dataplane._check_new_references() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  d record;
  r dataplane.table_references;
  missing text;
begin
  select * into d from dataplane._describe(coalesce(pg_partition_root(tg_relid), tg_relid));
  for r in select * from dataplane.table_references x
            where x.schema_name = d.schema_name and x.table_name = d.table_name and x.enforcement = 'statement_check' loop
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

-- Whether a statement naming one of relation's partitions is checked as one naming
-- relation: no row-level security, no statement trigger but the reference checks.
create function dataplane._partitions_writable(relation regclass) returns boolean
language sql stable
as $$
  select not c.relrowsecurity
     and not exists (select from pg_trigger t
                      where t.tgrelid = relation and not t.tgisinternal and t.tgtype & 1 = 0
                        and t.tgname not in ('dataplane_reference_check_insert', 'dataplane_reference_check_update'))
    from pg_class c where c.oid = relation
$$;

-- Called by add_reference and by every maintenance round (new partitions), as in 0010;
-- the name stays so both keep calling it. Returns the number of privileges changed.
create or replace function dataplane.seal_partitions(relation regclass) returns integer
language plpgsql
as $$
declare
  writable boolean;
  checked boolean;
  p record;
  changed integer := 0;
begin
  if (select relkind from pg_class where oid = relation) <> 'p' then
    return 0; -- TimescaleDB keeps its chunks' privileges itself
  end if;
  writable := dataplane._partitions_writable(relation);
  checked := exists (select from pg_trigger where tgrelid = relation and tgname = 'dataplane_reference_check_insert');
  -- The checks first, so no partition is ever writable without them.
  if writable and checked then
    for p in select i.inhrelid::regclass as part from pg_inherits i
              where i.inhparent = relation
                and not exists (select from pg_trigger t where t.tgrelid = i.inhrelid and t.tgname = 'dataplane_reference_check_insert') loop
      execute format('create trigger dataplane_reference_check_insert after insert on %s referencing new table as new_rows
                      for each statement execute function dataplane._check_new_references()', p.part);
      execute format('create trigger dataplane_reference_check_update after update on %s referencing new table as new_rows
                      for each statement execute function dataplane._check_new_references()', p.part);
    end loop;
  end if;
  -- Every privilege but INSERT held by an inserter of the table goes.
  for p in select c.oid::regclass as part, g.grantee::regrole as grantee, g.privilege_type
             from pg_inherits i join pg_class c on c.oid = i.inhrelid,
                  lateral aclexplode(c.relacl) g
            where i.inhparent = relation and g.grantee <> c.relowner and g.grantee <> 0
              and not (writable and g.privilege_type = 'INSERT'
                       and g.grantee in (select x.grantee from pg_class t, lateral aclexplode(t.relacl) x
                                          where t.oid = relation and x.privilege_type = 'INSERT')) loop
    execute format('revoke %s on %s from %s', p.privilege_type, p.part, p.grantee);
    changed := changed + 1;
  end loop;
  if writable then
    for p in select i.inhrelid::regclass as part, g.grantee::regrole as grantee
               from pg_inherits i, pg_class t, lateral aclexplode(t.relacl) g
              where i.inhparent = relation and t.oid = relation and g.privilege_type = 'INSERT'
                and g.grantee <> t.relowner and g.grantee <> 0
                and not exists (select from pg_class c, lateral aclexplode(c.relacl) h
                                 where c.oid = i.inhrelid and h.grantee = g.grantee and h.privilege_type = 'INSERT') loop
      execute format('grant insert on %s to %s', p.part, p.grantee);
      changed := changed + 1;
    end loop;
  end if;
  return changed;
end
$$;

-- A partition is created with the schema's default privileges (INSERT for ingest) and
-- without the checks: ensure_partitions now seals what it creates in the same
-- transaction, wherever it is called from (create_timeseries, run_maintenance, by hand).
alter function dataplane.ensure_partitions(regclass, timestamptz) rename to _create_partitions;
create function dataplane.ensure_partitions(relation regclass, as_of timestamptz default now()) returns integer
language plpgsql
as $$
declare
  created integer;
begin
  created := dataplane._create_partitions(relation, as_of);
  perform dataplane.seal_partitions(relation);
  return created;
end
$$;

select dataplane.seal_partitions(format('%I.%I', schema_name, table_name)::regclass)
  from dataplane.timeseries where engine = 'native';
