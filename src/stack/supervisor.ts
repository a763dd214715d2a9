/**
 * The supervisor: starts the enabled servers in order, waits for real readiness,
 * restarts a server that dies (with exponential backoff) and stops everything in
 * reverse order. A start that fails part-way unwinds what it started.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { statePaths, type StatePaths } from '../config/paths.js';
import { SERVICES, type Config, type ProcessName, type ServiceName } from '../config/schema.js';
import { AlreadyRunningError, PortInUseError, ServerStartError } from '../errors/index.js';
import { BackupScheduler } from '../backup/schedule.js';
import { rotateLogs } from '../lib/log-rotation.js';
import { figuresFor } from '../observe/figures.js';
import { startHealthServer, type ComponentHealth, type HealthServer } from '../observe/health.js';
import { collectProcessMetrics, registry as libraryMetrics } from '../lib/metrics.js';
import { createServerMetrics } from '../observe/server-metrics.js';
import { renderAll } from '../render/index.js';
import { ensureSecrets, readSecrets, type Secrets } from '../secrets/store.js';
import { allDrivers, drivers } from '../servers/index.js';
import { ensurePackages, REQUIREMENTS, type Requirement } from '../lib/packages.js';
import { isPortFree } from '../lib/ports.js';
import { MONITOR_REQUIREMENTS, monitorDrivers, wantedMonitors } from '../servers/monitoring.js';
import { isRecordAlive, recordFor, removeFile, serverEnv, spawnServer, tailFile, writePidFile, type PidRecord } from '../lib/process.js';
import { ensureTraversable, resolveServiceUser, type ServiceUser } from '../lib/service-user.js';
import type { Binaries, ProbeResult, ServerContext, ServerDriver } from '../servers/types.js';
import { clientFor, migrationsDir, withClient } from '../postgres/clients.js';
import { loadMigrations, migrate as migrateDatabase } from '../postgres/migrations.js';
import { runMaintenance } from '../postgres/timeseries.js';
import { ensureCertificates, tlsFiles } from '../tls/certificates.js';
import type { Logger } from '../lib/logger.js';
import { loadDeclarations, type Declarations } from './declarations.js';
import { Workers } from './workers.js';
import { planStack, type Plan } from './plan.js';
import { cleanStale, liveSupervisor, SUPERVISOR, writeSupervisorState, type SupervisorState } from './state.js';

export type ServiceState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

export interface ServiceSnapshot {
  name: ProcessName;
  state: ServiceState;
  pid: number | undefined;
  address: string;
  version: string | undefined;
  restarts: number;
  lastExit: string | undefined;
}

export interface SupervisorOptions {
  config: Config;
  logger: Logger;
  /** Progress of long steps (package install, first initdb), for humans. */
  progress?: (msg: string) => void;
  /** Install missing Debian packages when running as root (default true). */
  installPackages?: boolean;
  /** initdb without fsync: for throw-away test stacks only. */
  fastInit?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Streams, consumers and keyspaces to reconcile and run; default: the module config `declarations` names. */
  declarations?: Declarations;
}

interface Managed {
  name: ProcessName;
  driver: ServerDriver;
  ctx: ServerContext;
  state: ServiceState;
  child: ChildProcess | undefined;
  rec: PidRecord | undefined;
  version: string | undefined;
  restarts: number;
  lastExit: string | undefined;
  startedAt: number;
  delay: number;
  timer: NodeJS.Timeout | undefined;
}

/** A server that stayed up this long is considered healthy again: backoff resets. */
const STABLE_AFTER_MS = 30_000;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

