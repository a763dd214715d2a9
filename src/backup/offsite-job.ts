/**
 * The supervisor's off-host copy: every backup.offsite.intervalSec it seals new WAL
 * and rsyncs what changed, so a finished backup and each archived segment are off
 * the host within an interval. A failure is logged once per new message and retried
 * at the next tick; the lag metric (and its alert) says how far behind the copy is.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import { shipBackups } from './offsite.js';

export class OffsiteCopyJob {
  readonly name = 'off-host backup copy';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastError: string | undefined;
  private stopped = false;
  private first = true;

  constructor(
    private readonly config: () => Config,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const o = this.config().backup.offsite;
    if (!o.destination) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        this.running = this.copy().finally(() => {
          this.running = undefined;
          if (!this.stopped) tick();
        });
      }, o.intervalSec * 1000);
    };
    tick();
  }

  private async copy(): Promise<void> {
    try {
      const r = await shipBackups(this.config());
      if (this.lastError !== undefined || this.first) this.logger.info(`off-host copy to ${this.config().backup.offsite.destination} is up to date (${r.walSealed} WAL file(s) sealed, ${r.ms} ms)`);
      this.first = false;
      this.lastError = undefined;
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastError) this.logger.error(`off-host copy failed: ${msg}`);
      this.lastError = msg;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
