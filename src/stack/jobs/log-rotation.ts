/** Size-based rotation of <stateDir>/logs, checked every minute. */
import { rotateLogs } from '../../lib/log-rotation.js';
import type { Logger } from '../../lib/logger.js';
import type { Job } from './job.js';

export class LogRotationJob implements Job {
  readonly name = 'log rotation';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly policy: { maxBytes: number; keep: number },
    private readonly logger: Logger,
    private readonly everyMs = 60_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const rotated = rotateLogs(this.dir, this.policy);
      if (rotated.length) this.logger.info(`rotated logs: ${rotated.join(', ')}`);
    }, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