export class Supervisor {
  plan: Plan;
  secrets: Secrets;
  readonly paths: StatePaths;
  private readonly managed: Managed[] = [];
  private health: HealthServer | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAt = new Date();
  private lastReload: SupervisorState['lastReload'] = null;
  private reloading: Promise<void> | undefined;
  private resolveStopped!: () => void;
  /** Resolves once the stack has been stopped (by stop() or a signal handler calling it). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  private constructor(
    private readonly opts: SupervisorOptions,
    plan: Plan,
    secrets: Secrets,
    private readonly user: ServiceUser,
    private readonly binaries: Partial<Record<ProcessName, Binaries>>,
  ) {
    this.plan = plan;
    this.secrets = secrets;
    this.paths = plan.paths;
  }

  get config(): Config {
    return this.opts.config;
  }

  get healthUrl(): string | undefined {
    return this.health?.url;
  }

  /** Preflight, then start every enabled server. On any failure nothing is left running. */
  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    const { config, logger } = opts;
    const progress = opts.progress ?? (() => {});
    const enabled = SERVICES.filter((s) => config[s].enabled);
    const paths = statePaths(config);

    // A declarations module that does not load is a configuration error: nothing starts.
    const declarations = opts.declarations ?? (await loadDeclarations(config));
    mkdirSync(paths.root, { recursive: true });
    mkdirSync(paths.run, { recursive: true });
    mkdirSync(paths.logs, { recursive: true, mode: 0o750 });

    // 1. One supervisor per state dir; leftovers of a crash are cleaned first.
    const live = liveSupervisor(paths);
    if (live && live.pid !== process.pid) throw new AlreadyRunningError(live.pid, paths.root);
    const stale = await cleanStale(paths, (service, rec) => allDrivers[service].stop({ config, secrets: ensureSecrets(config, opts.env) }, rec, config.supervisor.stopTimeoutMs));
    for (const o of stale.stoppedOrphans) logger.warn(`stopped ${o.service} (pid ${o.pid}) left running by a supervisor that crashed`);
    if (stale.removedFiles.length) logger.info(`removed stale pid files: ${stale.removedFiles.map((f) => f.slice(paths.root.length + 1)).join(', ')}`);
    try {
      writePidFile(paths.pidFile(SUPERVISOR), recordFor(process.pid, 'dataplane'), true);
    } catch {
      const other = liveSupervisor(paths);
      throw new AlreadyRunningError(other?.pid ?? 0, paths.root);
    }

