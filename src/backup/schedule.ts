/**
 * Scheduled backups, run by the supervisor: a full backup every backup.intervalHours
 * (the first one soon after start when none is recent), then retention. A failure
 * is logged and retried at the next check; the backup-age alert pages if it persists.
 */
import { statePaths } from '../config/paths.js';
import type { Access } from '../connect/access.js';
import type { Logger } from '../lib/logger.js';
import { listBackups, prune } from './catalog.js';
import { createBackup } from './index.js';

/** How often the scheduler looks whether a backup is due. */
const CHECK_EVERY_MS = 60_000;
/** Let the stack settle (migrations, first connections) before a first backup. */
const FIRST_CHECK_AFTER_MS = 30_000;

export class BackupScheduler {
  readonly name = 'backup schedule';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();

  /** `access`: the current one (secrets change with rotation). */
  constructor(
    private readonly access: () => Access,
    private readonly logger: Logger,
    private readonly timing = { firstCheckAfterMs: FIRST_CHECK_AFTER_MS, checkEveryMs: CHECK_EVERY_MS },
  ) {}

  start(): void {
    if (!this.access().config.backup.intervalHours || !this.access().config.postgres.enabled) return;
    const tick = () => {
      this.check();
      this.timer = setTimeout(tick, this.timing.checkEveryMs);
    };
    this.timer = setTimeout(tick, this.timing.firstCheckAfterMs);
  }

  /** Due when the newest backup is older than the interval (or there is none). */
  due(now = Date.now()): boolean {
    const newest = listBackups(statePaths(this.access().config)).at(-1)?.manifest.finishedAt;
    return !newest || now - Date.parse(newest) >= this.access().config.backup.intervalHours * 3_600_000;
  }

  private check(): void {
    if (this.running || this.abort.signal.aborted || !this.due()) return;
    const t0 = performance.now();
    this.running = createBackup(this.access(), { signal: this.abort.signal })
      .then(({ manifest }) => {
        this.logger.info(`scheduled backup ${manifest.label} done in ${Math.round((performance.now() - t0) / 1000)} s`);
        const r = prune(statePaths(this.access().config), this.access().config.backup.keep);
        if (r.removedBackups.length || r.removedWal.length) {
          this.logger.info(`retention: removed ${r.removedBackups.length} backup(s) and ${r.removedWal.length} WAL file(s), kept ${r.kept.length}`);
        }
      })
      .catch((e: Error) => {
        if (!this.abort.signal.aborted) this.logger.error(`scheduled backup failed: ${e.message}`);
      })
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }
}
