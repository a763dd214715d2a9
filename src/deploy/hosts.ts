/**
 * The inventory as hosts: what each one runs (its process instances, in start order)
 * and the configuration its files are rendered from (its own state folder and resources).
 */
import type { StatePaths } from '../config/paths.js';
import type { Config, ProcessName } from '../config/schema.js';
import { etcdNodes, haproxyNodes, natsNodes, postgresMembers, redisNodes, sentinelNodes } from '../config/topology.js';
import { UsageError } from '../errors/index.js';

export interface HostProcess {
  instance: string;
  kind: Extract<ProcessName, 'etcd' | 'postgres' | 'haproxy' | 'redis' | 'nats' | 'sentinel'>;
}

export interface HostPlan {
  name: string;
  address: string;
  stateDir: string;
  /** In start order: etcd, the PostgreSQL member (Patroni), HAProxy, Redis, NATS, the sentinel. */
  processes: HostProcess[];
  /** The configuration as this host sees it: its state folder and resources. */
  config: Config;
}

/** Every host of the inventory; a usage error when the configuration has none. */
export function hostPlans(config: Config): HostPlan[] {
  if (!config.deploy.hosts.length) {
    throw new UsageError('the configuration has no inventory: list the production hosts under deploy.hosts (docs/deployment.md)');
  }
  const on = (name: string) => (n: { hostName?: string | undefined }) => n.hostName === name;
  return config.deploy.hosts.map((h) => {
    const pick = <T extends { hostName?: string | undefined; instance: string }>(nodes: T[], kind: HostProcess['kind'], enabled: boolean): HostProcess[] =>
      enabled ? nodes.filter(on(h.name)).map((n) => ({ instance: n.instance, kind })) : [];
    const processes = [
      ...pick(etcdNodes(config), 'etcd', config.postgres.enabled),
      ...pick(postgresMembers(config), 'postgres', config.postgres.enabled),
      ...pick(haproxyNodes(config), 'haproxy', config.postgres.enabled),
      ...pick(redisNodes(config), 'redis', config.redis.enabled),
      ...pick(natsNodes(config), 'nats', config.nats.enabled),
      ...pick(sentinelNodes(config), 'sentinel', config.redis.enabled),
    ];
    const own = Object.fromEntries(Object.entries(h.resources).filter(([, v]) => v !== undefined));
    return {
      name: h.name,
      address: h.address,
      stateDir: h.stateDir,
      processes,
      config: { ...config, stateDir: h.stateDir, resources: { ...config.resources, ...own } },
    };
  });
}

/** The folder a process's files live in under the host's state folder (PostgreSQL members: pg, pg-2 ...). */
export function processDir(p: HostProcess, paths: StatePaths): string {
  switch (p.kind) {
    case 'etcd':
      return paths.etcd(p.instance).dir;
    case 'postgres':
      return paths.pgMember(p.instance).dir;
    case 'haproxy':
      return paths.haproxy.dir;
    case 'redis':
      return paths.redisNode(p.instance).dir;
    case 'nats':
      return paths.natsNode(p.instance).dir;
    case 'sentinel':
      return paths.sentinel(p.instance).dir;
  }
}
