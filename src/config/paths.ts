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
  /** When the credentials were last exported or imported, and a digest of them then (0600). */
  credentialsExport: string;
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
  /**
   * A PostgreSQL member's folder (postgres: pg, the single topology's; postgres-2: pg-2).
   * The WAL archive is the first member's, shared: every primary archives into it.
   */
  pgMember(instance: string): PgMemberPaths;
  /** The folder of an etcd member (etcd-1, ...). */
  etcd(instance: string): { dir: string; data: string; conf: string; tls: string };
  haproxy: { dir: string; conf: string; tls: string; /** its admin socket: which member each address sends to */ socket: string };
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

export interface PgMemberPaths {
  dir: string;
  data: string;
  /** Patroni's configuration (ha) */
  patroni: string;
  /** the tuned settings Patroni includes (ha) */
  baseConf: string;
  tls: string;
  /** Patroni writes the replication password here for the replica's connection */
  pgpass: string;
  /** PostgreSQL binaries Patroni runs: the server's and Debian's pg_controldata, pg_isready */
  bin: string;
}

export interface RedisPaths {
  dir: string;
  conf: string;
  tls: string;
}

/**
 * With an inventory (deploy.hosts) the WAL archive and the base backups live on the
 * storage every PostgreSQL host shares (deploy.backupDir): a replica on another host
 * must read what a primary archived.
 */
export function statePaths(config: Pick<Config, 'stateDir'> & { deploy?: { hosts: readonly unknown[]; backupDir: string } | undefined }): StatePaths {
  const root = config.stateDir;
  const j = (...p: string[]) => path.join(root, ...p);
  const shared = config.deploy?.hosts.length ? config.deploy.backupDir : undefined;
  const natsNode = (i: string): NatsPaths => ({ dir: j(i), conf: j(i, 'nats.conf'), jetstream: j(i, 'jetstream'), tls: j(i, 'tls') });
  const redisNode = (i: string): RedisPaths => ({ dir: j(i), conf: j(i, 'redis.conf'), tls: j(i, 'tls') });
  return {
    root,
    secrets: j('secrets.json'),
    credentialsExport: j('credentials-export.json'),
    logs: j('logs'),
    run: j('run'),
    tls: j('tls'),
    backups: shared ? path.join(shared, 'backups') : j('backups'),
    pg: { dir: j('pg'), data: j('pg', 'data'), walArchive: shared ? path.join(shared, 'wal-archive') : j('pg', 'wal-archive'), tls: j('pg', 'tls') },
    redis: redisNode('redis'),
    nats: natsNode('nats'),
    natsNode,
    redisNode,
    pgMember: (i) => {
      const d = j(i === 'postgres' ? 'pg' : i.replace(/^postgres/, 'pg'));
      return { dir: d, data: path.join(d, 'data'), patroni: path.join(d, 'patroni.yml'), baseConf: path.join(d, 'postgresql.base.conf'), tls: path.join(d, 'tls'), pgpass: path.join(d, 'pgpass'), bin: path.join(d, 'bin') };
    },
    etcd: (i) => ({ dir: j(i), data: j(i, 'data'), conf: j(i, 'etcd.yml'), tls: j(i, 'tls') }),
    haproxy: { dir: j('haproxy'), conf: j('haproxy', 'haproxy.cfg'), tls: j('haproxy', 'tls'), socket: j('haproxy', 'admin.sock') },
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
