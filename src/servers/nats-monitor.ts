/**
 * Server and JetStream figures (varz, jsz) asked of each node through the system
 * account: `$SYS.REQ.SERVER.<id>.VARZ` and `.JSZ` over the client port, with TLS and
 * the `system` login. Not from the HTTP monitoring port: nats-server has no
 * authentication there (2.9.10 does not apply `tls { verify }` to it either), so the
 * prod profile does not open it. nats-server has no Prometheus endpoint and Debian
 * packages no exporter for it, so the supervisor exposes these figures on its /metrics
 * (see server-metrics.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsNode } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { natsConnect, natsEndpoint } from '../connect/nats.js';
import { ProbeError } from '../errors/index.js';

/** The fields of /varz we use (nats-server 2.9+). */
interface Varz {
  version: string;
  server_name: string;
  connections: number;
  max_connections: number;
  total_connections: number;
  subscriptions: number;
  slow_consumers: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  mem: number;
  cpu: number;
}

interface ConsumerDetail {
  name: string;
  num_pending: number;
  num_ack_pending: number;
  num_redelivered: number;
  num_waiting: number;
}

interface StreamDetail {
  name: string;
  state: { messages: number; bytes: number; consumer_count: number };
  /** in a cluster: which server leads the stream, and its other replicas */
  cluster?: { leader?: string; replicas?: { name: string; current: boolean; lag?: number }[] };
  consumer_detail?: ConsumerDetail[];
}

/** The fields of /jsz?accounts=true&streams=true&consumers=true we use. */
interface Jsz {
  disabled?: boolean;
  memory: number;
  storage: number;
  streams: number;
  consumers: number;
  messages: number;
  bytes: number;
  config?: { max_memory: number; max_storage: number };
  api?: { total: number; errors: number };
  account_details?: { name: string; stream_detail?: StreamDetail[] }[];
  /** in a cluster: the JetStream meta group (which server leads stream and consumer placement) */
  meta_cluster?: {
    name?: string;
    leader?: string;
    cluster_size?: number;
    /** on the meta leader: how it sees the other members (placement counts only those current and online) */
    replicas?: { name: string; current?: boolean; offline?: boolean; active?: number }[];
  };
}

export interface NatsConsumerStats {
  account: string;
  stream: string;
  consumer: string;
  /** messages in the stream not yet delivered to this consumer */
  pending: number;
  /** delivered, not yet acknowledged */
  ackPending: number;
  redelivered: number;
  waiting: number;
}

export interface NatsStats {
  version: string;
  connections: number;
  maxConnections: number;
  totalConnections: number;
  subscriptions: number;
  slowConsumers: number;
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  memoryBytes: number;
  cpuPercent: number;
  jetstream: {
    enabled: boolean;
    memoryUsed: number;
    memoryLimit: number;
    storageUsed: number;
    storageLimit: number;
    streams: number;
    consumers: number;
    messages: number;
    apiTotal: number;
    apiErrors: number;
  };
  streams: { account: string; stream: string; messages: number; bytes: number; consumers: number; leader?: string; replicasBehind: number }[];
  consumers: NatsConsumerStats[];
  /** in a cluster: the server names of this node, of the meta leader, and the cluster's size */
  cluster?: { serverName: string; metaLeader: string; size: number };
}

/** A monitoring request to the server this connection is on; its `data`. */
async function serverRequest<T>(nc: NatsConnection, what: 'VARZ' | 'JSZ', options: object, timeoutMs: number): Promise<T> {
  const id = nc.info?.server_id;
  if (!id) throw new ProbeError('the NATS server sent no server id');
  const m = await nc.request(`$SYS.REQ.SERVER.${id}.${what}`, JSON.stringify(options), { timeout: timeoutMs });
  const body = m.json<{ data?: T; error?: { description?: string } }>();
  if (!body.data) throw new ProbeError(`$SYS.REQ.SERVER.${what}: ${body.error?.description ?? 'no data'}`);
  return body.data;
}

