/**
 * PostgreSQL roles, least privilege. `dp_*` roles hold privileges and cannot log in
 * (migrations grant to them); login roles are members of them and get generated
 * passwords. Names are fixed because migrations refer to them.
 */
import type { Config } from '../config/schema.js';

export interface GroupRole {
  name: string;
  purpose: string;
  /** built-in roles it is a member of */
  memberOf?: string[];
}

export interface LoginRole {
  name: string;
  purpose: string;
  memberOf: string[];
  /** role attributes beyond LOGIN */
  attributes?: string[];
}

export const GROUP_ROLES: GroupRole[] = [
  { name: 'dp_iam_rw', purpose: 'read and write iam (tenant-scoped)' },
  { name: 'dp_registry_rw', purpose: 'read and write registry (tenant-scoped)' },
  { name: 'dp_telemetry_rw', purpose: 'read and write telemetry (tenant-scoped), read analytics' },
  { name: 'dp_messaging_rw', purpose: 'read and write the outbox and inbox' },
  { name: 'dp_audit_writer', purpose: 'append to and read the audit log (tenant-scoped)' },
  { name: 'dp_readonly', purpose: 'read every domain (tenant-scoped)' },
  { name: 'dp_ingest', purpose: 'insert into telemetry, nothing else' },
  { name: 'dp_analytics', purpose: 'read rollups across tenants' },
  { name: 'dp_monitor', purpose: 'server statistics (pg_monitor), no data', memberOf: ['pg_monitor'] },
  { name: 'dp_backup', purpose: 'base backups and WAL (pg_backup_start/stop)' },
];

export const BACKUP_FUNCTIONS = ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)', 'pg_switch_wal()'];

export function loginRoles(config: Config): LoginRole[] {
  return [
    { name: config.postgres.owner, purpose: `owns database ${config.postgres.database}; runs migrations (DDL)`, memberOf: [] },
    {
      name: 'app_rw',
      purpose: 'application: read-write, tenant-scoped',
      memberOf: ['dp_iam_rw', 'dp_registry_rw', 'dp_telemetry_rw', 'dp_messaging_rw', 'dp_audit_writer'],
    },
    { name: 'app_ro', purpose: 'read-only, tenant-scoped', memberOf: ['dp_readonly'] },
    { name: 'app_ingest', purpose: 'telemetry ingest: INSERT only', memberOf: ['dp_ingest'] },
    { name: 'app_analytics', purpose: 'analytics: SELECT on rollups', memberOf: ['dp_analytics'] },
    { name: 'app_monitor', purpose: 'monitoring: pg_monitor', memberOf: ['dp_monitor'] },
    { name: 'app_backup', purpose: 'backup and replication', memberOf: ['dp_backup'], attributes: ['REPLICATION'] },
  ];
}
