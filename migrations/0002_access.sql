-- Database-wide access rules. The roles named here are created by dataplane
-- (src/postgres/roles.ts) before migrations run: dp_* roles hold privileges and
-- cannot log in; login roles are members of them.

do $$
declare
  missing text;
begin
  select string_agg(r, ', ') into missing
  from unnest(array['dp_iam_rw', 'dp_registry_rw', 'dp_telemetry_rw', 'dp_messaging_rw', 'dp_audit_writer',
                    'dp_readonly', 'dp_ingest', 'dp_analytics', 'dp_monitor', 'dp_backup']) as r
  where not exists (select 1 from pg_roles where rolname = r);
  if missing is not null then
    raise exception 'roles % are missing: `dataplane up` (or `dataplane migrate`) creates them before migrating', missing;
  end if;
  -- Nobody connects by default; each privilege role is let in explicitly.
  begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect on database %I to dp_iam_rw, dp_registry_rw, dp_telemetry_rw, dp_messaging_rw, dp_audit_writer, '
                   'dp_readonly, dp_ingest, dp_analytics, dp_monitor, dp_backup', current_database());
  exception when internal_error then
    -- PGlite (the single-user WASM build the TimescaleDB tests use) cannot update
    -- pg_database; a real server never takes this branch.
    raise warning 'database privileges left unchanged: %', sqlerrm;
  end;
end
$$;


-- The time-series helpers row-level security policies and queries call.
grant usage on schema dataplane to dp_iam_rw, dp_registry_rw, dp_telemetry_rw, dp_messaging_rw, dp_audit_writer,
  dp_readonly, dp_ingest, dp_analytics, dp_monitor;
grant execute on function dataplane.current_org(), dataplane.bucket(interval, timestamptz) to
  dp_iam_rw, dp_registry_rw, dp_telemetry_rw, dp_messaging_rw, dp_audit_writer, dp_readonly, dp_ingest, dp_analytics;
grant select on dataplane.timeseries, dataplane.rollups to dp_readonly, dp_analytics, dp_monitor;
