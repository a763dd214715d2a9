/**
 * `dataplane deploy init`: what the supervisor does after PostgreSQL first starts on one
 * machine, done from the operator's machine for a cluster on hosts, through the primary
 * address: roles with their passwords (the replication login among them, which the
 * replicas' clones need), the application database, its extensions, then the migrations
 * as the owner. Idempotent: run it after every install or upgrade.
 */
import type { Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { loadMigrations, migrate, migrationsDir, type MigrateResult } from '../postgres/migrations.js';
import { ensureDatabase, ensureRoles, prepareDatabase } from '../servers/postgres-bootstrap.js';

export interface InitResult {
  createdDatabase: boolean;
  migrations: MigrateResult;
}

export async function initCluster(access: Access, opts: { maxConnections: number; timescaledb: boolean; onProgress?: (msg: string) => void }): Promise<InitResult> {
  const { config } = access;
  const progress = opts.onProgress ?? (() => {});
  const su = config.postgres.superuser;
  progress('roles and the application database (as the superuser, through the primary address)');
  const createdDatabase = await withPg(access, { user: su, database: 'postgres', client: 'dataplane-init' }, async (c) => {
    await ensureRoles(c, config, access.secrets, { maxConnections: opts.maxConnections });
    return ensureDatabase(c, config);
  });
  await withPg(access, { user: su, database: config.postgres.database, client: 'dataplane-init' }, (c) => prepareDatabase(c, { timescaledb: opts.timescaledb }));
  progress('migrations (as the owner)');
  const migrations = await withPg(access, { user: config.postgres.owner, client: 'dataplane-init' }, (c) => migrate(c, loadMigrations(migrationsDir(config)), { onProgress: progress }));
  return { createdDatabase, migrations };
}
