/**
 * Everything `up` checks and prepares before it starts a single server, so that a
 * problem (bad declarations, another supervisor, a missing binary, a taken port, no
 * service user) is reported while nothing runs: one supervisor per state directory
 * (the lock), leftovers of a crash, Debian packages, binaries, ports, the service
 * user and its permissions, secrets, certificates, and the plan (tuning and files).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { statePaths, type StatePaths } from '../config/paths.js';
import type { Config, ProcessName, ServiceName } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess, type Access, type ConnectionErrorHook } from '../connect/access.js';
import { AlreadyRunningError, InternalError, PortInUseError, UsageError } from '../errors/index.js';
import { onHosts } from '../config/topology.js';
import type { Logger } from '../lib/logger.js';
import { ensurePackages, loadBinaryAnswers, REQUIREMENTS, saveBinaryAnswers, type Requirement } from '../lib/packages.js';
import { isPortFree } from '../lib/ports.js';
import { recordFor, removeFile, writePidFile } from '../lib/process.js';
import { ensureTraversable, resolveServiceUser, type ServiceUser } from '../lib/service-user.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { driverOf, enabledDrivers, wantsPatroni, wantsSentinels } from '../servers/index.js';
import { MONITOR_REQUIREMENTS, wantedMonitors } from '../servers/monitoring.js';
import type { Binaries } from '../servers/types.js';
import { loadNatsBcryptMemo, saveNatsBcryptMemo } from '../secrets/store.js';
import { ensureCertificates } from '../tls/certificates.js';
import { loadDeclarations, type Declarations } from './declarations.js';
import { planStack, type Plan } from './plan.js';
import type { Releasers } from './releasers.js';
import { cleanStale, liveSupervisor, SUPERVISOR } from './state.js';

export interface SupervisorOptions {
  config: Config;
  logger: Logger;
  /** Progress of long steps (package install, first initdb), for humans. */
  progress?: (msg: string) => void;
  /** Install missing Debian packages when running as root (default true). */
  installPackages?: boolean;
  /** initdb without fsync: for throw-away test stacks only. */
  fastInit?: boolean;
  /** What the config loader read from the environment (DATAPLANE_SECRET_* values). */
  environment?: RuntimeEnvironment;
  /** Streams, consumers and keyspaces to reconcile and run; default: the module config `declarations` names. */
  declarations?: Declarations;
  /** Hears of connection errors of the supervisor's own clients (default: logged as warnings). */
  onConnectionError?: ConnectionErrorHook;
}

export interface Prepared {
  paths: StatePaths;
  access: Access;
  plan: Plan;
  user: ServiceUser;
  binaries: Partial<Record<ProcessName, Binaries>>;
  declarations: Declarations;
}

function requirements(config: Config): Requirement[] {
  const reqs: Requirement[] = [];
  if (config.redis.enabled) reqs.push(REQUIREMENTS.redisServer, REQUIREMENTS.redisCli);
  if (wantsSentinels(config)) reqs.push(REQUIREMENTS.redisSentinel);
  if (config.nats.enabled) reqs.push(REQUIREMENTS.natsServer);
  if (config.postgres.enabled) reqs.push(REQUIREMENTS.psql);
  if (wantsPatroni(config)) reqs.push(REQUIREMENTS.patroni, REQUIREMENTS.patroniIdna, REQUIREMENTS.etcd, REQUIREMENTS.haproxy, REQUIREMENTS.pgControldata, REQUIREMENTS.pgIsready);
  if (config.tls.enabled && config.tls.source === 'generate') reqs.push(REQUIREMENTS.openssl);
  if (config.backup.offsite.destination) reqs.push(REQUIREMENTS.rsync, ...(config.backup.offsite.destination.startsWith('/') ? [] : [REQUIREMENTS.ssh]));
  reqs.push(...wantedMonitors(config).map((m) => MONITOR_REQUIREMENTS[m]));
  return reqs;
}

