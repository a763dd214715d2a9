/**
 * The nodes a topology runs, and where each listens. `single` runs one process per
 * server (instances named after the server: nats, redis). `ha` runs a NATS cluster
 * and Redis with replicas and sentinels; on one host the k-th node of a kind uses its
 * base port + k (Redis nodes + 2k: each has a plaintext and a TLS port), and its own
 * state folder. The first node keeps the single topology's name, ports and folder, so
 * moving from single to ha keeps its data.
 *
 * Takes only the fields it reads (not Config), so the schema's own checks can use it.
 */

export type Topology = 'single' | 'ha';

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
}

export interface RedisNode {
  instance: string;
  index: number;
  /** The role it starts in; Sentinel moves the primary role after a failover. */
  initialRole: 'primary' | 'replica';
  host: string;
  port: number;
  tlsPort: number;
}

export interface SentinelNode {
  instance: string;
  index: number;
  host: string;
  port: number;
}

const instanceName = (service: string, index: number) => (index === 0 ? service : `${service}-${index + 1}`);

export function natsNodes(c: { topology: Topology; nats: NatsFields }): NatsNode[] {
  const n = c.nats;
  const count = c.topology === 'ha' ? n.cluster.nodes : 1;
  return Array.from({ length: count }, (_, k) => ({
    instance: instanceName('nats', k),
    index: k,
    serverName: k === 0 ? n.serverName : `${n.serverName}-${k + 1}`,
    host: n.host,
    port: n.port + k,
    monitorPort: n.monitorPort ? n.monitorPort + k : 0,
    clusterPort: c.topology === 'ha' ? n.cluster.port + k : undefined,
  }));
}

export function redisNodes(c: { topology: Topology; redis: RedisFields }): RedisNode[] {
  const r = c.redis;
  const count = c.topology === 'ha' ? 1 + r.replicas : 1;
  return Array.from({ length: count }, (_, k) => ({
    instance: instanceName('redis', k),
    index: k,
    initialRole: k === 0 ? ('primary' as const) : ('replica' as const),
    host: r.host,
    port: r.port + 2 * k,
    tlsPort: r.tlsPort + 2 * k,
  }));
}

/** The sentinels the ha topology runs (none in single). */
export function sentinelNodes(c: { topology: Topology; redis: RedisFields }): SentinelNode[] {
  if (c.topology !== 'ha') return [];
  const s = c.redis.sentinel;
  return Array.from({ length: s.nodes }, (_, k) => ({ instance: `sentinel-${k + 1}`, index: k, host: c.redis.host, port: s.port + k }));
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
}

export interface EtcdNode {
  instance: string;
  index: number;
  host: string;
  port: number;
  peerPort: number;
}

/** single: the one server on postgres.port. ha: the Patroni members (postgres.port is HAProxy's then). */
export function postgresMembers(c: { topology: Topology; postgres: PostgresFields & { port: number } }): PostgresMember[] {
  const pg = c.postgres;
  if (c.topology !== 'ha') return [{ instance: 'postgres', index: 0, name: 'pg-1', host: pg.host, port: pg.port, restApiPort: undefined }];
  return Array.from({ length: pg.ha.members }, (_, k) => ({
    instance: instanceName('postgres', k),
    index: k,
    name: `pg-${k + 1}`,
    host: pg.host,
    port: pg.ha.memberPort + k,
    restApiPort: pg.ha.restApiPort + k,
  }));
}

/** The etcd members of the ha topology (none in single). */
export function etcdNodes(c: { topology: Topology; postgres: PostgresFields }): EtcdNode[] {
  if (c.topology !== 'ha') return [];
  const e = c.postgres.ha.etcd;
  return Array.from({ length: e.nodes }, (_, k) => ({ instance: `etcd-${k + 1}`, index: k, host: c.postgres.host, port: e.port + k, peerPort: e.peerPort + k }));
}