/** One node's figures, asked as the `system` user on a connection to that node only. */
export async function fetchNatsStats(access: Access, node: Pick<NatsNode, 'host' | 'port'>, timeoutMs = 2000): Promise<NatsStats> {
  const server = node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
  const nc = await natsConnect({ ...natsEndpoint(access, 'system'), servers: server }, { name: 'dataplane-monitor', reconnect: false, timeoutMs });
  try {
    const [v, j] = await Promise.all([
      serverRequest<Varz>(nc, 'VARZ', {}, timeoutMs),
      // `consumer` (singular) in the request's JSON; the HTTP page's query says `consumers`.
      serverRequest<Jsz>(nc, 'JSZ', { accounts: true, streams: true, consumer: true }, timeoutMs),
    ]);
    return statsFrom(v, j);
  } finally {
    await nc.close().catch(() => {});
  }
}

function statsFrom(v: Varz, j: Jsz): NatsStats {
  const streams: NatsStats['streams'] = [];
  const consumers: NatsConsumerStats[] = [];
  for (const acc of j.account_details ?? []) {
    for (const s of acc.stream_detail ?? []) {
      streams.push({
        account: acc.name,
        stream: s.name,
        messages: s.state.messages,
        bytes: s.state.bytes,
        consumers: s.state.consumer_count,
        ...(s.cluster?.leader ? { leader: s.cluster.leader } : {}),
        replicasBehind: (s.cluster?.replicas ?? []).filter((r) => !r.current).length,
      });
      for (const c of s.consumer_detail ?? []) {
        consumers.push({
          account: acc.name,
          stream: s.name,
          consumer: c.name,
          pending: c.num_pending,
          ackPending: c.num_ack_pending,
          redelivered: c.num_redelivered,
          waiting: c.num_waiting,
        });
      }
    }
  }
  return {
    version: v.version,
    connections: v.connections,
    maxConnections: v.max_connections,
    totalConnections: v.total_connections,
    subscriptions: v.subscriptions,
    slowConsumers: v.slow_consumers,
    inMsgs: v.in_msgs,
    outMsgs: v.out_msgs,
    inBytes: v.in_bytes,
    outBytes: v.out_bytes,
    memoryBytes: v.mem,
    cpuPercent: v.cpu,
    jetstream: {
      enabled: !j.disabled,
      memoryUsed: j.memory ?? 0,
      memoryLimit: j.config?.max_memory ?? 0,
      storageUsed: j.storage ?? 0,
      storageLimit: j.config?.max_storage ?? 0,
      streams: j.streams ?? 0,
      consumers: j.consumers ?? 0,
      messages: j.messages ?? 0,
      apiTotal: j.api?.total ?? 0,
      apiErrors: j.api?.errors ?? 0,
    },
    streams,
    consumers,
    ...(j.meta_cluster?.leader ? { cluster: { serverName: v.server_name, metaLeader: j.meta_cluster.leader, size: j.meta_cluster.cluster_size ?? 0 } } : {}),
  };
}

/**
 * How each node sees the JetStream meta group, in one line: for a cluster that refuses to
 * place replicas ("no suitable peers"), which member its leader counts as offline or behind,
 * and how much storage each node has reserved of its limit. Unreachable nodes are named.
 */
export async function describeMetaGroup(access: Access, nodes: Pick<NatsNode, 'host' | 'port'>[], timeoutMs = 2000): Promise<string> {
  const views = await Promise.all(
    nodes.map(async (node) => {
      const server = node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
      try {
        const nc = await natsConnect({ ...natsEndpoint(access, 'system'), servers: server }, { name: 'dataplane-monitor', reconnect: false, timeoutMs });
        try {
          const name = nc.info?.server_name ?? server;
          const j = await serverRequest<Jsz>(nc, 'JSZ', {}, timeoutMs);
          const meta = j.meta_cluster;
          const peers = (meta?.replicas ?? []).map((r) => `${r.name} ${r.offline ? 'offline' : r.current ? 'current' : 'behind'}${r.active === undefined ? '' : ` (seen ${(r.active / 1e9).toFixed(1)} s ago)`}`);
          const storage = j.config ? `, storage ${j.storage} of ${j.config.max_storage} bytes` : '';
          return `${name}: leader ${meta?.leader || 'none'}${peers.length ? `, peers ${peers.join(', ')}` : ''}${storage}`;
        } finally {
          await nc.close().catch(() => {});
        }
      } catch (e) {
        return `${server}: unreachable (${(e as Error).message})`;
      }
    }),
  );
  return views.join('; ');
}