/** Take the state directory's supervisor lock (its pid file); cleans what a crashed supervisor left first. */
async function lock(opts: SupervisorOptions, paths: StatePaths, releasers: Releasers): Promise<void> {
  const { config, logger } = opts;
  const live = liveSupervisor(paths);
  if (live && live.pid !== process.pid) throw new AlreadyRunningError(live.pid, paths.root);
  const stale = await cleanStale(paths, async (instance, rec) => {
    const driver = driverOf(instance);
    // An instance this version does not know (another topology, an older release): SIGTERM.
    if (!driver) throw new InternalError(`no driver for ${instance}`);
    await driver.stop(resolveAccess({ config, environment: opts.environment }, { create: true }), rec, config.supervisor.stopTimeoutMs, instance);
  });
  for (const o of stale.stoppedOrphans) logger.warn(`stopped ${o.service} (pid ${o.pid}) left running by a supervisor that crashed`);
  if (stale.removedFiles.length) logger.info(`removed stale pid files: ${stale.removedFiles.map((f) => f.slice(paths.root.length + 1)).join(', ')}`);
  try {
    writePidFile(paths.pidFile(SUPERVISOR), recordFor(process.pid, 'dataplane'), true);
  } catch {
    throw new AlreadyRunningError(liveSupervisor(paths)?.pid ?? 0, paths.root);
  }
  releasers.push('supervisor lock', () => removeFile(paths.pidFile(SUPERVISOR)));
}

async function checkPorts(config: Config): Promise<void> {
  const claims = enabledDrivers(config).flatMap((d) =>
    d.ports(config).map((c) => ({ ...c, service: d.name as string })),
  );
  if (config.health.enabled) claims.push({ host: config.health.host, port: config.health.port, configPath: 'health.port', service: 'health server' });
  for (const c of claims) {
    if (!(await isPortFree(c.host, c.port))) throw new PortInUseError(c.service, c.host, c.port, c.configPath);
  }
}

export async function preflight(opts: SupervisorOptions, releasers: Releasers): Promise<Prepared> {
  const { config, logger } = opts;
  const progress = opts.progress ?? (() => {});
  if (onHosts(config)) {
    throw new UsageError('this configuration places the servers on the hosts of its inventory (deploy.hosts): render their bundles with `dataplane deploy render` and install them there (docs/deployment.md); `up` runs a stack on this machine');
  }
  // A declarations module that does not load is a configuration error: nothing starts.
  const declarations = opts.declarations ?? (await loadDeclarations(config));
  const paths = statePaths(config);
  mkdirSync(paths.root, { recursive: true });
  mkdirSync(paths.run, { recursive: true });
  mkdirSync(paths.logs, { recursive: true, mode: 0o750 });
  await lock(opts, paths, releasers);

  // Binaries answer for their version once per install, not once per start.
  const answered = path.join(paths.root, 'binaries.json');
  loadBinaryAnswers(answered);
  if (opts.installPackages !== false) {
    progress('checking binaries');
    await ensurePackages(requirements(config), progress);
  }
  // Each locate runs the binary for its version: all at once.
  const binaries: Partial<Record<ProcessName, Binaries>> = Object.fromEntries(await Promise.all(enabledDrivers(config).map(async (d) => [d.name, await d.locate(config)] as const)));
  saveBinaryAnswers(answered);

  // Every port before anything starts, so a conflict starts nothing.
  await checkPorts(config);

  const user = await resolveServiceUser(config.runAs, progress);
  chmodSync(paths.root, 0o711); // servers traverse it; only root reads it
  // ha: Patroni (as the service user) runs `node dist/cli/main.js postgres clone-replica`.
  // And Patroni itself starts through the launcher in deploy/patroni (render/patroni.ts).
  const cloneCommand = wantsPatroni(config) ? [process.execPath, path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js'), path.join(PACKAGE_ROOT, 'deploy', 'patroni', 'patroni-leader-cas.py')] : [];
  const opened = [paths.root, ...Object.values(binaries).map((b) => b!.server), ...cloneCommand].flatMap((p) => ensureTraversable(p, user));
  for (const d of new Set(opened)) logger.warn(`granted search permission (o+x) on ${d} so ${user.name} can reach its files`);

  const { secrets } = resolveAccess({ config, environment: opts.environment }, { create: true });
  if (config.tls.enabled) {
    const certs = await ensureCertificates(config, { onProgress: progress });
    for (const i of certs.issued) logger.info(`issued the ${i.service} server certificate (${i.reason})`);
  }
  const onConnectionError: ConnectionErrorHook = opts.onConnectionError ?? ((e, s) => logger.warn(`${s.server} connection (${s.client}): ${e.message}`));
  const access: Access = { config, secrets, onConnectionError };
  if (config.nats.enabled) loadNatsBcryptMemo(config);
  const plan = planStack(access, { binaries: binaries as Partial<Record<ServiceName, Binaries>> });
  if (config.nats.enabled) saveNatsBcryptMemo(config, secrets);
  return { paths, access, plan, user, binaries, declarations };
}
