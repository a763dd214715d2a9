/**
 * The supervisor restarts a server that dies; the watchdog restarts one that lives on but
 * is of no use, which only a restart cures:
 *
 * - stuck: the server answers, but its driver recognises a state that lasts until a restart
 *   (NATS with JetStream turned off after its disk filled up); two checks in a row;
 * - unresponsive: its probe has failed for supervisor.unresponsiveRestartSec while the
 *   process lives (a NATS server wedged by a full disk answered nothing, not even SIGTERM).
 */
import type { Access } from '../../connect/access.js';
import type { Logger } from '../../lib/logger.js';
import type { Managed, ProcessManager } from '../process-manager.js';
import type { Job } from './job.js';

export class WatchdogJob implements Job {
  readonly name = 'watchdog';
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private readonly suspects = new Map<string, string>();
  /** instance -> since when (ms) its probe fails, and its pid then */
  private readonly failing = new Map<string, { since: number; pid: number | undefined }>();

  constructor(
    private readonly access: () => Access,
    private readonly processes: ProcessManager,
    private readonly logger: Logger,
    private readonly opts: { everyMs?: number; unresponsiveMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.checking ??= this.check().finally(() => (this.checking = undefined));
    }, this.opts.everyMs ?? 10_000);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    for (const m of this.processes.all) {
      if (m.state !== 'running') {
        this.suspects.delete(m.instance);
        this.failing.delete(m.instance);
        continue;
      }
      const reason = (await this.unresponsive(m)) ?? (await this.stuck(m));
      if (reason) await this.processes.recycle(m, reason).catch((e: Error) => this.logger.error(`watchdog: ${m.instance}: ${e.message}`));
    }
  }

  private async unresponsive(m: Managed): Promise<string | undefined> {
    if (!m.driver.restartWhenUnresponsive || !this.opts.unresponsiveMs) return undefined;
    try {
      await m.driver.probe(this.access(), 2000, m.instance);
      this.failing.delete(m.instance);
      return undefined;
    } catch (e) {
      const pid = m.rec?.pid;
      const f = this.failing.get(m.instance);
      if (!f || f.pid !== pid) {
        this.failing.set(m.instance, { since: Date.now(), pid });
        return undefined;
      }
      const secs = Math.round((Date.now() - f.since) / 1000);
      if (Date.now() - f.since < this.opts.unresponsiveMs) return undefined;
      this.failing.delete(m.instance);
      return `has not answered its probe for ${secs} s (last: ${(e as Error).message.split('\n')[0]})`;
    }
  }

  private async stuck(m: Managed): Promise<string | undefined> {
    if (!m.driver.stuck) return undefined;
    const reason = await m.driver.stuck(this.access(), m.instance).catch(() => undefined);
    if (!reason) {
      this.suspects.delete(m.instance);
      return undefined;
    }
    if (this.suspects.get(m.instance) === reason) {
      this.suspects.delete(m.instance);
      return reason;
    }
    this.suspects.set(m.instance, reason);
    this.logger.warn(`watchdog: ${m.instance}: ${reason}; restarting it if still so at the next check`, { service: m.instance });
    return undefined;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
  }
}
