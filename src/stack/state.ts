/**
 * What a running stack leaves in <stateDir>/run: one pid file per process (with
 * start time, see servers/process.ts) and supervisor.json describing the stack.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../lib/files.js';
import type { StatePaths } from '../config/paths.js';
import { MONITORS, SERVICES } from '../config/schema.js';
import { isRecordAlive, readPidFile, removeFile, terminate, type PidRecord } from '../lib/process.js';

export interface SupervisorState {
  pid: number;
  startedAt: string;
  stateDir: string;
  health: { url: string } | null;
  timescaledb: { installed: boolean; enabled: boolean };
  /** By process instance (postgres, nats-2, prometheus ...). */
  services: Record<string, { pid: number; address: string; version: string; restarts: number }>;
  /** The last configuration reload (SIGHUP): after rotating secrets or certificates. */
  lastReload: { at: string; ok: boolean; error?: string } | null;
}

export const SUPERVISOR = 'supervisor';

export function readSupervisorState(paths: StatePaths): SupervisorState | undefined {
  try {
    return JSON.parse(readFileSync(paths.supervisorState, 'utf8')) as SupervisorState;
  } catch {
    return undefined;
  }
}

export function writeSupervisorState(paths: StatePaths, state: SupervisorState): void {
  writeFileAtomic(paths.supervisorState, JSON.stringify(state, null, 2) + '\n', 0o644);
}

/** The live supervisor of this state dir, if any. */
export function liveSupervisor(paths: StatePaths): PidRecord | undefined {
  const rec = readPidFile(paths.pidFile(SUPERVISOR));
  return rec && isRecordAlive(rec) ? rec : undefined;
}

export interface StaleCleanup {
  removedFiles: string[];
  /** servers that outlived a crashed supervisor and were stopped, by instance */
  stoppedOrphans: { service: string; pid: number }[];
}

/**
 * After a crash (supervisor killed, machine rebooted) pid files remain. Servers that
 * still run without their supervisor are stopped cleanly by their recorded PID, so
 * the next start owns every process again.
 */
/** Reverse start order: monitoring first, then NATS, Redis and PostgreSQL; a cluster's later nodes first. */
function stopOrder(instances: string[]): string[] {
  const order: string[] = [...SERVICES, ...MONITORS];
  const base = (i: string) => i.replace(/-\d+$/, '');
  const rank = (i: string) => (order.includes(base(i)) ? order.indexOf(base(i)) : order.indexOf('redis'));
  return [...instances].sort((a, b) => rank(b) - rank(a) || b.localeCompare(a, 'en', { numeric: true }));
}

export async function cleanStale(
  paths: StatePaths,
  stopOrphan: (instance: string, rec: PidRecord) => Promise<void>,
): Promise<StaleCleanup> {
  const result: StaleCleanup = { removedFiles: [], stoppedOrphans: [] };
  // Every instance that left a pid file: the topology may have changed since.
  const instances = existsSync(paths.run)
    ? readdirSync(paths.run).filter((f) => f.endsWith('.pid') && f !== `${SUPERVISOR}.pid`).map((f) => f.slice(0, -'.pid'.length))
    : [];
  for (const service of stopOrder(instances)) {
    const file = paths.pidFile(service);
    const rec = readPidFile(file);
    if (!rec) continue;
    if (isRecordAlive(rec)) {
      // A clean stop when we can authenticate; a plain SIGTERM (which also saves) when not.
      await stopOrphan(service, rec).catch(() => terminate(rec, 'SIGTERM', 30_000));
      if (isRecordAlive(rec)) await terminate(rec, 'SIGKILL', 5000);
      result.stoppedOrphans.push({ service, pid: rec.pid });
    }
    removeFile(file);
    result.removedFiles.push(file);
  }
  for (const file of [paths.pidFile(SUPERVISOR), paths.supervisorState]) {
    if (!existsSync(file)) continue;
    removeFile(file);
    result.removedFiles.push(file);
  }
  return result;
}
