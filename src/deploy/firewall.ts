/**
 * A host's nftables ruleset: each port it serves is open only to those who need it.
 * Client ports (HAProxy's PostgreSQL addresses, Redis, Sentinel, NATS) to the
 * application networks and the other hosts; cluster ports (PostgreSQL members,
 * Patroni's API, etcd, NATS routes) to the other hosts only; monitoring ports to the
 * monitoring networks. Everything else the host serves (SSH ...) is left alone.
 */
import net from 'node:net';
import { HEADER } from '../render/context.js';
import { plaintextAllowed } from '../tls/policy.js';
import type { HostPlan } from './hosts.js';

export interface PortRule {
  port: number;
  what: string;
  /** who may connect */
  from: 'clients' | 'peers' | 'monitoring';
}

/** Every port this host listens on, and who may reach it. */
export function hostPorts(host: HostPlan): PortRule[] {
  const c = host.config;
  const rules: PortRule[] = [];
  const has = (kind: string) => host.processes.some((p) => p.kind === kind);
  if (has('haproxy')) {
    rules.push({ port: c.postgres.port, what: 'postgres primary (haproxy)', from: 'clients' }, { port: c.postgres.ha.replicaPort, what: 'postgres replicas (haproxy)', from: 'clients' });
  }
  if (has('postgres')) rules.push({ port: c.postgres.ha.memberPort, what: 'postgres member', from: 'peers' }, { port: c.postgres.ha.restApiPort, what: 'patroni api', from: 'peers' });
  if (has('etcd')) rules.push({ port: c.postgres.ha.etcd.port, what: 'etcd clients', from: 'peers' }, { port: c.postgres.ha.etcd.peerPort, what: 'etcd peers', from: 'peers' });
  if (has('redis')) {
    if (c.tls.enabled) rules.push({ port: c.redis.tlsPort, what: 'redis tls', from: 'clients' });
    if (!c.tls.enabled || plaintextAllowed(c, 'redis')) rules.push({ port: c.redis.port, what: 'redis', from: 'clients' });
  }
  if (has('sentinel')) rules.push({ port: c.redis.sentinel.port, what: 'sentinel', from: 'clients' });
  if (has('nats')) {
    rules.push({ port: c.nats.port, what: 'nats', from: 'clients' }, { port: c.nats.cluster.port, what: 'nats routes', from: 'peers' });
    if (c.nats.monitorPort) rules.push({ port: c.nats.monitorPort, what: 'nats monitoring', from: 'monitoring' });
  }
  return rules;
}

const hostNet = (address: string) => `${address}/${net.isIPv6(address) ? 128 : 32}`;

export function renderHostFirewall(host: HostPlan): string {
  const c = host.config;
  const peers = c.deploy.hosts.map((h) => hostNet(h.address));
  const sources = {
    // The other hosts are clients too: sentinels, replicas and HAProxy's checks connect to client ports.
    clients: [...new Set([...c.network.allowedNetworks, ...peers])],
    peers,
    monitoring: [...new Set([...c.deploy.monitoringNetworks, ...peers])],
  };
  const rules = hostPorts(host);
  const setLines = Object.entries(sources).flatMap(([name, nets]) => {
    const v4 = nets.filter((n) => net.isIPv4(n.split('/')[0]!));
    const v6 = nets.filter((n) => net.isIPv6(n.split('/')[0]!));
    const el = (xs: string[]) => (xs.length ? ` elements = { ${xs.join(', ')} };` : '');
    return [`  set ${name}_v4 { type ipv4_addr; flags interval;${el(v4)} }`, `  set ${name}_v6 { type ipv6_addr; flags interval;${el(v6)} }`];
  });
  const accept = (Object.keys(sources) as PortRule['from'][]).flatMap((from) => {
    const ports = rules.filter((r) => r.from === from).map((r) => r.port);
    if (!ports.length) return [];
    const set = `{ ${ports.join(', ')} }`;
    return [`    tcp dport ${set} ip saddr @${from}_v4 accept`, `    tcp dport ${set} ip6 saddr @${from}_v6 accept`];
  });
  const lines = [
    '#!/usr/sbin/nft -f',
    `# ${HEADER('the dataplane inventory')}`,
    `# Host ${host.name} (${host.address}). Ports: ${rules.map((r) => `${r.port} ${r.what} (${r.from})`).join(', ')}.`,
    `# clients: ${sources.clients.join(', ')}; peers: ${sources.peers.join(', ')}; monitoring: ${sources.monitoring.join(', ')}.`,
    '',
    '# Replace only this table, whatever state it is in.',
    'table inet dataplane',
    'delete table inet dataplane',
    '',
    'table inet dataplane {',
    ...setLines,
    '',
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    '    iifname "lo" accept',
    ...accept,
    `    tcp dport { ${rules.map((r) => r.port).join(', ')} } counter drop comment "dataplane: not a host or network this port serves"`,
    '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}
