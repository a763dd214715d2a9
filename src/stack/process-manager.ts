/**
 * Launching, watching and stopping server processes: spawn by the binary's path in
 * its own process group, wait for a real protocol probe raced against an early
 * exit, restart a process that dies with exponential backoff, stop it cleanly by the
 * PID we started. Each process is an instance of a driver with its own name (pid
 * file, log file), so one service may run as several instances (a cluster's nodes).
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { ServerStartError } from '../errors/index.js';
import type { Logger } from '../lib/logger.js';
import { isRecordAlive, recordFor, removeFile, serverEnv, spawnServer, tailFile, writePidFile, type PidRecord } from '../lib/process.js';
import type { ProbeResult, ServerContext, ServerDriver } from '../servers/types.js';

export type ProcessState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

export interface ProcessSnapshot {
  /** The instance's name: the service for a single process (postgres), or e.g. nats-2 in a cluster. */
  name: string;
  state: ProcessState;
  pid: number | undefined;
  address: string;
  version: string | undefined;
  restarts: number;
  lastExit: string | undefined;
}

export interface Managed {
  readonly instance: string;
  readonly driver: ServerDriver;
  ctx: ServerContext;
  state: ProcessState;
  child: ChildProcess | undefined;
  rec: PidRecord | undefined;
  version: string | undefined;
  restarts: number;
  lastExit: string | undefined;
  startedAt: number;
  delay: number;
  timer: NodeJS.Timeout | undefined;
}

export interface ProcessManagerOptions {
  paths: StatePaths;
  supervisor: Config['supervisor'];
  logger: Logger;
  progress?: ((msg: string) => void) | undefined;
  /** Called after a process came back by itself (the state file lists pids). */
  onRestarted?: () => void;
  /** Before a restart of a driver with freshFilesOnRestart: render and write its files again. */
  refreshFiles?: (m: Managed) => Promise<void>;
}

/** A process that stayed up this long is considered healthy again: backoff resets. */
const STABLE_AFTER_MS = 30_000;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

export class ProcessManager {
  private readonly managed: Managed[] = [];
  private stopping = false;

  constructor(private readonly opts: ProcessManagerOptions) {}

  /** Processes in the order they were added (start order). */
  get all(): readonly Managed[] {
    return this.managed;
  }

  find(instance: string): Managed | undefined {
    return this.managed.find((m) => m.instance === instance);
  }

  add(driver: ServerDriver, ctx: ServerContext, instance: string = driver.name): Managed {
    if (this.find(instance)) throw new ServerStartError(instance, 'an instance of that name runs already', '', this.opts.paths.log(instance));
    const m: Managed = {
      instance,
      driver,
      ctx,
      state: 'starting',
      child: undefined,
      rec: undefined,
      version: undefined,
      restarts: 0,
      lastExit: undefined,
      startedAt: 0,
      delay: this.opts.supervisor.restartDelayMs,
      timer: undefined,
    };
    this.managed.push(m);
    return m;
  }

  private logFile(m: Managed): string {
    return this.opts.paths.log(m.instance);
  }

  /** Spawn, wait for readiness, run post-start work. Throws ServerStartError; the process is gone then. */
  async launch(m: Managed, first = true): Promise<void> {
    const { logger } = this.opts;
    m.state = 'starting';
    if (first) {
      this.opts.progress?.(`starting ${m.instance}`);
      await m.driver.prepare(m.ctx);
    } else if (m.driver.freshFilesOnRestart && this.opts.refreshFiles) {
      await this.opts.refreshFiles(m);
    }
    const cmd = m.driver.command(m.ctx);
    const logFile = this.logFile(m);
    const user = m.ctx.user;
    const child = spawnServer({
      bin: cmd.bin,
      args: cmd.args,
      cwd: cmd.cwd,
      ...(cmd.env ? { env: serverEnv(cmd.env) } : {}),
      logFile,
      uid: user.dropsPrivileges ? user.uid : undefined,
      gid: user.dropsPrivileges ? user.gid : undefined,
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    m.child = child;
    m.rec = child.pid ? recordFor(child.pid, cmd.bin) : undefined;
    child.on('exit', (code, signal) => this.onExit(m, child, code, signal));
    const t0 = performance.now();
    let ready: ProbeResult;
    try {
      if (!m.rec) throw await spawnError;
      writePidFile(this.opts.paths.pidFile(m.instance), m.rec);
      ready = await this.waitReady(m, child);
      if (m.driver.afterStart) await m.driver.afterStart(m.ctx);
    } catch (e) {
      await this.kill(m);
      if (e instanceof ServerStartError) throw e;
      throw new ServerStartError(m.instance, (e as Error).message, tailFile(logFile), logFile, e);
    }
    m.state = 'running';
    m.version = ready.version || m.ctx.binaries.version;
    m.startedAt = Date.now();
    logger.info(`${m.instance} ${m.version} ready on ${m.driver.address(m.ctx.config, m.instance)} (pid ${m.rec.pid}) in ${Math.round(performance.now() - t0)} ms`, {
      service: m.instance,
      pid: m.rec.pid,
    });
  }

  private async waitReady(m: Managed, child: ChildProcess): Promise<ProbeResult> {
    const logFile = this.logFile(m);
    const { startTimeoutMs } = this.opts.supervisor;
    const deadline = Date.now() + startTimeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ServerStartError(m.instance, `${describeExit(child.exitCode, child.signalCode)} during start-up`, tailFile(logFile), logFile);
      }
      if (this.stopping) throw new ServerStartError(m.instance, 'the stack is stopping', '', logFile);
      try {
        return await m.driver.probe(m.ctx, 1000, m.instance);
      } catch (e) {
        last = e;
      }
      await sleep(100);
    }
    throw new ServerStartError(m.instance, `not ready after ${startTimeoutMs} ms (last probe: ${(last as Error)?.message ?? 'none'})`, tailFile(logFile), logFile);
  }

