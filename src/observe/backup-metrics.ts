/**
 * The backups' health beyond their age: how far behind the off-host copy is, and
 * whether the last restore drill passed and when one last did (backup/drills.ts).
 */
import { Gauge, type Registry } from 'prom-client';
import type { StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { readDrillState } from '../backup/drills.js';
import { offsiteLagSeconds, readOffsiteState } from '../backup/offsite.js';

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : 0);

export function registerBackupMetrics(registry: Registry, config: Config, paths: StatePaths): void {
  const g = (name: string, help: string, collect: (this: Gauge) => void) => new Gauge({ name, help, registers: [registry], collect });
  if (config.backup.offsite.destination) {
    g('dataplane_backup_offsite_lag_seconds', 'Age of the oldest backup or archived WAL segment not yet in the off-host copy; 0 when the copy is complete', function () {
      this.set(offsiteLagSeconds(paths));
    });
    g('dataplane_backup_offsite_last_success_timestamp_seconds', 'When the last successful off-host copy started (Unix time); 0 before the first', function () {
      this.set(seconds(readOffsiteState(paths)?.lastSuccessAt));
    });
  }
  g('dataplane_backup_drill_interval_seconds', 'How often the supervisor runs a restore drill (backup.drillIntervalHours); 0: not scheduled', function () {
    this.set(config.backup.drillIntervalHours * 3600);
  });
  g('dataplane_backup_drill_last_success_timestamp_seconds', 'When the last restore drill that passed finished (Unix time); 0 before the first', function () {
    this.set(seconds(readDrillState(paths)?.lastSuccessAt));
  });
  g('dataplane_backup_drill_last_result', '1 when the last restore drill passed, 0 when it failed; absent before the first', function () {
    const s = readDrillState(paths);
    this.reset();
    if (s) this.set(s.ok ? 1 : 0);
  });
}
