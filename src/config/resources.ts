/**
 * What the machine offers: CPUs, memory and free disk. Container limits (cgroup v2)
 * win over the host's totals, because a server tuned for the host would be killed
 * by the OOM killer inside a smaller container.
 */
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from './schema.js';

export interface Machine {
  cpus: number;
  memory: number;
  /** Free bytes on the filesystem that holds the state directory. */
  disk: number;
}

export interface Resources extends Machine {
  /** Which values were measured rather than set in the config. */
  detected: { cpus: boolean; memory: boolean; disk: boolean };
}

function readCgroup(file: string): string | undefined {
  try {
    return readFileSync(path.join('/sys/fs/cgroup', file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function cgroupCpus(): number | undefined {
  const max = readCgroup('cpu.max');
  if (!max) return undefined;
  const [quota, period] = max.split(/\s+/);
  if (!quota || quota === 'max' || !period) return undefined;
  return Math.max(1, Math.ceil(Number(quota) / Number(period)));
}

function cgroupMemory(): number | undefined {
  const max = readCgroup('memory.max');
  return max && /^\d+$/.test(max) ? Number(max) : undefined;
}

/** Free space for the nearest existing ancestor of `dir` (the state dir may not exist yet). */
export function freeDisk(dir: string): number {
  let cur = path.resolve(dir);
  for (;;) {
    try {
      const s = statfsSync(cur);
      return s.bavail * s.bsize;
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return 0;
      cur = parent;
    }
  }
}

export function detectMachine(stateDir: string): Machine {
  const cpus = Math.min(os.availableParallelism(), cgroupCpus() ?? Infinity);
  const memory = Math.min(os.totalmem(), cgroupMemory() ?? Infinity);
  return { cpus, memory, disk: freeDisk(stateDir) };
}

/** Config values replace measurements where they are not "auto". */
export function resolveResources(config: Config, machine: Machine = detectMachine(config.stateDir)): Resources {
  const r = config.resources;
  return {
    cpus: r.cpus === 'auto' ? machine.cpus : r.cpus,
    memory: r.memory === 'auto' ? machine.memory : r.memory,
    disk: r.disk === 'auto' ? machine.disk : r.disk,
    detected: { cpus: r.cpus === 'auto', memory: r.memory === 'auto', disk: r.disk === 'auto' },
  };
}
