/**
 * etcd.yml for each etcd member of the ha topology: the store Patroni keeps its
 * leader lock in. Clients and peers authenticate with certificates of the stack's CA
 * (mutual TLS both ways); nothing answers without one.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import { etcdNodes, type EtcdNode } from '../config/topology.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

export function renderEtcd(ctx: RenderContext): RenderedFile[] {
  return etcdNodes(ctx.config).map((n) => ({ service: n.instance, name: 'etcd.yml', content: renderNode(ctx, n) }));
}

function renderNode(ctx: RenderContext, n: EtcdNode): string {
  const { config, paths } = ctx;
  const tls = config.tls.enabled;
  const scheme = tls ? 'https' : 'http';
  const dir = paths.etcd(n.instance);
  const security = { 'cert-file': path.join(dir.tls, 'server.crt'), 'key-file': path.join(dir.tls, 'server.key'), 'client-cert-auth': true, 'trusted-ca-file': path.join(dir.tls, 'ca.crt') };
  const all = etcdNodes(config);
  const doc = {
    name: n.instance,
    'data-dir': dir.data,
    'listen-client-urls': `${scheme}://${n.host}:${n.port}`,
    'advertise-client-urls': `${scheme}://${n.host}:${n.port}`,
    'listen-peer-urls': `${scheme}://${n.host}:${n.peerPort}`,
    'initial-advertise-peer-urls': `${scheme}://${n.host}:${n.peerPort}`,
    'initial-cluster': all.map((o) => `${o.instance}=${scheme}://${o.host}:${o.peerPort}`).join(','),
    // Read only when the data directory is new: afterwards the member knows its cluster.
    'initial-cluster-state': 'new',
    'initial-cluster-token': `${config.postgres.ha.scope}-etcd`,
    // Patroni speaks to etcd's JSON gateway; a config file turns it off unless asked.
    'enable-grpc-gateway': true,
    ...(tls ? { 'client-transport-security': security, 'peer-transport-security': security } : {}),
    // etcd's defaults: a lost etcd leader is replaced in about a second, well inside
    // Patroni's retry_timeout, so losing an etcd member does not demote PostgreSQL.
    'heartbeat-interval': 100,
    'election-timeout': 1000,
    // A member cut off from the others keeps calling elections and raising its term; without
    // pre-vote (off by default in 3.4) its return forces the healthy leader to step down, and
    // etcd is unavailable long enough for the new PostgreSQL primary to lose its lock.
    'pre-vote': true,
    'auto-compaction-mode': 'periodic',
    'auto-compaction-retention': '1h',
    'quota-backend-bytes': 256 * 1024 * 1024,
    logger: 'zap',
    'log-outputs': ['stderr'],
  };
  return `# ${HEADER('the dataplane config')}\n${stringify(doc)}`;
}
