/** `dataplane migrate [status | create NAME]`: numbered SQL migrations, applied as the owner role. */
import type { Command } from 'commander';
import type { Access } from '../../connect/access.js';
import { ServiceUnreachableError } from '../../errors/index.js';
import { createMigration, loadMigrations, migrate, migrationsDir, migrationStatus, type MigrationClient } from '../../postgres/migrations.js';
import { accessFor, loadFor } from '../context.js';
import { printJson, progress, status, table } from '../output.js';

/** Run `fn` connected as the database owner; an unreachable server gets a clear error. */
export async function asOwner<T>(access: Access, fn: (db: MigrationClient) => Promise<T>): Promise<T> {
  const { config } = access;
  const { pgClient, pgEndpoint } = await import('../../connect/postgres.js');
  const client = pgClient(pgEndpoint(access, config.postgres.owner), { timeoutMs: 5000 });
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || /timeout/i.test((e as Error).message)) {
      throw new ServiceUnreachableError('PostgreSQL', `${config.postgres.host}:${config.postgres.port}`, e);
    }
    throw e;
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The owner's session of the command's stack. */
export function ownerOf<T>(cmd: Command, fn: (db: MigrationClient, access: Access) => Promise<T>): Promise<T> {
  const { access } = accessFor(cmd);
  return asOwner(access, (db) => fn(db, access));
}

export function register(program: Command): void {
  const cmd = program.command('migrate').description('apply, list and create SQL migrations (run by `up` too)');

  cmd
    .command('up', { isDefault: true })
    .description('apply pending migrations in order, each in its own transaction')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const migrations = loadMigrations(migrationsDir(loadFor(c).config));
      const result = await ownerOf(c, (db) => migrate(db, migrations, { onProgress: opts.json ? () => {} : progress }));
      if (opts.json) return printJson(result);
      for (const a of result.applied) process.stdout.write(`applied ${a.file} (${a.ms} ms)\n`);
      process.stdout.write(result.applied.length ? `${result.applied.length} applied, ${result.upToDate} already applied\n` : `up to date (${result.upToDate} applied)\n`);
    });

  cmd
    .command('status')
    .description('list migrations: applied, pending, changed since applied, or missing')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nExit code 1 when a migration changed after it was applied or went missing.')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const migrations = loadMigrations(migrationsDir(loadFor(c).config));
      const rows = await ownerOf(c, (db) => migrationStatus(db, migrations));
      if (opts.json) printJson(rows);
      else process.stdout.write(table(['VERSION', 'FILE', 'STATE', 'APPLIED AT'], rows.map((r) => [r.version, r.file, status(r.state), r.appliedAt ?? undefined])) + '\n');
      if (rows.some((r) => r.state === 'changed' || r.state === 'missing')) process.exitCode = 1;
    });

  cmd
    .command('create')
    .argument('<name>', 'what the migration does, e.g. add_invoices')
    .description('create the next numbered migration file')
    .action((name: string, _opts: unknown, c: Command) => {
      const { config } = loadFor(c);
      process.stdout.write(createMigration(migrationsDir(config), name) + '\n');
    });
}
