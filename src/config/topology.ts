/**
 * The nodes a topology runs, and where each listens. `single` runs one process per
 * server (instances named after the server: nats, redis). `ha` runs a NATS cluster
 * and Redis with replicas and sentinels; on one host the k-th node of a kind uses its
 * base port + k (Redis nodes + 2k: each has a plaintext and a TLS port), and its own
 * state folder. The first node keeps the single topology's name, ports and folder, so
 * moving from single to ha keeps its data. With an inventory (deploy.hosts) the k-th
 * node of a kind runs on the k-th host that lists it, at the base ports on that host's
 * address, and the node counts are the hosts' (nats.cluster.nodes and the like are not used).
 *
 * Takes only the fields it reads (not Config), so the schema's own checks can use it.
 */

export type Topology = 'single' | 'ha';

/** A host of the inventory, as far as placement needs it (config.deploy.hosts). */
export interface InventoryHostFields {
  name: string;
  address: string;
  services: readonly string[];
}

interface DeployFields {
  deploy?: { hosts: readonly InventoryHostFields[] } | undefined;
}

/** The hosts of the inventory that run `service`, in inventory order; empty without an inventory. */
export function hostsRunning(c: DeployFields, service: string): InventoryHostFields[] {
  return (c.deploy?.hosts ?? []).filter((h) => h.services.includes(service));
}

/** True when the configuration places nodes on the inventory's hosts. */
export function onHosts(c: DeployFields): boolean {
  return (c.deploy?.hosts.length ?? 0) > 0;
}

/**
 * Where the k-th of `count` nodes of a kind runs: on one machine at its base port + k × step
 * on `host`; with an inventory on the k-th host that runs `service`, at the base port.
 */
function placement(c: DeployFields, service: string, count: number, host: string, step = 1): { count: number; at(k: number): { host: string; offset: number; hostName: string | undefined } } {
  const hosts = hostsRunning(c, service);
  if (!hosts.length) return { count, at: (k) => ({ host, offset: k * step, hostName: undefined }) };
  return { count: hosts.length, at: (k) => ({ host: hosts[k]!.address, offset: 0, hostName: hosts[k]!.name }) };
}

interface NatsFields {
  host: string;
  port: number;
  monitorPort: number;
  serverName: string;
  cluster: { nodes: number; port: number };
}

interface PostgresFields {
  host: string;
  ha: { members: number; memberPort: number; restApiPort: number; etcd: { nodes: number; port: number; peerPort: number } };
}

interface RedisFields {
  host: string;
  port: number;
  tlsPort: number;
  replicas: number;
  sentinel: { nodes: number; port: number };
}

export interface NatsNode {
  /** Process instance: pid file, log file, state folder (`nats`, `nats-2`, ...). */
  instance: string;
  /** 0 for the first node. */
  index: number;
  /** server_name: unique per node, JetStream's identity of it. */
  serverName: string;
  host: string;
  port: number;
  /** 0: no monitoring endpoint. */
  monitorPort: number;
  /** Route port; undefined in the single topology (no cluster). */
  clusterPort: number | undefined;
  /** The inventory host it runs on; undefined on one machine. */
  hostName?: string | undefined;
}

export interface RedisNode {
  instance: string;
  index: number;
  /** The role it starts in; Sentinel moves the primary role after a failover. */
  initialRole: 'primary' | 'replica';
  host: string;
  port: number;
  tlsPort: number;
  /** The inventory host it runs on; undefined on one machine. */
  hostName?: string | undefined;
}

export interface SentinelNode {
  instance: string;
  index: number;
  host: string;
  port: number;
  /** The inventory host it runs on; undefined on one machine. */
  hostName?: string | undefined;
}

const instanceName = (service: string, index: number) => (index === 0 ? service : `${service}-${index + 1}`);

export function natsNodes(c: { topology: Topology; nats: NatsFields } & DeployFields): NatsNode[] {
  const n = c.nats;
  const place = placement(c, 'nats', c.topology === 'ha' ? n.cluster.nodes : 1, n.host);
  return Array.from({ length: place.count }, (_, k) => {
    const at = place.at(k);
    return {
      instance: instanceName('nats', k),
      index: k,
      serverName: k === 0 ? n.serverName : `${n.serverName}-${k + 1}`,
      host: at.host,
      port: n.port + at.offset,
      monitorPort: n.monitorPort ? n.monitorPort + at.offset : 0,
      clusterPort: c.topology === 'ha' ? n.cluster.port + at.offset : undefined,
      hostName: at.hostName,
    };
  });
}

