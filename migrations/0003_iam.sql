-- iam: tenants (organizations), people (users), who belongs where (memberships)
-- and machine credentials (api_keys, of which only a prefix and a hash are kept).

create schema iam;
comment on schema iam is 'Identity and access: organizations (tenants), users, memberships, API keys';

alter default privileges in schema iam grant select, insert, update, delete on tables to dp_iam_rw;
alter default privileges in schema iam grant select on tables to dp_readonly;
grant usage on schema iam to dp_iam_rw, dp_readonly;

create table iam.organizations (
  id         bigint generated always as identity primary key,
  slug       text        not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name       text        not null check (length(name) between 1 and 200),
  created_at timestamptz not null default now()
);
comment on table iam.organizations is 'Tenants. Every tenant-owned row carries org_id';

create table iam.users (
  id           bigint generated always as identity primary key,
  email        text        not null check (length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  display_name text        check (length(display_name) <= 200),
  created_at   timestamptz not null default now()
);
comment on table iam.users is 'People; one user may belong to several organizations';
-- Sign-in looks users up by e-mail, whatever its case.
create unique index users_email_key on iam.users (lower(email));

create table iam.memberships (
  org_id     bigint      not null references iam.organizations (id) on delete cascade,
  user_id    bigint      not null references iam.users (id) on delete cascade,
  role       text        not null check (role in ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
comment on table iam.memberships is 'Who belongs to which organization, with which role; goes with either side';
-- The organizations of a user (sign-in, organization switcher).
create index memberships_user_id_idx on iam.memberships (user_id);

create table iam.api_keys (
  id           bigint generated always as identity primary key,
  org_id       bigint      not null references iam.organizations (id) on delete cascade,
  name         text        not null check (length(name) between 1 and 100),
  prefix       text        not null unique check (prefix ~ '^[A-Za-z0-9_-]{8,16}$'),
  key_hash     bytea       not null check (octet_length(key_hash) = 32),
  created_by   bigint      references iam.users (id) on delete set null,
  created_at   timestamptz not null default now(),
  last_used_at timestamptz,
  expires_at   timestamptz check (expires_at > created_at),
  revoked_at   timestamptz check (revoked_at >= created_at)
);
comment on table iam.api_keys is 'Machine credentials: the key itself is never stored, only its SHA-256 and a lookup prefix';
comment on column iam.api_keys.key_hash is 'sha256 of the whole key; compare in constant time';
-- An organization's keys (settings page).
create index api_keys_org_id_idx on iam.api_keys (org_id);

-- Row-level security: a session sees its own tenant (dataplane.current_org()) only.
alter table iam.organizations enable row level security;
alter table iam.users enable row level security;
alter table iam.memberships enable row level security;
alter table iam.api_keys enable row level security;

create policy organizations_tenant on iam.organizations to dp_iam_rw, dp_readonly
  using (id = dataplane.current_org());
create policy memberships_tenant on iam.memberships to dp_iam_rw, dp_readonly
  using (org_id = dataplane.current_org()) with check (org_id = dataplane.current_org());
create policy api_keys_tenant on iam.api_keys to dp_iam_rw, dp_readonly
  using (org_id = dataplane.current_org()) with check (org_id = dataplane.current_org());
-- Users are shared identities: visible and changeable where they are members of the
-- session's tenant; new ones enter through iam.add_member().
create policy users_of_tenant on iam.users to dp_iam_rw, dp_readonly
  using (exists (select 1 from iam.memberships m where m.user_id = users.id and m.org_id = dataplane.current_org()));

-- Creating a tenant happens before there is a tenant to act as.
create function iam.create_organization(p_slug text, p_name text) returns bigint
language sql security definer set search_path = pg_catalog, iam
as $$ insert into iam.organizations (slug, name) values (p_slug, p_name) returning id $$;

-- Add a person (found by e-mail, or created) to the session's tenant.
create function iam.add_member(p_email text, p_role text, p_display_name text default null) returns bigint
language plpgsql security definer set search_path = pg_catalog, iam
as $$
declare
  org bigint := dataplane.current_org();
  uid bigint;
begin
  if org is null then
    raise exception 'iam.add_member needs a tenant: set dataplane.org_id' using errcode = 'insufficient_privilege';
  end if;
  select id into uid from iam.users where lower(email) = lower(p_email);
  if uid is null then
    insert into iam.users (email, display_name) values (p_email, p_display_name) returning id into uid;
  end if;
  insert into iam.memberships (org_id, user_id, role) values (org, uid, p_role)
    on conflict (org_id, user_id) do update set role = excluded.role;
  return uid;
end
$$;

-- API-key sign-in, before the tenant is known: find the key by prefix, compare the
-- hash, record the use. Returns the key's organization, or nothing.
create function iam.authenticate_api_key(p_prefix text, p_key_hash bytea)
returns table (org_id bigint, key_id bigint)
language sql security definer set search_path = pg_catalog, iam
as $$
  update iam.api_keys k set last_used_at = now()
   where k.prefix = p_prefix and k.key_hash = p_key_hash
     and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
  returning k.org_id, k.id
$$;

revoke all on function iam.create_organization(text, text), iam.add_member(text, text, text), iam.authenticate_api_key(text, bytea) from public;
grant execute on function iam.create_organization(text, text), iam.add_member(text, text, text), iam.authenticate_api_key(text, bytea) to dp_iam_rw;
