/**
 * What each process of the stack uses over a soak run, read from /proc by the pids the
 * stack itself recorded, each with every process it started (PostgreSQL's backends,
 * Patroni's postmaster): CPU (share of one core since the last sample), memory (PSS, so
 * that shared memory mapped by many backends counts once), open files; and the disk used
 * by each data area. A steady climb at a constant load is a leak: `growth` fits a line to
 * the second half of the run and reports what keeps rising.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { isRecordAlive, processTree, readPidFile } from '../lib/process.js';
import { dataAreas, directoryBytes } from '../observe/server-metrics.js';

export interface ResourceSample {
  /** seconds since the start */
  t: number;
  processes: Record<string, { pid?: number; cpuPct: number; memoryBytes: number; openFiles: number }>;
  diskBytes: Record<string, number>;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux everywhere it matters). */
const TICKS = 100;

/** utime + stime, and with `reaped` the children that exited (cutime + cstime): a backend's CPU moves there when it ends. */
function cpuTicks(pid: number, reaped: boolean): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return undefined;
  }
}

/** Proportional set size: private memory plus a fair share of shared memory (RSS where smaps_rollup is missing). */
function memory(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    try {
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      return 0;
    }
  }
}

function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export class ResourceSampler {
  readonly samples: ResourceSample[] = [];
  private last = new Map<string, { pid: number; ticks: number; at: number }>();

  constructor(private readonly config: Config) {}

  /** The stack's processes by instance, from their pid files (the supervisor's too). */
  private processes(): Map<string, number> {
    const paths = statePaths(this.config);
    const found = new Map<string, number>();
    let files: string[] = [];
    try {
      files = readdirSync(paths.run).filter((f) => f.endsWith('.pid'));
    } catch {
      return found;
    }
    for (const f of files) {
      const rec = readPidFile(`${paths.run}/${f}`);
      if (rec && isRecordAlive(rec)) found.set(f.replace(/\.pid$/, ''), rec.pid);
    }
    return found;
  }

  sample(t: number): ResourceSample {
    const now = performance.now();
    const processes: ResourceSample['processes'] = {};
    const stack = this.processes();
    const roots = new Set(stack.values());
    for (const [name, pid] of stack) {
      // The supervisor reaps the servers themselves: their CPU is not its own.
      const root = cpuTicks(pid, name !== 'supervisor');
      if (root === undefined) continue;
      // Each server on its own, not in its parent's (the supervisor's) figures.
      const tree = processTree(pid, roots);
      const ticks = root + tree.slice(1).reduce((a, p) => a + (cpuTicks(p, false) ?? 0), 0);
      const prev = this.last.get(name);
      // A restarted process (new pid) starts its CPU share afresh.
      const cpuPct = prev && prev.pid === pid ? Math.round(((ticks - prev.ticks) / TICKS / ((now - prev.at) / 1000)) * 1000) / 10 : 0;
      this.last.set(name, { pid, ticks, at: now });
      processes[name] = { pid, cpuPct, memoryBytes: tree.reduce((a, p) => a + memory(p), 0), openFiles: tree.reduce((a, p) => a + openFiles(p), 0) };
    }
    const diskBytes = Object.fromEntries(dataAreas(this.config, statePaths(this.config)).map((a) => [a.area, directoryBytes(a.dir)]));
    const s = { t: Math.round(t * 10) / 10, processes, diskBytes };
    this.samples.push(s);
    return s;
  }
}

export interface Growth {
  what: string;
  /** units per minute, fitted over the second half of the run */
  perMinute: number;
  unit: 'bytes' | 'files';
}

/** Least-squares slope of y over t (seconds), per minute. */
function slopePerMinute(points: { t: number; y: number }[]): number {
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den ? (num / den) * 60 : 0;
}

/**
 * Memory, open files or disk that keep growing through the second half of the run
 * (after warm-up), beyond a threshold: 1 MiB of memory or 10 MiB of disk per minute, or one open
 * file per minute. Needs at least six samples in that half; shorter runs report nothing. Disk
 * that grows with the rows written is expected; the report gives the rate to compare.
 */
export function growth(samples: ResourceSample[]): Growth[] {
  const half = samples.slice(Math.floor(samples.length / 2));
  if (half.length < 6) return [];
  const names = new Set(half.flatMap((s) => Object.keys(s.processes)));
  const found: Growth[] = [];
  for (const name of names) {
    // Only the process that runs at the end: a restart (new pid) starts another line, not a leak.
    const last = half.filter((s) => s.processes[name]).at(-1)!.processes[name]!.pid;
    const pts = (k: 'memoryBytes' | 'openFiles') => half.filter((s) => s.processes[name] && s.processes[name].pid === last).map((s) => ({ t: s.t, y: s.processes[name]![k] }));
    if (pts('memoryBytes').length < 6) continue;
    const mem = slopePerMinute(pts('memoryBytes'));
    if (mem > 1024 * 1024) found.push({ what: `${name} memory`, perMinute: Math.round(mem), unit: 'bytes' });
    const fds = slopePerMinute(pts('openFiles'));
    if (fds > 1) found.push({ what: `${name} open files`, perMinute: Math.round(fds * 10) / 10, unit: 'files' });
  }
  for (const area of new Set(half.flatMap((s) => Object.keys(s.diskBytes)))) {
    const disk = slopePerMinute(half.filter((s) => s.diskBytes[area] !== undefined).map((s) => ({ t: s.t, y: s.diskBytes[area]! })));
    if (disk > 10 * 1024 * 1024) found.push({ what: `${area} disk`, perMinute: Math.round(disk), unit: 'bytes' });
  }
  return found;
}
