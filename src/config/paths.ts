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
  redis: { dir: string; conf: string; tls: string };
  nats: { dir: string; conf: string; jetstream: string; tls: string };
  /** Prometheus, Alertmanager and exporters: one folder each (config, and data for the first two). */
  monitoring: { dir: string; of(name: string): string; prometheusData: string; alertmanagerData: string };
  /** A process instance's log (postgres, nats-2, supervisor ...). */
  log(name: string): string;
  pidFile(name: string): string;
  /** Written by the supervisor: what it started and how to reach it. */
  supervisorState: string;
}

export function statePaths(config: Pick<Config, 'stateDir'>): StatePaths {
  const root = config.stateDir;
  const j = (...p: string[]) => path.join(root, ...p);
  return {
    root,
    secrets: j('secrets.json'),
    logs: j('logs'),
    run: j('run'),
    tls: j('tls'),
    backups: j('backups'),
    pg: { dir: j('pg'), data: j('pg', 'data'), walArchive: j('pg', 'wal-archive'), tls: j('pg', 'tls') },
    redis: { dir: j('redis'), conf: j('redis', 'redis.conf'), tls: j('redis', 'tls') },
    nats: { dir: j('nats'), conf: j('nats', 'nats.conf'), jetstream: j('nats', 'jetstream'), tls: j('nats', 'tls') },
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
