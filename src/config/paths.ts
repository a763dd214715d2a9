/**
 * The state directory layout (DESIGN.md). Every module asks here for a path
 * instead of joining strings of its own.
 */
import path from 'node:path';
import type { Config, ProcessName } from './schema.js';

export type LogName = ProcessName | 'supervisor';

export interface StatePaths {
  root: string;
  secrets: string;
  logs: string;
  run: string;
  tls: string;
  backups: string;
  pg: { dir: string; data: string; walArchive: string; tls: string };
  /** The first Redis node's folder (the only one in the single topology). */
  redis: RedisPaths;
  /** The first NATS node's folder (the only one in the single topology). */
  nats: NatsPaths;
  /** The folder of a NATS node by instance (nats, nats-2, ...). */
  natsNode(instance: string): NatsPaths;
  /** The folder of a Redis node by instance (redis, redis-2, ...). */
  redisNode(instance: string): RedisPaths;
  /** The folder of a sentinel (sentinel-1, ...). */
  sentinel(instance: string): { dir: string; conf: string; tls: string };
  /** Prometheus, Alertmanager and exporters: one folder each (config, and data for the first two). */
  monitoring: { dir: string; of(name: string): string; prometheusData: string; alertmanagerData: string };
  /** A process instance's log (postgres, nats-2, supervisor ...). */
  log(name: string): string;
  pidFile(name: string): string;
  /** Written by the supervisor: what it started and how to reach it. */
  supervisorState: string;
}

export interface NatsPaths {
  dir: string;
  conf: string;
  jetstream: string;
  tls: string;
}

export interface RedisPaths {
  dir: string;
  conf: string;
  tls: string;
}

export function statePaths(config: Pick<Config, 'stateDir'>): StatePaths {
  const root = config.stateDir;
  const j = (...p: string[]) => path.join(root, ...p);
  const natsNode = (i: string): NatsPaths => ({ dir: j(i), conf: j(i, 'nats.conf'), jetstream: j(i, 'jetstream'), tls: j(i, 'tls') });
  const redisNode = (i: string): RedisPaths => ({ dir: j(i), conf: j(i, 'redis.conf'), tls: j(i, 'tls') });
  return {
    root,
    secrets: j('secrets.json'),
    logs: j('logs'),
    run: j('run'),
    tls: j('tls'),
    backups: j('backups'),
    pg: { dir: j('pg'), data: j('pg', 'data'), walArchive: j('pg', 'wal-archive'), tls: j('pg', 'tls') },
    redis: redisNode('redis'),
    nats: natsNode('nats'),
    natsNode,
    redisNode,
    sentinel: (i) => ({ dir: j(i), conf: j(i, 'sentinel.conf'), tls: j(i, 'tls') }),
    monitoring: {
      dir: j('monitoring'),
      of: (name) => j('monitoring', name),
      prometheusData: j('monitoring', 'prometheus', 'data'),
      alertmanagerData: j('monitoring', 'alertmanager', 'data'),
    },
    log: (name) => j('logs', `${name}.log`),
    pidFile: (name) => j('run', `${name}.pid`),
    supervisorState: j('run', 'supervisor.json'),
  };
}