  private onExit(m: Managed, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    // Start-up failures and stops are handled by their callers.
    if (m.child !== child || m.state !== 'running' || this.stopping) return;
    m.lastExit = describeExit(code, signal);
    m.state = 'restarting';
    m.child = undefined;
    this.opts.logger.warn(`${m.instance} (pid ${child.pid}) ${m.lastExit}; restarting`, { service: m.instance, code, signal });
    this.scheduleRestart(m);
  }

  private scheduleRestart(m: Managed): void {
    if (this.stopping) return;
    const { restartDelayMs, maxRestartDelayMs } = this.opts.supervisor;
    if (m.startedAt && Date.now() - m.startedAt > STABLE_AFTER_MS) m.delay = restartDelayMs;
    const delay = Math.max(m.delay, m.driver.minRestartDelayMs?.(m.ctx.config) ?? 0);
    m.delay = Math.min(m.delay * 2, maxRestartDelayMs);
    m.timer = setTimeout(() => void this.restart(m), delay);
  }

  private async restart(m: Managed): Promise<void> {
    m.timer = undefined;
    if (this.stopping) return;
    m.restarts++;
    try {
      await this.launch(m, false);
      this.opts.onRestarted?.();
      this.opts.logger.info(`${m.instance} restarted (restart #${m.restarts})`, { service: m.instance, restarts: m.restarts });
    } catch (e) {
      if (this.stopping) return;
      m.state = 'restarting';
      this.opts.logger.error(`${m.instance} restart failed: ${(e as Error).message.split('\n')[0]}; retrying in ${m.delay} ms`, { service: m.instance });
      this.scheduleRestart(m);
    }
  }

  /**
   * A running process that answers but is stuck (the watchdog found it so): stop it cleanly
   * and let the usual restart, with its backoff, bring it back.
   */
  async recycle(m: Managed, reason: string): Promise<void> {
    if (m.state !== 'running' || this.stopping) return;
    // Not "running" while it stops: its exit is ours, not a crash to react to.
    m.state = 'restarting';
    m.lastExit = reason;
    this.opts.logger.warn(`${m.instance} ${reason}; restarting it`, { service: m.instance });
    if (m.rec && isRecordAlive(m.rec)) {
      await m.driver.stop(m.ctx, m.rec, this.opts.supervisor.stopTimeoutMs, m.instance).catch((e: Error) => this.opts.logger.warn(`stopping ${m.instance}: ${e.message}`));
    }
    m.child = undefined;
    this.scheduleRestart(m);
  }

  /** After a failed start: stop quickly whatever is left, without waiting a clean shutdown's full timeout. */
  private async kill(m: Managed): Promise<void> {
    if (m.rec && isRecordAlive(m.rec)) {
      await m.driver.stop(m.ctx, m.rec, 5000, m.instance).catch((e: Error) => this.opts.logger.warn(`stopping ${m.instance} after its failed start: ${e.message}`));
    }
    removeFile(this.opts.paths.pidFile(m.instance));
  }

  /** No more restarts: the stack is going down. */
  shutdown(): void {
    this.stopping = true;
    for (const m of this.managed) {
      if (m.timer) clearTimeout(m.timer);
      m.timer = undefined;
    }
  }

  /** Stop one process cleanly (the driver's way: fast shutdown, SHUTDOWN SAVE, SIGTERM). */
  async stop(m: Managed): Promise<void> {
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    m.state = 'stopping';
    if (m.rec && isRecordAlive(m.rec)) {
      this.opts.logger.info(`stopping ${m.instance} (pid ${m.rec.pid})`, { service: m.instance });
      await m.driver.stop(m.ctx, m.rec, this.opts.supervisor.stopTimeoutMs, m.instance);
    }
    removeFile(this.opts.paths.pidFile(m.instance));
    m.state = 'stopped';
  }

  /** Synchronous last resort when the owning process exits without a stop: SIGKILL every process. */
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

  snapshot(): ProcessSnapshot[] {
    return this.managed.map((m) => ({
      name: m.instance,
      state: m.state,
      pid: m.state === 'running' ? m.rec?.pid : undefined,
      address: m.driver.address(m.ctx.config, m.instance),
      version: m.version,
      restarts: m.restarts,
      lastExit: m.lastExit,
    }));
  }
}
