/**
 * The supervisor: runs the preflight, starts the enabled servers in order under the
 * process manager, applies migrations, starts the background jobs, and monitoring
 * last. Every step pushes its undo onto one stack of releasers, which unwinds both a
 * start that fails part-way and a stop, newest first.
 */
import type { Config } from '../config/schema.js';
import { resolveAccess, type Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { BackupScheduler } from '../backup/schedule.js';
import { DrillSchedule } from '../backup/drills.js';
import { OffsiteCopyJob } from '../backup/offsite-job.js';
import { removeFile } from '../lib/process.js';
import { loadMigrations, migrate as migrateDatabase, migrationsDir } from '../postgres/migrations.js';
import { serverChains } from '../servers/index.js';
import { monitorDrivers, wantedMonitors } from '../servers/monitoring.js';
import type { ServerContext, ServerDriver } from '../servers/types.js';
import { tlsFiles } from '../tls/certificates.js';
import { HealthJob } from './jobs/health.js';
import type { Job } from './jobs/job.js';
import { LogRotationJob } from './jobs/log-rotation.js';
import { MaintenanceJob } from './jobs/maintenance.js';
import { WatchdogJob } from './jobs/watchdog.js';
import { WorkersJob } from './jobs/workers.js';
import { renderPlanned, type Plan } from './plan.js';
import { preflight, type Prepared, type SupervisorOptions } from './preflight.js';
import { ProcessManager, type Managed, type ProcessSnapshot } from './process-manager.js';
import { Readiness } from './readiness.js';
import { Releasers } from './releasers.js';
import { writeSupervisorState, type SupervisorState } from './state.js';

export type { SupervisorOptions } from './preflight.js';
export type { ProcessSnapshot as ServiceSnapshot, ProcessState as ServiceState } from './process-manager.js';

/**
 * Wait for every start to settle, then report the first failure: the unwinding must not
 * race a launch still under way.
 */
async function settleAll(starts: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(starts)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export class Supervisor {
  private readonly processes: ProcessManager;
  private readonly releasers: Releasers;
  private readonly startedAt = new Date();
  private health: HealthJob | undefined;
  private stopping: Promise<void> | undefined;
  private lastReload: SupervisorState['lastReload'] = null;
  private reloading: Promise<void> | undefined;
  private resolveStopped!: () => void;
  /** Resolves once the stack has been stopped (by stop() or a signal handler calling it). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  /** The current access: secrets change with rotation (reload). */
  access: Access;
  plan: Plan;

  private constructor(
    private readonly opts: SupervisorOptions,
    private readonly prepared: Prepared,
    releasers: Releasers,
  ) {
    this.releasers = releasers;
    this.access = prepared.access;
    this.plan = prepared.plan;
    this.processes = new ProcessManager({
      paths: prepared.paths,
      supervisor: opts.config.supervisor,
      logger: opts.logger,
      progress: opts.progress,
      onRestarted: () => this.writeState(),
      refreshFiles: async (m) => {
        this.plan = { ...this.plan, files: renderPlanned(this.access, this.plan) };
        m.ctx = { ...m.ctx, files: this.plan.files };
        await m.driver.prepare(m.ctx);
      },
    });
  }

  get config(): Config {
    return this.opts.config;
  }

  get paths(): Prepared['paths'] {
    return this.prepared.paths;
  }

  get secrets(): Access['secrets'] {
    return this.access.secrets;
  }

  get healthUrl(): string | undefined {
    return this.health?.url;
  }

  /** Preflight, then start every enabled server and job. On any failure nothing is left running. */
  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    const releasers = new Releasers(opts.logger);
    let sup: Supervisor | undefined;
    try {
      const prepared = await preflight(opts, releasers);
      sup = new Supervisor(opts, prepared, releasers);
      await sup.startAll();
      return sup;
    } catch (e) {
      sup?.processes.shutdown();
      await releasers.unwind();
      throw e;
    }
  }

  private async startAll(): Promise<void> {
    const { config, logger } = this.opts;
    const { paths } = this.prepared;
    this.releasers.push('state file', () => removeFile(paths.supervisorState));

    // Chains side by side (warm starts wait for the slowest server, not for their sum); in a chain, ha: etcd
    // before the PostgreSQL members, HAProxy after; sentinels after their Redis nodes. Exporters and Alertmanager alongside.
    const monitors = wantedMonitors(config);
    await settleAll([
      ...serverChains(config).map(async (chain) => {
        for (const driver of chain) await this.startServer(driver);
      }),
      ...monitors.filter((n) => n !== 'prometheus').map((n) => this.startServer(monitorDrivers[n])),
    ]);

    if (config.postgres.enabled && config.postgres.migrateOnUp) await this.migrate();
    const pgUp = () => this.processes.find('postgres')?.state === 'running';
    const readiness = new Readiness(config, this.processes, () => this.access);
    this.releasers.push('probe logins', () => readiness.close());
    readiness.warm();
    const jobs: Job[] = [
      ...(config.postgres.enabled ? [new MaintenanceJob(() => this.access, pgUp, logger)] : []),
      new LogRotationJob(paths.logs, { maxBytes: config.supervisor.logMaxSize, keep: config.supervisor.logKeep }, logger),
      // WAL is archived continuously by PostgreSQL itself; base backups on a schedule.
      new BackupScheduler(() => this.access, logger),
      new OffsiteCopyJob(() => this.config, logger),
      new DrillSchedule(() => this.access, logger),
      new WorkersJob(this.access, this.prepared.declarations, logger),
      new WatchdogJob(() => this.access, this.processes, logger, { unresponsiveMs: config.supervisor.unresponsiveRestartSec * 1000 }),
      (this.health = new HealthJob({
        config,
        paths,
        access: () => this.access,
        readiness: () => readiness.check(),
        services: () =>
          this.processes.all.map((m) => ({ name: m.instance, up: m.state === 'running', restarts: m.restarts, cluster: m.driver.instances(config).length > 1 ? m.driver.name : '' })),
      })),
    ];
    for (const job of jobs) await this.startJob(job);

    if (monitors.includes('prometheus')) await this.startServer(monitorDrivers.prometheus); // last: it scrapes all the above
    this.writeState();
    logger.info('stack ready', { services: this.snapshot().map((s) => `${s.name}:${s.pid}`) });
  }

  private async startJob(job: Job): Promise<void> {
    // Pushed first: a job that fails half-way releases what it started.
    this.releasers.push(job.name, () => job.stop());
    await job.start();
  }

  private contextFor(driver: ServerDriver, instance: string): ServerContext {
    const { config } = this.opts;
    return {
      ...this.access,
      instance,
      paths: this.paths,
      tuning: this.plan.tuning,
      files: this.plan.files,
      user: this.prepared.user,
      binaries: this.prepared.binaries[driver.name]!,
      tls: config.tls.enabled ? tlsFiles(config) : undefined,
      timescaledb: this.plan.timescaledb.enabled,
      fastInit: this.opts.fastInit ?? false,
      progress: this.opts.progress ?? (() => {}),
    };
  }

  /**
   * Every instance of a server, launched together: a cluster's nodes are ready only
   * once a majority of them runs. Each is stopped on its own (newest first), so a
   * cluster keeps its quorum for as long as it can while going down.
   */
  private async startServer(driver: ServerDriver): Promise<void> {
    const alone = driver.startFirstAlone?.(this.config, this.paths) ?? false;
    const started = driver.instances(this.config).map((instance) => this.processes.add(driver, this.contextFor(driver, instance), instance));
    if (driver.stopOrder && started.length > 1) {
      // One releaser for all: the driver decides the order when the time comes (a primary last).
      this.releasers.push(`${driver.name} members`, async () => {
        const order = await driver.stopOrder!(this.access, started.map((m) => m.instance));
        for (const instance of order) await this.processes.stop(started.find((m) => m.instance === instance)!);
      });
    } else for (const m of started) this.releasers.push(m.instance, () => this.processes.stop(m));
    // All settled before a failure is reported: the unwinding must not race a launch still under way.
    const launchAll = (ms: Managed[]) => Promise.allSettled(ms.map((m) => this.processes.launch(m)));
    const results = alone ? [...(await launchAll(started.slice(0, 1)))] : await launchAll(started);
    if (alone && results[0]!.status === 'fulfilled') results.push(...(await launchAll(started.slice(1))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Apply pending migrations as the owner role; a failure fails the start. */
  private async migrate(): Promise<void> {
    const { logger } = this.opts;
    const dir = migrationsDir(this.config);
    const migrations = loadMigrations(dir);
    const result = await withPg(this.access, { user: this.config.postgres.owner }, (db) => migrateDatabase(db, migrations, { onProgress: (m) => this.opts.progress?.(m) }));
    if (result.applied.length) {
      logger.info(`applied ${result.applied.length} migration(s): ${result.applied.map((a) => `${a.file} (${a.ms} ms)`).join(', ')}`);
      // Migrations create many relation files at once. Without a checkpoint, a crash soon
      // after makes recovery replay them and fsync every file before the server answers
      // (over a thousand after the first `up`: seconds on a busy disk).
      const t0 = performance.now();
      await withPg(this.access, { user: this.config.postgres.superuser, timeoutMs: 10_000 }, (db) => db.query('checkpoint'));
      logger.info(`checkpoint after the migrations in ${Math.round(performance.now() - t0)} ms`);
    } else logger.info(`schema up to date (${result.upToDate} migrations from ${dir})`);
  }

  /** Stop everything, newest first, through the same releasers a failed start uses. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.processes.shutdown();
      const first = await this.releasers.unwind();
      if (first) this.opts.logger.error(`the stack stopped with errors; the first: ${first.message}`);
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
        this.access = { ...this.access, secrets: resolveAccess({ config: this.config, environment: this.opts.environment }).secrets };
        const files = renderPlanned(this.access, this.plan);
        this.plan = { ...this.plan, files };
        for (const m of this.processes.all) {
          m.ctx = { ...m.ctx, ...this.access, files };
          if (m.state !== 'running' || !m.rec) continue;
          await m.driver.prepare(m.ctx);
          await m.driver.reload(m.ctx, m.rec);
        }
        this.health?.reload();
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
    this.processes.killNow();
  }

  snapshot(): ProcessSnapshot[] {
    return this.processes.snapshot();
  }

  private writeState(): void {
    const state: SupervisorState = {
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      stateDir: this.paths.root,
      health: this.health?.url ? { url: this.health.url } : null,
      timescaledb: this.plan.timescaledb,
      lastReload: this.lastReload,
      services: Object.fromEntries(
        this.processes.all.map((m) => [m.instance, { pid: m.rec?.pid ?? 0, address: m.driver.address(this.config, m.instance), version: m.version ?? '', restarts: m.restarts }]),
      ),
    };
    writeSupervisorState(this.paths, state);
  }
}
