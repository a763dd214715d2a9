/**
 * What dataplane does as superuser after PostgreSQL starts, before migrations:
 * roles and their passwords, the application database, extensions. Idempotent:
 * it runs on every start and only changes what differs.
 */
import type { Config } from '../config/schema.js';
import { scramSha256Verifier, scramVerifierMatches } from '../secrets/hashes.js';
import { secretFor, type Secrets } from '../secrets/store.js';
import { BACKUP_FUNCTIONS, CLONE_FUNCTIONS, effectiveLimits, GROUP_ROLES, loginRoles, REPLICATION_LOGIN } from '../secrets/postgres-roles.js';

/** The smallest client surface bootstrap needs (pg.Client, or a test double-free real connection). */
export interface SqlClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
  escapeLiteral(s: string): string;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Cluster-wide: group roles, login roles with passwords, limits, memberships. */
export async function ensureRoles(client: SqlClient, config: Config, secrets: Secrets | undefined, opts: { maxConnections?: number } = {}): Promise<void> {
  const existing = new Map(
    (await client.query<{ rolname: string; rolpassword: string | null }>('select rolname, rolpassword from pg_authid')).rows.map((r) => [r.rolname, r.rolpassword]),
  );
  for (const g of GROUP_ROLES) {
    if (!existing.has(g.name)) await client.query(`create role ${ident(g.name)} nologin`);
    for (const parent of g.memberOf ?? []) await client.query(`grant ${ident(parent)} to ${ident(g.name)}`);
  }
  for (const r of loginRoles(config)) {
    const attrs = ['login', ...(r.attributes ?? [])].join(' ');
    const password = secrets ? secretFor(secrets, 'postgres', r.name) : undefined;
    const passwordClause = password ? ` password ${client.escapeLiteral(scramSha256Verifier(password))}` : '';
    if (!existing.has(r.name)) {
      await client.query(`create role ${ident(r.name)} ${attrs}${passwordClause}`);
    } else if (password && !scramVerifierMatches(existing.get(r.name), password)) {
      // The secret changed (environment override or rotation): follow it.
      await client.query(`alter role ${ident(r.name)} ${attrs}${passwordClause}`);
    } else {
      await client.query(`alter role ${ident(r.name)} ${attrs}`);
    }
    for (const g of r.memberOf) await client.query(`grant ${ident(g)} to ${ident(r.name)}`);
    const limits = effectiveLimits(config, r, opts.maxConnections ?? 100);
    await client.query(`alter role ${ident(r.name)} connection limit ${limits.connectionLimit}`);
    await client.query(`alter role ${ident(r.name)} set statement_timeout = ${client.escapeLiteral(limits.statementTimeout)}`);
    await client.query(`alter role ${ident(r.name)} set idle_in_transaction_session_timeout = ${client.escapeLiteral(limits.idleInTransactionTimeout)}`);
  }
  // ha: a new replica is cloned through SQL in the postgres database (the clone connects there).
  if (config.topology === 'ha') {
    for (const fn of [...BACKUP_FUNCTIONS, ...CLONE_FUNCTIONS]) await client.query(`grant execute on function pg_catalog.${fn} to ${ident(REPLICATION_LOGIN)}`);
  }
}

export async function ensureDatabase(client: SqlClient, config: Config): Promise<boolean> {
  const { database, owner } = config.postgres;
  const found = await client.query('select 1 from pg_database where datname = $1', [database]);
  if (found.rowCount) return false;
  await client.query(`create database ${ident(database)} owner ${ident(owner)}`);
  return true;
}

/** Inside the application database: extensions and grants only a superuser may give. */
export async function prepareDatabase(client: SqlClient, opts: { timescaledb: boolean }): Promise<void> {
  if (opts.timescaledb) await client.query('create extension if not exists timescaledb');
  // Granted to PUBLIC by pg_database_owner in template1, so the owner role's own
  // REVOKE (in 0002_access.sql) does not reach it.
  await client.query('revoke all on schema public from public');
  for (const fn of BACKUP_FUNCTIONS) await client.query(`grant execute on function pg_catalog.${fn} to dp_backup`);
}
