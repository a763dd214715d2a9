/**
 * dataplane.run_maintenance() (partitions ahead, retention, rollups) now and then
 * every postgres.maintenanceIntervalSec, as the database owner, while PostgreSQL runs.
 */
import type { Access } from '../../connect/access.js';
import { withPg } from '../../connect/postgres.js';
import type { Logger } from '../../lib/logger.js';
import { runMaintenance } from '../../postgres/timeseries.js';
import type { Job } from './job.js';

export class MaintenanceJob implements Job {
  readonly name = 'time-series maintenance';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly access: () => Access,
    /** Whether PostgreSQL is up right now: no attempt while it restarts. */
    private readonly postgresUp: () => boolean,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const every = this.access().config.postgres.maintenanceIntervalSec;
    if (!every) return;
    this.runOnce();
    this.timer = setInterval(() => this.runOnce(), every * 1000);
  }

  private runOnce(): void {
    if (this.running || !this.postgresUp()) return;
    const access = this.access();
    const t0 = performance.now();
    this.running = withPg(access, { user: access.config.postgres.owner }, runMaintenance)
      .then((ran) => {
        if (ran) this.logger.info(`time-series maintenance done in ${Math.round(performance.now() - t0)} ms`);
      })
      .catch((e: Error) => this.logger.error(`time-series maintenance failed: ${e.message}`))
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