export function redisNodes(c: { topology: Topology; redis: RedisFields } & DeployFields): RedisNode[] {
  const r = c.redis;
  const place = placement(c, 'redis', c.topology === 'ha' ? 1 + r.replicas : 1, r.host, 2);
  return Array.from({ length: place.count }, (_, k) => {
    const at = place.at(k);
    return {
      instance: instanceName('redis', k),
      index: k,
      initialRole: k === 0 ? ('primary' as const) : ('replica' as const),
      host: at.host,
      port: r.port + at.offset,
      tlsPort: r.tlsPort + at.offset,
      hostName: at.hostName,
    };
  });
}

/** The sentinels the ha topology runs (none in single). */
export function sentinelNodes(c: { topology: Topology; redis: RedisFields } & DeployFields): SentinelNode[] {
  if (c.topology !== 'ha') return [];
  const s = c.redis.sentinel;
  const place = placement(c, 'sentinel', s.nodes, c.redis.host);
  return Array.from({ length: place.count }, (_, k) => {
    const at = place.at(k);
    return { instance: `sentinel-${k + 1}`, index: k, host: at.host, port: s.port + at.offset, hostName: at.hostName };
  });
}

export interface PostgresMember {
  /** Process instance (postgres, postgres-2, ...): the member's Patroni, which runs its PostgreSQL. */
  instance: string;
  index: number;
  /** Patroni's member name (pg-1, pg-2, ...), also its replication slot's name (pg_1). */
  name: string;
  host: string;
  /** PostgreSQL's own port; in single the stack's postgres.port. */
  port: number;
  /** Patroni REST API; undefined in single (no Patroni). */
  restApiPort: number | undefined;
  /** The inventory host it runs on; undefined on one machine. */
  hostName?: string | undefined;
}

export interface EtcdNode {
  instance: string;
  index: number;
  host: string;
  port: number;
  peerPort: number;
  /** The inventory host it runs on; undefined on one machine. */
  hostName?: string | undefined;
}

/** single: the one server on postgres.port. ha: the Patroni members (postgres.port is HAProxy's then). */
export function postgresMembers(c: { topology: Topology; postgres: PostgresFields & { port: number } } & DeployFields): PostgresMember[] {
  const pg = c.postgres;
  if (c.topology !== 'ha') return [{ instance: 'postgres', index: 0, name: 'pg-1', host: pg.host, port: pg.port, restApiPort: undefined }];
  const place = placement(c, 'postgres', pg.ha.members, pg.host);
  return Array.from({ length: place.count }, (_, k) => {
    const at = place.at(k);
    return {
      instance: instanceName('postgres', k),
      index: k,
      name: `pg-${k + 1}`,
      host: at.host,
      port: pg.ha.memberPort + at.offset,
      restApiPort: pg.ha.restApiPort + at.offset,
      hostName: at.hostName,
    };
  });
}

/** The etcd members of the ha topology (none in single). */
export function etcdNodes(c: { topology: Topology; postgres: PostgresFields } & DeployFields): EtcdNode[] {
  if (c.topology !== 'ha') return [];
  const e = c.postgres.ha.etcd;
  const place = placement(c, 'etcd', e.nodes, c.postgres.host);
  return Array.from({ length: place.count }, (_, k) => {
    const at = place.at(k);
    return { instance: `etcd-${k + 1}`, index: k, host: at.host, port: e.port + at.offset, peerPort: e.peerPort + at.offset, hostName: at.hostName };
  });
}

/**
 * Where HAProxy offers the PostgreSQL addresses: on one machine the one instance on
 * postgres.host; with an inventory, one on every host that runs haproxy, each on its address.
 */
export function haproxyNodes(c: { topology: Topology; postgres: PostgresFields & { port: number } } & DeployFields): { instance: string; host: string; port: number; hostName: string | undefined }[] {
  if (c.topology !== 'ha') return [];
  const hosts = hostsRunning(c, 'haproxy');
  if (!hosts.length) return [{ instance: 'haproxy', host: c.postgres.host, port: c.postgres.port, hostName: undefined }];
  return hosts.map((h) => ({ instance: 'haproxy', host: h.address, port: c.postgres.port, hostName: h.name }));
}
