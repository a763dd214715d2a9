/**
 * The fault schedule of a soak run, what a user meets in production:
 *
 * - kill: SIGKILL of a server and everything it started (the supervisor restarts it);
 * - pause: SIGSTOP of the same for a while, then SIGCONT (a hung host, a long GC pause);
 * - restart-supervisor: the supervisor itself crashes (SIGKILL) and is started again;
 * - fill-disk: the state folder's filesystem fills up for a while, then is freed.
 *
 * Targets are process instances of the stack (postgres, redis, nats-2 ...), found by their
 * pid files: only processes the stack started are signalled. In the ha topology a target
 * may also be a role, resolved when the fault starts: postgres-primary, redis-primary,
 * nats-leader (the leader of the EVENTS stream). Each fault is marked with when the
 * target answered its probe again.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as wait } from 'node:timers/promises';
import { z } from 'zod';
import { statePaths } from '../config/paths.js';
import { natsNodes } from '../config/topology.js';
import type { Config } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import { InvalidArgumentError } from '../errors/index.js';
import { isRecordAlive, processTree, readPidFile } from '../lib/process.js';
import { driverOf, figuresOf } from '../servers/index.js';
import type { HaproxyFigures, NatsFigures, SentinelFigures } from '../servers/types.js';
import { fillDisk } from './disk-fill.js';
import type { FaultMark, Series } from './series.js';

export const ROLE_TARGETS = ['postgres-primary', 'redis-primary', 'nats-leader'] as const;

export const faultSchema = z
  .strictObject({
    atSec: z.number().min(0).describe('seconds after the start'),
    kind: z.enum(['kill', 'pause', 'restart-supervisor', 'fill-disk']),
    target: z
      .string()
      .regex(/^[a-z]+(-[a-z]+)?(-\d+)?$/, 'expected a process instance such as postgres, redis or nats-2, or a role: postgres-primary, redis-primary, nats-leader')
      .optional(),
    forSec: z.number().min(0.1).max(600).default(5).describe('how long a pause or a full disk lasts'),
  })
  .refine((f) => f.target || (f.kind !== 'kill' && f.kind !== 'pause'), { message: 'kill and pause need a target', path: ['target'] });
export type Fault = z.output<typeof faultSchema>;

export interface FaultEnvironment {
  /** Crash the supervisor and start it again (absent: the supervisor cannot be restarted from here). */
  restartSupervisor?: () => Promise<void>;
  /** A filesystem of the run's own that fill-disk may fill (absent: the fault is refused). */
  diskDir?: string;
}

/** Kill, then freeze, each server in turn; in ha the primaries and the stream leader instead; the supervisor and the disk when the run can. */
export function defaultSchedule(config: Config, durationSec: number, env: FaultEnvironment = {}): Fault[] {
  const servers = (['postgres', 'redis', 'nats'] as const).filter((s) => config[s].enabled);
  const ha = config.topology === 'ha';
  const killTargets = ha ? servers.map((s) => ({ postgres: 'postgres-primary', redis: 'redis-primary', nats: 'nats-leader' })[s]) : servers;
  const faults: Omit<Fault, 'atSec'>[] = [
    ...killTargets.map((target) => ({ kind: 'kill' as const, target, forSec: 5 })),
    ...servers.map((target) => ({ kind: 'pause' as const, target, forSec: 5 })),
    ...(env.restartSupervisor ? [{ kind: 'restart-supervisor' as const, forSec: 5 }] : []),
    ...(env.diskDir ? [{ kind: 'fill-disk' as const, forSec: 20 }] : []),
  ];
  // Evenly between 15% and 85% of the run: a calm start to compare with, and time to recover at the end.
  return faults.map((f, i) => ({ ...f, atSec: Math.round(durationSec * (0.15 + (0.7 * i) / Math.max(1, faults.length - 1))) }));
}

