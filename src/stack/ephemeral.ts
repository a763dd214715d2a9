/**
 * A throw-away stack for tests (ours and application teams'): temporary state dir,
 * free loopback ports, generated credentials, real servers. Dispose it with
 * `await using stack = await startEphemeralStack()` or `await stack.stop()`.
 *
 *   await using stack = await startEphemeralStack({ services: ['postgres'] });
 *   const client = new pg.Client(stack.postgres!.url);
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mergeDeep, parseConfig } from '../config/load.js';
import { SERVICES, type Config, type ConfigInput, type ServiceName } from '../config/schema.js';
import { PortInUseError } from '../errors/index.js';
import { freePortBlock, freePorts } from '../lib/ports.js';
import type { Access } from '../connect/access.js';
import { credentialsFor, type Credential } from '../connect/credentials.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { Supervisor } from './supervisor.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export interface EphemeralStackOptions {
  /** Servers to run (default: all three). */
  services?: ServiceName[];
  /** Config on top of the ephemeral defaults (ports and stateDir are chosen for you). */
  config?: DeepPartial<ConfigInput>;
  /** Keep the state dir after stop, for post-mortems. */
  keepStateDir?: boolean;
  logger?: Logger;
}

export interface EphemeralStack extends AsyncDisposable {
  stateDir: string;
  config: Config;
  /** Config and secrets, for the client library: connectPostgres({ access: stack.access, user: 'app_rw' }). */
  access: Access;
  supervisor: Supervisor;
  /** Database owner role on the application database. */
  postgres?: Credential & { superuser: Credential };
  /** Application user; `admin` may run administrative commands. */
  redis?: Credential & { admin: Credential };
  /** Application account user with JetStream. */
  nats?: Credential & { servers: string };
  /** Every generated login, e.g. the least-privilege PostgreSQL roles (app_rw, app_ingest...). */
  credentials: Credential[];
  healthUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * Monitoring for throw-away stacks: off unless a test asks (five more processes per
 * stack), on the given free ports, scraped every second when on.
 */
export function testMonitoring([port, alertmanagerPort, nodeExporterPort, postgresExporterPort, redisExporterPort]: number[]) {
  return { enabled: false, port, alertmanagerPort, nodeExporterPort, postgresExporterPort, redisExporterPort, scrapeIntervalSec: 1 };
}

/**
 * Ports for the ha topology on one host: nodes of a kind number their ports from a base
 * port, so each kind gets a block of consecutive free ports.
 */
export async function haPortBlocks(input: { nats?: { cluster?: { nodes?: number } }; redis?: { replicas?: number; sentinel?: { nodes?: number } }; postgres?: { ha?: { members?: number; etcd?: { nodes?: number } } } } = {}) {
  const natsCount = input.nats?.cluster?.nodes ?? 3;
  const redisCount = 1 + (input.redis?.replicas ?? 2);
  const sentinelCount = input.redis?.sentinel?.nodes ?? 3;
  const members = input.postgres?.ha?.members ?? 3;
  const etcdCount = input.postgres?.ha?.etcd?.nodes ?? 3;
  // One block for all: blocks found one after another could overlap (each search frees its ports).
  const base = await freePortBlock(3 * natsCount + 2 * redisCount + sentinelCount + 2 * members + 2 * etcdCount + 1);
  const redisBase = base + 3 * natsCount;
  const pgBase = redisBase + 2 * redisCount + sentinelCount;
  return {
    nats: { port: base, monitorPort: base + natsCount, cluster: { port: base + 2 * natsCount } },
    redis: { port: redisBase, tlsPort: redisBase + 1, sentinel: { port: redisBase + 2 * redisCount } },
    postgres: {
      ha: {
        memberPort: pgBase,
        restApiPort: pgBase + members,
        etcd: { port: pgBase + 2 * members, peerPort: pgBase + 2 * members + etcdCount },
        replicaPort: pgBase + 2 * members + 2 * etcdCount,
      },
    },
  };
}

/** The configuration of a throw-away stack in `stateDir`, as it would be written in a file (before defaults). */
export async function ephemeralConfigInput(stateDir: string, opts: Pick<EphemeralStackOptions, 'services' | 'config'> = {}): Promise<Record<string, unknown>> {
  const want = new Set(opts.services ?? SERVICES);
  const [pg, redis, redisTls, nats, natsMonitor, health, prom, am, nodeExp, pgExp, redisExp] = await freePorts(11);
  const base = {
    stateDir,
    resources: { memory: '1gb' },
    health: { port: health },
    supervisor: { restartDelayMs: 100, startTimeoutMs: 30_000, stopTimeoutMs: 30_000 },
    postgres: { enabled: want.has('postgres'), port: pg },
    redis: { enabled: want.has('redis'), port: redis, tlsPort: redisTls },
    nats: { enabled: want.has('nats'), port: nats, monitorPort: natsMonitor },
    // A test asks for scheduled backups when it wants them.
    backup: { intervalHours: 0 },
    monitoring: testMonitoring([prom!, am!, nodeExp!, pgExp!, redisExp!]),
  };
  if ((opts.config as { topology?: string } | undefined)?.topology === 'ha') {
    const blocks = await haPortBlocks(opts.config as Record<string, unknown>);
    Object.assign(base, { nats: { ...base.nats, ...blocks.nats }, redis: { ...base.redis, ...blocks.redis }, postgres: { ...base.postgres, ...blocks.postgres } });
  }
  return opts.config ? mergeDeep(base, opts.config as Record<string, unknown>) : base;
}

async function ephemeralConfig(stateDir: string, opts: EphemeralStackOptions): Promise<Config> {
  return parseConfig(await ephemeralConfigInput(stateDir, opts));
}

export async function startEphemeralStack(opts: EphemeralStackOptions = {}): Promise<EphemeralStack> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-'));
  chmodSync(stateDir, 0o711);
  let supervisor: Supervisor | undefined;
  let config!: Config;
  try {
    for (let attempt = 1; ; attempt++) {
      config = await ephemeralConfig(stateDir, opts);
      try {
        supervisor = await Supervisor.start({ config, logger: opts.logger ?? silentLogger, fastInit: true });
        break;
      } catch (e) {
        // Another process took a port between our choice and the server's bind.
        if (!(e instanceof PortInUseError) || attempt >= 3) throw e;
      }
    }
  } catch (e) {
    if (!opts.keepStateDir) rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  const sup = supervisor;
  // If the test process exits without stopping us, leave no servers behind.
  const onExit = () => sup.killNow();
  process.once('exit', onExit);

  const creds = credentialsFor(config, sup.secrets, { reveal: true });
  const find = (service: ServiceName, user: string) => creds.find((c) => c.service === service && c.user === user)!;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      await sup.stop();
      if (!opts.keepStateDir) rmSync(stateDir, { recursive: true, force: true });
    })());

  return {
    stateDir,
    config,
    // The supervisor's current one: rotation replaces it.
    get access() {
      return sup.access;
    },
    supervisor: sup,
    ...(config.postgres.enabled
      ? { postgres: { ...find('postgres', config.postgres.owner), superuser: find('postgres', config.postgres.superuser) } }
      : {}),
    ...(config.redis.enabled ? { redis: { ...find('redis', 'app'), admin: find('redis', 'admin') } } : {}),
    ...(config.nats.enabled ? { nats: { ...find('nats', 'app'), servers: `${config.nats.host}:${config.nats.port}` } } : {}),
    credentials: creds,
    healthUrl: sup.healthUrl,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
