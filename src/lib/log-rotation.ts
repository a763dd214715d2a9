/**
 * Size-based rotation of the logs in <stateDir>/logs. The servers write to files
 * they opened with O_APPEND and keep open, so rotation copies a log to `.1` and
 * truncates it in place (logrotate's copytruncate): the writers carry on at the new
 * end. Lines written between the copy and the truncate are lost, which is why the
 * check runs often and the copy is quick. Hand-written: no library does
 * copytruncate for file descriptors held by other processes.
 */
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';

export interface RotationPolicy {
  maxBytes: number;
  /** rotated generations kept: name.log.1 (newest) .. name.log.<keep> */
  keep: number;
}

/** Rotate every `*.log` in `dir` that is larger than the policy allows; returns what was rotated. */
export function rotateLogs(dir: string, policy: RotationPolicy): string[] {
  if (!existsSync(dir)) return [];
  const rotated: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const file = path.join(dir, name);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      continue;
    }
    if (size <= policy.maxBytes) continue;
    rmSync(`${file}.${policy.keep}`, { force: true });
    for (let i = policy.keep - 1; i >= 1; i--) {
      if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    }
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    rotated.push(name);
  }
  return rotated;
}
