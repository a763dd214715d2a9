/**
 * Scheduled restore drills: every backup.drillIntervalHours the supervisor verifies
 * the newest backup with a full drill (restored in a scratch folder, PostgreSQL
 * started on it, every table read), from the off-host copy when there is one, since
 * that is what a lost host leaves. The outcome is kept in the backup area
 * (`.drill-state.json`) for the metrics, `backup list` and the alerts.
 */
import { statePaths, type StatePaths } from '../config/paths.js';
import type { Access } from '../connect/access.js';
import type { Logger } from '../lib/logger.js';
import { listBackups, readAreaState, writeAreaState } from './catalog.js';
import { readOffsiteState } from './offsite.js';
import { verifyBackup } from './verify.js';

export interface DrillState {
  lastRunAt: string;
  ok: boolean;
  label: string | null;
  source: 'local' | 'copy';
  lastSuccessAt: string | null;
  problems: string[];
  ms: number;
}

const STATE = '.drill-state.json';
/** Let the first backup be taken and copied before the first drill. */
const FIRST_CHECK_AFTER_MS = 120_000;
const CHECK_EVERY_MS = 60_000;

export function readDrillState(paths: StatePaths): DrillState | null {
  return readAreaState<DrillState>(paths, STATE);
}

/** The newest backup a drill can use: with a copy, the newest one the copy already holds. */
function newestDrillable(access: Access): { label: string; fromCopy: boolean } | undefined {
  const { config } = access;
  const paths = statePaths(config);
  const all = listBackups(paths).filter((b) => b.manifest.postgres);
  if (!config.backup.offsite.destination) return all.length ? { label: all.at(-1)!.manifest.label, fromCopy: false } : undefined;
  const copiedUntil = Date.parse(readOffsiteState(paths)?.lastSuccessAt ?? '1970-01-01T00:00:00Z');
  const copied = all.filter((b) => Date.parse(b.manifest.finishedAt) <= copiedUntil);
  return copied.length ? { label: copied.at(-1)!.manifest.label, fromCopy: true } : undefined;
}

/** One drill now, its outcome recorded; undefined when there is no backup to drill yet. */
export async function runDrill(access: Access, progress: (m: string) => void = () => {}): Promise<DrillState | undefined> {
  const paths = statePaths(access.config);
  const pick = newestDrillable(access);
  if (!pick) return undefined;
  const t0 = performance.now();
  const before = readDrillState(paths);
  let state: DrillState;
  try {
    const r = await verifyBackup(access, pick.label, { drill: true, fromCopy: pick.fromCopy, onProgress: progress });
    const now = new Date().toISOString();
    state = { lastRunAt: now, ok: r.ok, label: pick.label, source: r.source, lastSuccessAt: r.ok ? now : (before?.lastSuccessAt ?? null), problems: r.problems, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    state = { lastRunAt: new Date().toISOString(), ok: false, label: pick.label, source: pick.fromCopy ? 'copy' : 'local', lastSuccessAt: before?.lastSuccessAt ?? null, problems: [(e as Error).message], ms: Math.round(performance.now() - t0) };
  }
  writeAreaState(paths, STATE, state);
  return state;
}

export class DrillSchedule {
  readonly name = 'restore drills';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly access: () => Access,
    private readonly logger: Logger,
    private readonly timing = { firstCheckAfterMs: FIRST_CHECK_AFTER_MS, checkEveryMs: CHECK_EVERY_MS },
  ) {}

  start(): void {
    const c = this.access().config;
    if (!c.backup.drillIntervalHours || !c.postgres.enabled) return;
    const tick = (after: number) => {
      this.timer = setTimeout(() => {
        this.running = this.check().finally(() => {
          this.running = undefined;
          if (!this.stopped) tick(this.timing.checkEveryMs);
        });
      }, after);
    };
    tick(this.timing.firstCheckAfterMs);
  }

  /** Due when the last drill is older than the interval (or there was none). */
  private due(): boolean {
    const last = readDrillState(statePaths(this.access().config))?.lastRunAt;
    return !last || Date.now() - Date.parse(last) >= this.access().config.backup.drillIntervalHours * 3_600_000;
  }

  private async check(): Promise<void> {
    if (this.stopped || !this.due()) return;
    const s = await runDrill(this.access());
    if (!s) return;
    if (s.ok) this.logger.info(`restore drill of ${s.label} (${s.source === 'copy' ? 'the off-host copy' : 'the backup area'}) passed in ${Math.round(s.ms / 1000)} s`);
    else this.logger.error(`restore drill of ${s.label} FAILED: ${s.problems.join('; ')}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
