/**
 * dataplane.run_maintenance() (partitions ahead, retention, rollups) and the outbox and
 * inbox retention (messaging.prune()) every postgres.maintenanceIntervalSec, as the
 * database owner, while PostgreSQL runs.
 */
import type { Access } from '../../connect/access.js';
import { withPg } from '../../connect/postgres.js';
import type { Logger } from '../../lib/logger.js';
import { pruneMessaging } from '../../outbox/retention.js';
import { runMaintenance } from '../../postgres/timeseries.js';
import type { Job } from './job.js';

export class MaintenanceJob implements Job {
  readonly name = 'maintenance';
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
    const { outboxKeepDays, inboxKeepDays } = access.config.postgres;
    this.running = withPg(access, { user: access.config.postgres.owner }, async (db) => {
      const ran = await runMaintenance(db).catch((e: Error) => {
        // the outbox's retention does not depend on the time-series work: it still runs
        this.logger.error(`time-series maintenance failed: ${e.message}`);
        return false;
      });
      if (ran) this.logger.info(`time-series maintenance done in ${Math.round(performance.now() - t0)} ms`);
      const t1 = performance.now();
      const pruned = await pruneMessaging(db, { outboxKeepDays, inboxKeepDays }).catch((e: Error) => {
        this.logger.error(`messaging retention failed: ${e.message}`);
        return null;
      });
      if (pruned && (pruned.outbox || pruned.inbox)) {
        this.logger.info(`messaging retention: ${pruned.outbox} outbox rows and ${pruned.inbox} inbox entries deleted in ${Math.round(performance.now() - t1)} ms`);
      }
    })
      .catch((e: Error) => this.logger.error(`maintenance could not log in to PostgreSQL: ${e.message}`))
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
