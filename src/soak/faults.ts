/**
 * The fault schedule of a soak run: at given moments, SIGKILL a server (the supervisor
 * restarts it) or freeze it with SIGSTOP for a while and SIGCONT it. Targets are process
 * instances of the stack (postgres, redis, nats-2 ...), found by their pid files: only
 * processes the stack started are signalled. Each fault is marked with when the target
 * answered its probe again.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import { InvalidArgumentError } from '../errors/index.js';
import { isRecordAlive, readPidFile } from '../lib/process.js';
import { driverOf } from '../servers/index.js';
import type { FaultMark, Series } from './series.js';

export const faultSchema = z.strictObject({
  atSec: z.number().min(0).describe('seconds after the start'),
  kind: z.enum(['kill', 'pause']).describe('kill: SIGKILL (the supervisor restarts it); pause: SIGSTOP for pauseSec, then SIGCONT'),
  target: z.string().regex(/^[a-z]+(-[a-z]+)?(-\d+)?$/, 'expected a process instance such as postgres, redis or nats-2'),
  pauseSec: z.number().min(0.1).max(600).default(5),
});
export type Fault = z.output<typeof faultSchema>;

/** SIGKILL and SIGSTOP of each enabled server in turn, spread over the run. */
export function defaultSchedule(config: Config, durationSec: number): Fault[] {
  const servers = (['postgres', 'redis', 'nats'] as const).filter((s) => config[s].enabled);
  const faults: Omit<Fault, 'atSec'>[] = [
    ...servers.map((target) => ({ kind: 'kill' as const, target, pauseSec: 5 })),
    ...servers.map((target) => ({ kind: 'pause' as const, target, pauseSec: 5 })),
  ];
  // Evenly between 15% and 85% of the run: a calm start to compare with, and time to recover at the end.
  return faults.map((f, i) => ({ ...f, atSec: Math.round(durationSec * (0.15 + (0.7 * i) / Math.max(1, faults.length - 1 || 1))) }));
}

/** A schedule file: a JSON array of faults. Problems are listed with their index. */
export function loadSchedule(file: string): Fault[] {
  const parsed = z.array(faultSchema).safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new InvalidArgumentError(`fault schedule ${file}: ${parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Sleep, cut short when the run ends (no listener left behind: this runs every 200 ms). */
const sleep = (ms: number, signal?: AbortSignal) => wait(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

/** Wait until the target answers its probe again (or the run ends). */
async function recovered(access: Access, target: string, series: Series, signal: AbortSignal): Promise<number | null> {
  const driver = driverOf(target);
  while (!signal.aborted) {
    try {
      await driver!.probe(access, 1000, target);
      return Math.round(series.now() * 10) / 10;
    } catch {
      await sleep(200, signal);
    }
  }
  return null;
}

/** Run the schedule against the stack; resolves with every fault's mark when all are done or the run is over. */
export async function runFaults(access: Access, schedule: Fault[], series: Series, signal: AbortSignal, onFault?: (m: FaultMark) => void): Promise<FaultMark[]> {
  const paths = statePaths(access.config);
  const marks: FaultMark[] = [];
  for (const f of [...schedule].sort((a, b) => a.atSec - b.atSec)) {
    await sleep(Math.max(0, f.atSec - series.now()) * 1000, signal);
    if (signal.aborted) break;
    const rec = readPidFile(paths.pidFile(f.target));
    if (!rec || !isRecordAlive(rec) || !driverOf(f.target)) throw new InvalidArgumentError(`fault target ${f.target} is not a running process of this stack`);
    const mark: FaultMark = { kind: f.kind, target: f.target, at: Math.round(series.now() * 10) / 10, recoveredAt: null };
    if (f.kind === 'kill') {
      process.kill(rec.pid, 'SIGKILL');
    } else {
      process.kill(rec.pid, 'SIGSTOP');
      await sleep(f.pauseSec * 1000);
      process.kill(rec.pid, 'SIGCONT');
    }
    mark.recoveredAt = await recovered(access, f.target, series, signal);
    marks.push(mark);
    onFault?.(mark);
  }
  return marks;
}
