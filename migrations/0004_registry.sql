-- registry: what emits data (sources, owned by a tenant), what can be measured
-- (the metrics catalog, shared by all tenants) and how sources are labelled (tags).

create schema registry;
comment on schema registry is 'Sources of data, the metrics catalog, tags';

alter default privileges in schema registry grant select, insert, update, delete on tables to dp_registry_rw;
alter default privileges in schema registry grant select on tables to dp_readonly;
grant usage on schema registry to dp_registry_rw, dp_readonly;

create table registry.sources (
  id         bigint generated always as identity primary key,
  org_id     bigint      not null references iam.organizations (id) on delete cascade,
  name       text        not null check (name ~ '^[A-Za-z0-9._:-]{1,128}$'),
  kind       text        not null check (kind in ('device', 'service', 'gateway')),
  created_at timestamptz not null default now(),
  retired_at timestamptz check (retired_at >= created_at),
  -- A source is found by its name within a tenant.
  constraint sources_org_id_name_key unique (org_id, name),
  -- Target of (org_id, source_id) foreign keys: telemetry stays inside its tenant.
  constraint sources_org_id_id_key unique (org_id, id)
);
comment on table registry.sources is 'Devices and services that emit telemetry. Retire rather than delete: history keeps them referenced';

create table registry.metrics (
  id          integer generated always as identity primary key,
  name        text not null check (name ~ '^[a-z][a-z0-9_.]{0,127}$'),
  unit        text not null check (unit in ('1', '%', 's', 'ms', 'us', 'ns', 'B', 'KiB', 'MiB', 'GiB', 'bit/s', 'B/s',
                                            'Cel', 'K', 'V', 'A', 'W', 'Wh', 'Hz', 'Pa', 'm', 'm/s', 'count')),
  kind        text not null check (kind in ('gauge', 'counter', 'histogram')),
  description text check (length(description) <= 1000),
  -- Ingest resolves metric names to ids.
  constraint metrics_name_key unique (name)
);
comment on table registry.metrics is 'Catalog of measurable quantities, shared by all tenants; units follow UCUM where one applies';

create table registry.tags (
  id     bigint generated always as identity primary key,
  org_id bigint not null references iam.organizations (id) on delete cascade,
  key    text   not null check (key ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  value  text   not null check (length(value) between 1 and 256),
  -- A tag is found by key and value within a tenant.
  constraint tags_org_id_key_value_key unique (org_id, key, value),
  constraint tags_org_id_id_key unique (org_id, id)
);
comment on table registry.tags is 'key=value labels, per tenant';

create table registry.source_tags (
  org_id    bigint not null,
  source_id bigint not null,
  tag_id    bigint not null,
  primary key (source_id, tag_id),
  foreign key (org_id, source_id) references registry.sources (org_id, id) on delete cascade,
  foreign key (org_id, tag_id) references registry.tags (org_id, id) on delete cascade
);
comment on table registry.source_tags is 'Which source carries which tag; both within one tenant';
-- The sources carrying a tag.
create index source_tags_tag_id_idx on registry.source_tags (tag_id);

alter table registry.sources enable row level security;
alter table registry.tags enable row level security;
alter table registry.source_tags enable row level security;
create policy sources_tenant on registry.sources to dp_registry_rw, dp_readonly
  using (org_id = dataplane.current_org()) with check (org_id = dataplane.current_org());
create policy tags_tenant on registry.tags to dp_registry_rw, dp_readonly
  using (org_id = dataplane.current_org()) with check (org_id = dataplane.current_org());
create policy source_tags_tenant on registry.source_tags to dp_registry_rw, dp_readonly
  using (org_id = dataplane.current_org()) with check (org_id = dataplane.current_org());
