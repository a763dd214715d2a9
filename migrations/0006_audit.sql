-- audit: an append-only trail of who did what. No role may change or remove an
-- entry; only retention removes whole chunks past their time. Tenant roles write
-- and read their own tenant's entries through audit.tenant_audit_log.

create schema audit;
comment on schema audit is 'Append-only audit trail';
grant usage on schema audit to dp_audit_writer, dp_readonly;

create table audit.audit_log (
  time       timestamptz not null default now(),
  -- No foreign key: the trail outlives the organizations it mentions.
  org_id     bigint,
  actor      text        not null check (actor ~ '^(user|api_key|service|system):[A-Za-z0-9._@-]{1,254}$'),
  action     text        not null check (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
  target     text        check (length(target) <= 500),
  details    jsonb       not null default '{}' check (jsonb_typeof(details) = 'object'),
  request_id text        check (length(request_id) <= 100)
);
comment on table audit.audit_log is 'Who did what, when; append-only';
select dataplane.create_timeseries('audit.audit_log', 'time',
  chunk_interval => interval '7 days', retention => interval '400 days', compress_after => interval '30 days',
  segment_by => 'org_id');
-- An organization's trail, newest first.
create index audit_log_org_time_idx on audit.audit_log (org_id, time desc);

-- Privileges keep application roles to SELECT and INSERT; this keeps the owner too
-- from rewriting history. Retention (dataplane.maintenance) may delete old rows.
create function audit.forbid_change() returns trigger
language plpgsql
as $$
begin
  if tg_op = 'DELETE' and current_setting('dataplane.maintenance', true) = 'on' then
    return old;
  end if;
  raise exception 'audit.audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_log_append_only before update or delete on audit.audit_log
  for each row execute function audit.forbid_change();
create trigger audit_log_no_truncate before truncate on audit.audit_log
  for each statement execute function audit.forbid_change();

create view audit.tenant_audit_log with (security_barrier) as
  select time, org_id, actor, action, target, details, request_id from audit.audit_log
   where org_id = dataplane.current_org()
  with check option;
grant select, insert on audit.tenant_audit_log to dp_audit_writer;
grant select on audit.tenant_audit_log to dp_readonly;
