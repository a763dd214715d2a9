-- telemetry: measurements and events as time-series tables; analytics: their
-- rollups at 1 minute and 1 hour. Declared through dataplane.create_timeseries, so
-- they are hypertables with TimescaleDB and native partitions without it.
--
-- Who sees what: ingest inserts into the raw tables for every tenant; tenant-scoped
-- roles go through tenant_* views that show and accept only the session's tenant
-- (security barrier + check option; row-level security would forbid TimescaleDB
-- compression); analytics reads rollups across tenants.

create schema telemetry;
comment on schema telemetry is 'Raw time series: measurements and events';
create schema analytics;
comment on schema analytics is 'Rollups of telemetry, for dashboards and analysis across tenants';

-- Future raw tables take ingest; tenant roles get nothing by default.
alter default privileges in schema telemetry grant insert on tables to dp_ingest;
alter default privileges in schema analytics grant select on tables to dp_analytics;
grant usage on schema telemetry to dp_telemetry_rw, dp_readonly, dp_ingest;
grant usage on schema analytics to dp_analytics, dp_telemetry_rw, dp_readonly;

create table telemetry.measurements (
  time      timestamptz      not null,
  org_id    bigint           not null,
  source_id bigint           not null,
  metric_id integer          not null references registry.metrics (id) on delete restrict,
  value     double precision not null,
  -- Data outlives nothing it describes: a source with history is retired, not deleted.
  -- (org_id, source_id) keeps every sample inside the tenant that owns its source.
  foreign key (org_id, source_id) references registry.sources (org_id, id) on delete restrict
);
comment on table telemetry.measurements is 'Numeric samples: (time, source, metric, value)';
select dataplane.create_timeseries('telemetry.measurements', 'time',
  chunk_interval => interval '1 day', retention => interval '90 days', compress_after => interval '7 days',
  segment_by => 'org_id, source_id, metric_id');
-- The last N values, or a time range, of one metric of one source.
create index measurements_source_metric_time_idx on telemetry.measurements (source_id, metric_id, time desc);

create table telemetry.events (
  time      timestamptz not null,
  org_id    bigint      not null,
  source_id bigint      not null,
  type      text        not null check (type ~ '^[a-z][a-z0-9_.]{0,127}$'),
  payload   jsonb       not null default '{}' check (jsonb_typeof(payload) = 'object'),
  foreign key (org_id, source_id) references registry.sources (org_id, id) on delete restrict
);
comment on table telemetry.events is 'Discrete occurrences: (time, source, type, JSON payload)';
select dataplane.create_timeseries('telemetry.events', 'time',
  chunk_interval => interval '1 day', retention => interval '30 days', compress_after => interval '7 days',
  segment_by => 'org_id, source_id');
-- The recent events of one source.
create index events_source_time_idx on telemetry.events (source_id, time desc);
-- The events of one type in a time range.
create index events_type_time_idx on telemetry.events (type, time desc);

select dataplane.add_rollup('telemetry.measurements', 'analytics.measurements_1m', interval '1 minute',
  array['source_id', 'metric_id', 'org_id']::name[], 'value',
  start_offset => interval '1 hour', end_offset => interval '1 minute', retention => interval '30 days');
select dataplane.add_rollup('telemetry.measurements', 'analytics.measurements_1h', interval '1 hour',
  array['source_id', 'metric_id', 'org_id']::name[], 'value',
  start_offset => interval '1 day', end_offset => interval '1 hour', retention => interval '2 years');

-- The session's tenant only; writes outside it fail the check option.
create view telemetry.tenant_measurements with (security_barrier) as
  select time, org_id, source_id, metric_id, value from telemetry.measurements
   where org_id = dataplane.current_org()
  with check option;
create view telemetry.tenant_events with (security_barrier) as
  select time, org_id, source_id, type, payload from telemetry.events
   where org_id = dataplane.current_org()
  with check option;
create view analytics.tenant_measurements_1m with (security_barrier) as
  select * from analytics.measurements_1m where org_id = dataplane.current_org();
create view analytics.tenant_measurements_1h with (security_barrier) as
  select * from analytics.measurements_1h where org_id = dataplane.current_org();

grant select, insert, update, delete on telemetry.tenant_measurements, telemetry.tenant_events to dp_telemetry_rw;
grant select on telemetry.tenant_measurements, telemetry.tenant_events to dp_readonly;
grant select on analytics.tenant_measurements_1m, analytics.tenant_measurements_1h to dp_telemetry_rw, dp_readonly;
-- Views were given to ingest and analytics by the default privileges above; they read through the raw grants only.
revoke all on telemetry.tenant_measurements, telemetry.tenant_events from dp_ingest;
revoke all on analytics.tenant_measurements_1m, analytics.tenant_measurements_1h from dp_analytics;
