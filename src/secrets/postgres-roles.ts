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

export interface SessionLimits {
  /** share of max_connections, or a fixed number */
  connections: { share: number } | { fixed: number };
  statementTimeout: string;
  idleInTransactionTimeout: string;
}

export interface LoginRole {
  name: string;
  purpose: string;
  memberOf: string[];
  /** role attributes beyond LOGIN */
  attributes?: string[];
  limits: SessionLimits;
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

/** The login the exporter, /readyz figures and `status` read server statistics as (pg_monitor, no data). */
export const MONITOR_LOGIN = 'app_monitor';

/** The login base backups run as (pg_backup_start/stop, REPLICATION). */
export const BACKUP_LOGIN = 'app_backup';

/** ha: the login replicas stream as and new replicas are cloned as (Patroni's replication user). */
export const REPLICATION_LOGIN = 'app_replication';

/**
 * What a clone reads the primary's files with, in the postgres database (relative
 * paths only: inside the data directory; no pg_read_server_files membership).
 */
export const CLONE_FUNCTIONS = ['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text, bigint, bigint, boolean)'];

export const BACKUP_FUNCTIONS = ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)', 'pg_switch_wal()'];

/**
 * Login roles with their session limits. Timeouts bound what one session can hold:
 * interactive roles get short statements, batch roles (ingest, analytics) longer
 * ones; migrations and backups may run as long as they need.
 */
export function loginRoles(config: Config): LoginRole[] {
  return [
    {
      name: config.postgres.owner,
      purpose: `owns database ${config.postgres.database}; runs migrations (DDL)`,
      memberOf: [],
      limits: { connections: { fixed: 5 }, statementTimeout: '0', idleInTransactionTimeout: '10min' },
    },
    {
      name: 'app_rw',
      purpose: 'application: read-write, tenant-scoped',
      memberOf: ['dp_iam_rw', 'dp_registry_rw', 'dp_telemetry_rw', 'dp_messaging_rw', 'dp_audit_writer'],
      limits: { connections: { share: 0.5 }, statementTimeout: '30s', idleInTransactionTimeout: '1min' },
    },
    {
      name: 'app_ro',
      purpose: 'read-only, tenant-scoped',
      memberOf: ['dp_readonly'],
      limits: { connections: { share: 0.2 }, statementTimeout: '1min', idleInTransactionTimeout: '1min' },
    },
    {
      name: 'app_ingest',
      purpose: 'telemetry ingest: INSERT only',
      memberOf: ['dp_ingest'],
      limits: { connections: { share: 0.2 }, statementTimeout: '5min', idleInTransactionTimeout: '1min' },
    },
    {
      name: 'app_analytics',
      purpose: 'analytics: SELECT on rollups',
      memberOf: ['dp_analytics'],
      limits: { connections: { share: 0.1 }, statementTimeout: '5min', idleInTransactionTimeout: '5min' },
    },
    {
      name: 'app_monitor',
      purpose: 'monitoring: pg_monitor',
      memberOf: ['dp_monitor'],
      // the exporter, the supervisor's /readyz and /metrics, and `dataplane status` at once
      limits: { connections: { fixed: 6 }, statementTimeout: '10s', idleInTransactionTimeout: '10s' },
    },
    {
      name: 'app_backup',
      purpose: 'backup and replication',
      memberOf: ['dp_backup'],
      attributes: ['REPLICATION'],
      limits: { connections: { fixed: 3 }, statementTimeout: '0', idleInTransactionTimeout: '0' },
    },
    ...(config.topology === 'ha'
      ? [
          {
            name: REPLICATION_LOGIN,
            purpose: 'ha: replicas streaming from the primary, and cloning a new replica from it',
            memberOf: ['dp_backup'],
            attributes: ['REPLICATION'],
            // a walsender per replica, and a clone at a time per replica
            limits: { connections: { fixed: 2 * config.postgres.ha.members + 2 }, statementTimeout: '0', idleInTransactionTimeout: '0' },
          },
        ]
      : []),
  ];
}

export interface EffectiveLimits {
  connectionLimit: number;
  statementTimeout: string;
  idleInTransactionTimeout: string;
}

/** Defaults above, sized to max_connections, with postgres.roles overrides applied. */
export function effectiveLimits(config: Config, role: LoginRole, maxConnections: number): EffectiveLimits {
  const o = config.postgres.roles[role.name] ?? {};
  const c = role.limits.connections;
  return {
    connectionLimit: o.connectionLimit ?? ('fixed' in c ? c.fixed : Math.max(2, Math.floor(maxConnections * c.share))),
    statementTimeout: o.statementTimeout ?? role.limits.statementTimeout,
    idleInTransactionTimeout: o.idleInTransactionTimeout ?? role.limits.idleInTransactionTimeout,
  };
}