    const releasers: (() => Promise<void> | void)[] = [() => removeFile(paths.pidFile(SUPERVISOR))];
    const unwind = async () => {
      for (const r of releasers.reverse()) await Promise.resolve(r()).catch(() => {});
    };
    try {
      // 2. Binaries (installing Debian packages when allowed).
      if (opts.installPackages !== false) {
        const reqs: Requirement[] = [];
        if (config.redis.enabled) reqs.push(REQUIREMENTS.redisServer, REQUIREMENTS.redisCli);
        if (config.nats.enabled) reqs.push(REQUIREMENTS.natsServer);
        if (config.postgres.enabled) reqs.push(REQUIREMENTS.psql);
        if (config.tls.enabled && config.tls.source === 'generate') reqs.push(REQUIREMENTS.openssl);
        reqs.push(...wantedMonitors(config).map((m) => MONITOR_REQUIREMENTS[m]));
        progress('checking binaries');
        await ensurePackages(reqs, progress);
      }
      const monitors = wantedMonitors(config);
      const binaries: Partial<Record<ProcessName, Binaries>> = {};
      for (const s of enabled) binaries[s] = await drivers[s].locate(config);
      for (const m of monitors) binaries[m] = await monitorDrivers[m].locate(config);

      // 3. Every port before anything starts, so a conflict starts nothing.
      const claims = [...enabled.map((s) => drivers[s]), ...monitors.map((m) => monitorDrivers[m])].flatMap((d) =>
        d.ports(config).map((c) => ({ ...c, service: d.name as string })),
      );
      if (config.health.enabled) claims.push({ host: config.health.host, port: config.health.port, configPath: 'health.port', service: 'health server' });
      for (const c of claims) {
        if (!(await isPortFree(c.host, c.port))) throw new PortInUseError(c.service, c.host, c.port, c.configPath);
      }

      // 4. Identity, secrets, tuning, rendered files.
      const user = await resolveServiceUser(config.runAs, progress);
      chmodSync(paths.root, 0o711); // servers traverse it; only root reads it
      const opened = [paths.root, ...Object.values(binaries).map((b) => b!.server)].flatMap((p) => ensureTraversable(p, user));
      for (const d of new Set(opened)) logger.warn(`granted search permission (o+x) on ${d} so ${user.name} can reach its files`);
      const secrets = ensureSecrets(config, opts.env);
      if (config.tls.enabled) {
        const certs = await ensureCertificates(config, { onProgress: progress });
        for (const i of certs.issued) logger.info(`issued the ${i.service} server certificate (${i.reason})`);
      }
      const plan = planStack(config, { secrets, binaries: binaries as Partial<Record<ServiceName, Binaries>> });
      const sup = new Supervisor(opts, plan, secrets, user, binaries);

      // 5. Servers in order.
      for (const name of enabled) {
        const m = sup.manage(drivers[name]);
        releasers.push(() => sup.stopOne(m));
        await sup.launch(m, true);
      }

      // 6. Schema: migrations, then the native time-series maintenance schedule.
      if (config.postgres.enabled) {
        if (config.postgres.migrateOnUp) await sup.migrate();
        sup.scheduleMaintenance();
        releasers.push(() => sup.stopMaintenance());
      }

      // 6a. Logs: size-based rotation, checked every minute.
      const rotateNow = () => {
        const rotated = rotateLogs(paths.logs, { maxBytes: config.supervisor.logMaxSize, keep: config.supervisor.logKeep });
        if (rotated.length) logger.info(`rotated logs: ${rotated.join(', ')}`);
      };
      const logTimer = setInterval(rotateNow, 60_000);
      logTimer.unref();
      releasers.push(() => clearInterval(logTimer));
      sup.logTimer = logTimer;

      // 6b. Scheduled backups (WAL is archived continuously by PostgreSQL itself).
      const backups = new BackupScheduler(config, logger);
      backups.start();
      releasers.push(() => backups.stop());
      sup.backups = backups;

      // 7. JetStream declarations, the outbox relay, cache invalidation.
      sup.workers = await Workers.start(config, logger, declarations);
      releasers.push(() => sup.workers?.stop());

      // 8. Health endpoints and the state file.
      if (config.health.enabled) {
        collectProcessMetrics();
        const serverMetrics = createServerMetrics({
          config,
          paths,
          secrets: () => sup.secrets,
          services: () => sup.managed.map((m) => ({ name: m.name, up: m.state === 'running', restarts: m.restarts })),
        });
        sup.health = await startHealthServer({
          host: config.health.host,
          port: config.health.port,
          check: () => sup.readiness(),
          registries: [libraryMetrics, serverMetrics],
        });
        releasers.push(() => sup.health?.close());
      }
      // 9. Monitoring last: Prometheus scrapes the servers and the health server above.
      for (const name of monitors) {
        const m = sup.manage(monitorDrivers[name]);
        releasers.push(() => sup.stopOne(m));
        await sup.launch(m, true);
      }
      sup.writeState();
      logger.info('stack ready', { services: sup.snapshot().map((s) => `${s.name}:${s.pid}`) });
      return sup;
    } catch (e) {
      await unwind();
      removeFile(paths.supervisorState);
      throw e;
    }
  }

  /** Apply pending migrations as the owner role; a failure fails the start. */
  private async migrate(): Promise<void> {
    const { logger } = this.opts;
    const dir = migrationsDir(this.config);
    const migrations = loadMigrations(dir);
    const result = await withClient(clientFor(this.config, this.secrets, this.config.postgres.owner), (db) =>
      migrateDatabase(db, migrations, { onProgress: (m) => this.opts.progress?.(m) }),
    );
    if (result.applied.length) {
      logger.info(`applied ${result.applied.length} migration(s): ${result.applied.map((a) => `${a.file} (${a.ms} ms)`).join(', ')}`);
    } else logger.info(`schema up to date (${result.upToDate} migrations from ${dir})`);
  }

  private workers: Workers | undefined;
  private backups: BackupScheduler | undefined;
  private logTimer: NodeJS.Timeout | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenanceRunning: Promise<void> | undefined;

  /** dataplane.run_maintenance() now and then every postgres.maintenanceIntervalSec. */
  private scheduleMaintenance(): void {
    const every = this.config.postgres.maintenanceIntervalSec;
    if (!every) return;
    const run = () => {
      const pg = this.managed.find((m) => m.name === 'postgres');
      if (this.stopping || this.maintenanceRunning || pg?.state !== 'running') return;
      const t0 = performance.now();
      this.maintenanceRunning = withClient(clientFor(this.config, this.secrets, this.config.postgres.owner), runMaintenance)
        .then((ran) => {
          if (ran) this.opts.logger.info(`time-series maintenance done in ${Math.round(performance.now() - t0)} ms`);
        })
        .catch((e: Error) => this.opts.logger.error(`time-series maintenance failed: ${e.message}`))
        .finally(() => (this.maintenanceRunning = undefined));
    };
    run();
    this.maintenanceTimer = setInterval(run, every * 1000);
  }

  private async stopMaintenance(): Promise<void> {
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    this.maintenanceTimer = undefined;
    await this.maintenanceRunning;
  }

  private manage(driver: ServerDriver): Managed {
    const name = driver.name;
    const ctx: ServerContext = {
      config: this.config,
      paths: this.paths,
      secrets: this.secrets,
      tuning: this.plan.tuning,
      files: this.plan.files,
      user: this.user,
      binaries: this.binaries[name]!,
      tls: this.config.tls.enabled ? tlsFiles(this.config) : undefined,
      timescaledb: this.plan.timescaledb.enabled,
      fastInit: this.opts.fastInit ?? false,
      progress: this.opts.progress ?? (() => {}),
    };
    const m: Managed = {
      name,
      driver,
      ctx,
      state: 'starting',
      child: undefined,
      rec: undefined,
      version: undefined,
      restarts: 0,
      lastExit: undefined,
      startedAt: 0,
      delay: this.config.supervisor.restartDelayMs,
      timer: undefined,
    };
    this.managed.push(m);
    return m;
  }

  /** Spawn, wait for readiness, run post-start work. Throws ServerStartError; the process is gone then. */
  private async launch(m: Managed, first: boolean): Promise<void> {
    const { logger } = this.opts;
    m.state = 'starting';
    if (first) {
      this.opts.progress?.(`starting ${m.name}`);
      await m.driver.prepare(m.ctx);
    }
    const cmd = m.driver.command(m.ctx);
    const logFile = this.paths.log(m.name);
    const child = spawnServer({
      bin: cmd.bin,
      args: cmd.args,
      cwd: cmd.cwd,
      ...(cmd.env ? { env: serverEnv(cmd.env) } : {}),
      logFile,
      uid: this.user.dropsPrivileges ? this.user.uid : undefined,
      gid: this.user.dropsPrivileges ? this.user.gid : undefined,
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    m.child = child;
    m.rec = child.pid ? recordFor(child.pid, cmd.bin) : undefined;
    child.on('exit', (code, signal) => this.onExit(m, child, code, signal));
    const t0 = performance.now();
    let ready: ProbeResult;
    try {
      if (!m.rec) throw await spawnError;
      writePidFile(this.paths.pidFile(m.name), m.rec);
      ready = await this.waitReady(m, child);
      if (m.driver.afterStart) await m.driver.afterStart(m.ctx);
    } catch (e) {
      await this.kill(m);
      if (e instanceof ServerStartError) throw e;
      throw new ServerStartError(m.name, (e as Error).message, tailFile(logFile), logFile, e);
    }
    m.state = 'running';
    m.version = ready.version || m.ctx.binaries.version;
    m.startedAt = Date.now();
    logger.info(`${m.name} ${m.version} ready on ${m.driver.address(this.config)} (pid ${m.rec.pid}) in ${Math.round(performance.now() - t0)} ms`, {
      service: m.name,
      pid: m.rec.pid,
    });
  }

  private async waitReady(m: Managed, child: ChildProcess): Promise<ProbeResult> {
    const logFile = this.paths.log(m.name);
    const deadline = Date.now() + this.config.supervisor.startTimeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ServerStartError(m.name, `${describeExit(child.exitCode, child.signalCode)} during start-up`, tailFile(logFile), logFile);
      }
      if (this.stopping) throw new ServerStartError(m.name, 'the stack is stopping', '', logFile);
      try {
        return await m.driver.probe(this.config, this.secrets, 1000);
      } catch (e) {
        last = e;
      }
      await sleep(100);
    }
    throw new ServerStartError(
      m.name,
      `not ready after ${this.config.supervisor.startTimeoutMs} ms (last probe: ${(last as Error)?.message ?? 'none'})`,
      tailFile(logFile),
      logFile,
    );
  }

  private onExit(m: Managed, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (m.child !== child || m.state !== 'running' || this.stopping) return; // start-up failures and stops are handled by their callers
    m.lastExit = describeExit(code, signal);
    m.state = 'restarting';
    m.child = undefined;
    this.opts.logger.warn(`${m.name} (pid ${child.pid}) ${m.lastExit}; restarting`, { service: m.name, code, signal });
    this.scheduleRestart(m);
  }

  private scheduleRestart(m: Managed): void {
    if (this.stopping) return;
    if (m.startedAt && Date.now() - m.startedAt > STABLE_AFTER_MS) m.delay = this.config.supervisor.restartDelayMs;
    const delay = m.delay;
    m.delay = Math.min(m.delay * 2, this.config.supervisor.maxRestartDelayMs);
    m.timer = setTimeout(() => void this.restart(m), delay);
  }

  private async restart(m: Managed): Promise<void> {
    m.timer = undefined;
    if (this.stopping) return;
    m.restarts++;
    try {
      await this.launch(m, false);
      this.writeState();
      this.opts.logger.info(`${m.name} restarted (restart #${m.restarts})`, { service: m.name, restarts: m.restarts });
    } catch (e) {
      if (this.stopping) return;
      m.state = 'restarting';
      this.opts.logger.error(`${m.name} restart failed: ${(e as Error).message.split('\n')[0]}; retrying in ${m.delay} ms`, { service: m.name });
      this.scheduleRestart(m);
    }
  }

  private async kill(m: Managed): Promise<void> {
    if (m.rec && isRecordAlive(m.rec)) await m.driver.stop(m.ctx, m.rec, 5000).catch(() => {});
    removeFile(this.paths.pidFile(m.name));
  }

  private async stopOne(m: Managed): Promise<void> {
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    m.state = 'stopping';
    if (m.rec && isRecordAlive(m.rec)) {
      this.opts.logger.info(`stopping ${m.name} (pid ${m.rec.pid})`, { service: m.name });
      await m.driver.stop(m.ctx, m.rec, this.config.supervisor.stopTimeoutMs);
    }
    removeFile(this.paths.pidFile(m.name));
    m.state = 'stopped';
  }

  /** Stop everything in reverse start order. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.health?.close().catch(() => {});
      await this.workers?.stop();
      await this.backups?.stop();
      if (this.logTimer) clearInterval(this.logTimer);
      await this.stopMaintenance();
      for (const m of [...this.managed].reverse()) {
        try {
          await this.stopOne(m);
        } catch (e) {
          this.opts.logger.error(`stopping ${m.name} failed: ${(e as Error).message}`);
        }
      }
      removeFile(this.paths.supervisorState);
      removeFile(this.paths.pidFile(SUPERVISOR));
      this.opts.logger.info('stack stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /**
   * Apply changed secrets and certificates to the running servers without a
   * restart (SIGHUP): re-read secrets, re-render and rewrite the server files with
   * the same tuning, install certificates, then reload each server (PostgreSQL
   * pg_reload_conf, Redis re-reads its TLS files, NATS SIGHUP). Password changes
   * themselves are made live by `credentials rotate` before it signals.
   */
  reload(): Promise<void> {
    this.reloading ??= (async () => {
      const { logger } = this.opts;
      try {
        this.secrets = readSecrets(this.config, this.opts.env);
        const files = renderAll({ config: this.config, tuning: this.plan.tuning, secrets: this.secrets, paths: this.paths });
        this.plan = { ...this.plan, files };
        for (const m of this.managed) {
          m.ctx = { ...m.ctx, secrets: this.secrets, files };
          if (m.state !== 'running' || !m.rec) continue;
          await m.driver.prepare(m.ctx);
          await m.driver.reload(m.ctx, m.rec);
        }
        this.lastReload = { at: new Date().toISOString(), ok: true };
        logger.info('reloaded secrets, certificates and server configuration');
      } catch (e) {
        this.lastReload = { at: new Date().toISOString(), ok: false, error: (e as Error).message };
        logger.error(`reload failed: ${(e as Error).message}`);
      } finally {
        this.writeState();
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /** Synchronous last resort when the owning process exits without stop(): SIGKILL our servers. */
  killNow(): void {
    for (const m of this.managed) {
      if (m.rec && isRecordAlive(m.rec)) {
        try {
          process.kill(m.rec.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  snapshot(): ServiceSnapshot[] {
    return this.managed.map((m) => ({
      name: m.name,
      state: m.state,
      pid: m.state === 'running' ? m.rec?.pid : undefined,
      address: m.driver.address(this.config),
      version: m.version,
      restarts: m.restarts,
      lastExit: m.lastExit,
    }));
  }

  private readonly figuresCache = new Map<ServiceName, { at: number; value: ReturnType<typeof figuresFor> }>();

  /**
   * Key figures for /readyz, shared for two seconds: readiness is polled often (load
   * balancers, restart checks) and each reading costs extra logins on the servers; the
   * probe itself stays live on every call.
   */
  private figures(service: ServiceName): ReturnType<typeof figuresFor> {
    const hit = this.figuresCache.get(service);
    if (hit && Date.now() - hit.at < 2000) return hit.value;
    const value = figuresFor(service, this.config, this.secrets, 1500);
    this.figuresCache.set(service, { at: Date.now(), value });
    return value;
  }

  /** Per-component readiness: a live probe for running servers, the reason otherwise. */
  async readiness(): Promise<ComponentHealth[]> {
    return Promise.all(
      this.managed.map(async (m): Promise<ComponentHealth> => {
        // Monitoring is reported, but serving data does not depend on it.
        const server = (SERVICES as readonly string[]).includes(m.name) ? (m.name as ServiceName) : undefined;
        const required = server !== undefined;
        if (m.state !== 'running') {
          return { name: m.name, status: 'down', required, reason: m.lastExit ? `${m.state} after it ${m.lastExit}` : m.state };
        }
        try {
          const [r, f] = await Promise.all([m.driver.probe(this.config, this.secrets, 1500), server ? this.figures(server) : undefined]);
          const details = f ? (f.figures ? { ...f.figures } : { figuresError: f.error }) : undefined;
          return { name: m.name, status: 'up', required, latencyMs: Math.round(r.latencyMs * 10) / 10, version: r.version || m.version, ...(details ? { details } : {}) };
        } catch (e) {
          return { name: m.name, status: 'down', required, reason: (e as Error).message };
        }
      }),
    );
  }

  private writeState(): void {
    const state: SupervisorState = {
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      stateDir: this.paths.root,
      health: this.health ? { url: this.health.url } : null,
      timescaledb: this.plan.timescaledb,
      lastReload: this.lastReload,
      services: Object.fromEntries(
        this.managed.map((m) => [m.name, { pid: m.rec?.pid ?? 0, address: m.driver.address(this.config), version: m.version ?? '', restarts: m.restarts }]),
      ),
    };
    writeSupervisorState(this.paths, state);
  }
}
