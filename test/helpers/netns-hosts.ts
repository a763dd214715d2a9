/**
 * Network namespaces as hosts (../shared/HA.md): one namespace per host and per
 * client, each joined by a veth pair to a bridge that lives in a namespace of its own,
 * so no address touches the machine's own network. A host's bundle runs inside its
 * namespace: install.sh (without apt and systemd), then each unit's ExecStart as the
 * unit's user, in the units' order; every process is stopped by the PID started here.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readdirSync, readFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from '../../src/lib/process.js';
import { waitFor } from './processes.js';

export function sh(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...opts.env }, timeout: opts.timeoutMs ?? 30_000 });
}

export function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): string {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (exit ${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export interface Lab {
  id: string;
  /** namespace by member name (h1, app, ...) */
  ns: Record<string, string>;
  /** address by member name */
  address: Record<string, string>;
  /** the host side of the link of a member (cut it with `ip link set ... down`) */
  link(name: string, up: boolean): void;
  destroy(): void;
}

/** Namespaces for `members` on 10.<subnet>.0.0/24, in the given order from .1 (clients listed with their own last octet). */
export function createLab(members: { name: string; octet: number }[], subnet: number): Lab {
  const id = randomBytes(2).toString('hex');
  const bridgeNs = `dpbr${id}`;
  const ns: Record<string, string> = {};
  const address: Record<string, string> = {};
  const destroy = () => {
    for (const n of [...Object.values(ns), bridgeNs]) sh('ip', ['netns', 'del', n]);
  };
  try {
    must('ip', ['netns', 'add', bridgeNs]);
    must('ip', ['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    for (const m of members) {
      const n = `dp${m.name}${id}`;
      ns[m.name] = n;
      address[m.name] = `10.${subnet}.0.${m.octet}`;
      must('ip', ['netns', 'add', n]);
      const outer = `v${m.name}${id}`;
      const inner = `i${m.name}${id}`;
      must('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
      // Both ends leave the machine's namespace at once: one into the member (as eth0), the other to the bridge.
      must('ip', ['link', 'set', inner, 'netns', n]);
      must('ip', ['link', 'set', outer, 'netns', bridgeNs]);
      must('ip', ['-n', n, 'link', 'set', inner, 'name', 'eth0']);
      must('ip', ['-n', bridgeNs, 'link', 'set', outer, 'master', 'br0']);
      must('ip', ['-n', bridgeNs, 'link', 'set', outer, 'up']);
      must('ip', ['-n', n, 'addr', 'add', `${address[m.name]}/24`, 'dev', 'eth0']);
      must('ip', ['-n', n, 'link', 'set', 'eth0', 'up']);
      must('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    id,
    ns,
    address,
    link: (name, up) => must('ip', ['-n', bridgeNs, 'link', 'set', `v${name}${id}`, up ? 'up' : 'down']),
    destroy,
  };
}

interface Unit {
  name: string;
  user: string;
  cwd: string;
  argv: string[];
}

/** The fields of a unit the runner needs; ExecStart split as systemd would (double quotes only). */
export function parseUnit(file: string): Unit {
  const text = readFileSync(file, 'utf8');
  const field = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1] ?? '';
  const argv = [...field('ExecStart').matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!));
  return { name: path.basename(file), user: field('User'), cwd: field('WorkingDirectory'), argv };
}

export interface RunningHost {
  name: string;
  pids: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * install.sh of the bundle inside the namespace, then its server units' commands
 * (systemd is not PID 1 here), as the unit's user, output to <logDir>/<unit>.log.
 * As the units' Restart=always/RestartSec=2s would, a process that exits is started
 * again after 2 s (a Patroni that found no cluster to join yet exits, for one).
 */
export function runBundle(name: string, namespace: string, bundleDir: string, logDir: string): RunningHost {
  must('ip', ['netns', 'exec', namespace, 'bash', path.join(bundleDir, 'install.sh'), '--no-packages', '--no-systemd'], { timeoutMs: 120_000 });
  const order = readdirSync(path.join(bundleDir, 'systemd')).filter((f) => f !== 'dataplane-firewall.service');
  const manifest = JSON.parse(readFileSync(path.join(bundleDir, 'manifest.json'), 'utf8')) as { units: string[] };
  const pids = new Map<string, number>();
  let stopping = false;
  const start = (unitName: string) => {
    const u = parseUnit(path.join(bundleDir, 'systemd', unitName));
    const log = openSync(path.join(logDir, `${name}-${unitName}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', namespace, 'setpriv', `--reuid=${u.user}`, `--regid=${u.user}`, '--init-groups', '--reset-env', '--', ...u.argv], { cwd: u.cwd, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    child.unref();
    pids.set(unitName, child.pid!);
    child.once('exit', () => {
      if (!stopping) setTimeout(() => !stopping && start(unitName), 2000).unref();
    });
  };
  for (const unitName of manifest.units.filter((u) => order.includes(u))) start(unitName);
  return {
    name,
    pids,
    async stop() {
      stopping = true;
      for (const pid of [...pids.values()].reverse()) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
      await waitFor(`${name}'s processes to stop`, () => [...pids.values()].every((p) => !isAlive(p)) || undefined, 40_000).catch(() => {
        for (const pid of pids.values()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      });
    },
  };
}