/** A schedule file: a JSON array of faults. Problems are listed with their index. */
export function loadSchedule(file: string): Fault[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`fault schedule ${file}: ${(e as Error).message}`);
  }
  const parsed = z.array(faultSchema).safeParse(json);
  if (!parsed.success) {
    throw new InvalidArgumentError(`fault schedule ${file}: ${parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Sleep, cut short when the run ends (no listener left behind: this runs every 200 ms). */
const sleep = (ms: number, signal?: AbortSignal) => wait(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

/** The instance a role names now (ha), or the target itself. */
async function resolveTarget(access: Access, target: string): Promise<string> {
  const fig = async <F>(instance: string) => (await figuresOf(driverOf(instance)!, access, 2000, instance)).figures as F | undefined;
  let found: string | undefined;
  if (target === 'postgres-primary') found = (await fig<HaproxyFigures>('haproxy'))?.primary;
  else if (target === 'redis-primary') found = (await fig<SentinelFigures>('sentinel-1'))?.primary;
  else if (target === 'nats-leader') {
    for (const n of natsNodes(access.config)) if ((await fig<NatsFigures>(n.instance))?.cluster?.leads.includes('EVENTS')) found = n.instance;
  } else return target;
  if (!found) throw new InvalidArgumentError(`fault target ${target}: no such role now (is the topology ha?)`);
  return found;
}

/** Wait until every instance answers its probe again (or the run ends). */
async function recovered(access: Access, instances: string[], series: Series, signal: AbortSignal): Promise<number | null> {
  for (const instance of instances) {
    const driver = driverOf(instance)!;
    for (;;) {
      if (signal.aborted) return null;
      try {
        await driver.probe(access, 1000, instance);
        break;
      } catch {
        await sleep(200, signal);
      }
    }
  }
  return Math.round(series.now() * 10) / 10;
}

/**
 * The processes that make up an instance: its own and every process it started, and in ha
 * a PostgreSQL member's postmaster too, which Patroni starts in a session of its own (so it
 * is not Patroni's child for long): losing the member's host loses both.
 */
function instanceTree(config: Config, instance: string, pid: number): number[] {
  const roots = [pid];
  if (config.topology === 'ha' && driverOf(instance)?.name === 'postgres') {
    try {
      const postmaster = Number(readFileSync(path.join(statePaths(config).pgMember(instance).data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // A stale file may name a pid reused by another program: only a live postgres counts.
      if (readFileSync(`/proc/${postmaster}/comm`, 'utf8').trim() === 'postgres') roots.push(postmaster);
    } catch {
      // no postmaster running
    }
  }
  return [...new Set(roots.flatMap((r) => processTree(r)))];
}

function signalAll(tree: number[], signal: NodeJS.Signals): number[] {
  for (const pid of tree) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
  return tree;
}

/** Carry out one fault; resolves with the instances that must answer again. */
async function inflict(access: Access, f: Fault, env: FaultEnvironment, mark: FaultMark): Promise<string[]> {
  const servers = (['postgres', 'redis', 'nats'] as const).filter((s) => access.config[s].enabled);
  if (f.kind === 'restart-supervisor') {
    if (!env.restartSupervisor) throw new InvalidArgumentError('restart-supervisor: this run cannot restart the supervisor (it runs inside the soak; use --ephemeral or a stack started by `dataplane up`)');
    await env.restartSupervisor();
    return servers;
  }
  if (f.kind === 'fill-disk') {
    if (!env.diskDir) throw new InvalidArgumentError('fill-disk needs a filesystem of the run\'s own: --ephemeral with --disk-size (it would otherwise fill the disk the stack shares)');
    await fillDisk(env.diskDir, f.forSec * 1000);
    return servers;
  }
  const instance = await resolveTarget(access, f.target!);
  mark.target = instance === f.target ? instance : `${f.target} (${instance})`;
  const rec = readPidFile(statePaths(access.config).pidFile(instance));
  if (!rec || !isRecordAlive(rec) || !driverOf(instance)) throw new InvalidArgumentError(`fault target ${instance} is not a running process of this stack`);
  const tree = instanceTree(access.config, instance, rec.pid);
  if (f.kind === 'kill') {
    signalAll(tree, 'SIGKILL');
  } else {
    const frozen = signalAll(tree, 'SIGSTOP');
    await sleep(f.forSec * 1000);
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }
  return [instance];
}

/**
 * Run the schedule against the stack; resolves with every fault's mark when all are done, or
 * once `ends` (no new fault) and then `giveUp` (no more waiting for a recovery) are aborted.
 */
export async function runFaults(access: Access, schedule: Fault[], series: Series, signals: { ends: AbortSignal; giveUp: AbortSignal }, env: FaultEnvironment = {}, onFault?: (m: FaultMark) => void): Promise<FaultMark[]> {
  const marks: FaultMark[] = [];
  for (const f of [...schedule].sort((a, b) => a.atSec - b.atSec)) {
    await sleep(Math.max(0, f.atSec - series.now()) * 1000, signals.ends);
    if (signals.ends.aborted) break;
    const mark: FaultMark = { kind: f.kind, target: f.target ?? (f.kind === 'fill-disk' ? 'disk' : 'supervisor'), at: Math.round(series.now() * 10) / 10, recoveredAt: null };
    const instances = await inflict(access, f, env, mark);
    mark.recoveredAt = await recovered(access, instances, series, signals.giveUp);
    marks.push(mark);
    onFault?.(mark);
  }
  return marks;
}
