/**
 * Starting, identifying and stopping server processes by the PID we started.
 *
 * A PID alone can be reused by the kernel after a crash, so pid files also record
 * the process start time from /proc: a stale file never makes us signal a stranger.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PidRecord {
  pid: number;
  /** clock ticks since boot, field 22 of /proc/<pid>/stat; 0 where /proc is unavailable */
  startTime: number;
  command: string;
}

export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // `rest` starts at field 3, so field 22 is at index 19. A zombie has exited already.
    if (rest[0] === 'Z') return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(0) succeeds on zombies; /proc tells them apart where available.
  return existsSync('/proc/self/stat') ? processStartTime(pid) !== undefined : true;
}

/** True when the process recorded in `rec` is still the same running process. */
export function isRecordAlive(rec: PidRecord): boolean {
  if (!isAlive(rec.pid)) return false;
  if (!rec.startTime) return true;
  return processStartTime(rec.pid) === rec.startTime;
}

export function recordFor(pid: number, command: string): PidRecord {
  return { pid, startTime: processStartTime(pid) ?? 0, command };
}

export function writePidFile(file: string, rec: PidRecord, exclusive = false): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(rec) + '\n', { mode: 0o644, flag: exclusive ? 'wx' : 'w' });
}

export function readPidFile(file: string): PidRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    return Number.isInteger(rec.pid) && rec.pid > 0 ? rec : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A process and all its descendants (read from /proc), parents first: freezing a server
 * whole means its workers too (PostgreSQL's backends, Patroni's postmaster). `prune`:
 * processes left out with their descendants (the supervisor's servers, counted on their own).
 */
export function processTree(root: number, prune: ReadonlySet<number> = new Set()): number[] {
  const parentOf = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // The parent pid is the 4th field, after "(comm)" which may hold spaces.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of parentOf) if (parent === tree[i] && !prune.has(pid)) tree.push(pid);
  return tree;
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

export async function waitForExit(rec: PidRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRecordAlive(rec)) return true;
    await sleep(50);
  }
  return !isRecordAlive(rec);
}

/** Send `signal`, wait up to `timeoutMs`, then SIGKILL. Returns how it ended. */
export async function terminate(rec: PidRecord, signal: NodeJS.Signals, timeoutMs: number): Promise<'exited' | 'killed' | 'gone'> {
  if (!isRecordAlive(rec)) return 'gone';
  try {
    process.kill(rec.pid, signal);
  } catch {
    return 'gone';
  }
  if (await waitForExit(rec, timeoutMs)) return 'exited';
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    /* exited meanwhile */
  }
  await waitForExit(rec, 5000);
  return 'killed';
}

/**
 * Where binaries are looked for and the PATH servers run with: the system folders
 * Debian installs into. Not the caller's PATH, so what `up` finds and runs does not
 * depend on the shell it was started from.
 */
export const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export interface SpawnOptions {
  bin: string;
  args: string[];
  cwd: string;
  logFile: string;
  uid?: number | undefined;
  gid?: number | undefined;
  env?: Record<string, string>;
}

/**
 * Environment for servers: never the caller's, which may hold DATAPLANE_SECRET_*
 * variables or other credentials.
 */
export function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: SEARCH_PATH.join(':'),
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    ...extra,
  };
}

/**
 * Start a server in the foreground of its own process group (so a terminal's
 * Ctrl-C reaches only the supervisor, which stops servers in order), with stdout
 * and stderr appended to its log file.
 */
export function spawnServer(opts: SpawnOptions): ChildProcess {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a', 0o640);
  try {
    return spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? serverEnv(),
      stdio: ['ignore', fd, fd],
      detached: true,
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
}

/** Run a command to completion (initdb, package checks), capturing output. */
export function run(
  bin: string,
  args: string[],
  opts: { cwd?: string; uid?: number | undefined; gid?: number | undefined; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env ?? serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Last lines of a log file, reading at most its final 256kB (logs grow without bound). */
export function tailFile(file: string, lines = 15): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const text = buf.toString('utf8').trimEnd();
    return lines <= 0 ? '' : text.split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
