/**
 * A host's nftables ruleset: each port it serves is open only to those who need it.
 * Client ports (HAProxy's PostgreSQL addresses, Redis, Sentinel, NATS) to the
 * application networks and the other hosts; cluster ports (PostgreSQL members,
 * Patroni's API, etcd, NATS routes) to the other hosts only; monitoring ports to the
 * monitoring networks. Everything else the host serves (SSH ...) is left alone.
 */
import net from 'node:net';
import type { Config } from '../config/schema.js';
import { HEADER } from '../render/context.js';
import { natsMonitoringServed } from '../render/nats.js';
import { nftRuleset } from '../render/nftables.js';
import { plaintextAllowed } from '../tls/policy.js';
import type { HostPlan } from './hosts.js';

export interface PortRule {
  port: number;
  what: string;
  /** who may connect */
  from: 'clients' | 'peers' | 'monitoring';
  /** How TLS starts on it, when it has TLS: at once, or after the protocol's own opening (PostgreSQL's SSLRequest, NATS's INFO). */
  tls?: 'direct' | 'postgres' | 'nats';
}

/** Every port this host listens on, and who may reach it. */
export function hostPorts(host: HostPlan): PortRule[] {
  const c = host.config;
  const rules: PortRule[] = [];
  const has = (kind: string) => host.processes.some((p) => p.kind === kind);
  const tls = (how: NonNullable<PortRule['tls']>) => (c.tls.enabled ? { tls: how } : {});
  if (has('haproxy')) {
    rules.push(
      { port: c.postgres.port, what: 'postgres primary (haproxy)', from: 'clients', ...tls('postgres') },
      { port: c.postgres.ha.replicaPort, what: 'postgres replicas (haproxy)', from: 'clients', ...tls('postgres') },
    );
  }
  if (has('postgres')) {
    rules.push(
      { port: c.postgres.ha.memberPort, what: 'postgres member', from: 'peers', ...tls('postgres') },
      { port: c.postgres.ha.restApiPort, what: 'patroni api', from: 'peers', ...tls('direct') },
    );
  }
  if (has('etcd')) {
    rules.push({ port: c.postgres.ha.etcd.port, what: 'etcd clients', from: 'peers', ...tls('direct') }, { port: c.postgres.ha.etcd.peerPort, what: 'etcd peers', from: 'peers', ...tls('direct') });
  }
  if (has('redis')) {
    if (c.tls.enabled) rules.push({ port: c.redis.tlsPort, what: 'redis tls', from: 'clients', tls: 'direct' });
    if (!c.tls.enabled || plaintextAllowed(c, 'redis')) rules.push({ port: c.redis.port, what: 'redis', from: 'clients' });
  }
  if (has('sentinel')) rules.push({ port: c.redis.sentinel.port, what: 'sentinel', from: 'clients', ...tls('direct') });
  if (has('nats')) {
    rules.push({ port: c.nats.port, what: 'nats', from: 'clients', ...tls('nats') }, { port: c.nats.cluster.port, what: 'nats routes', from: 'peers', ...tls('nats') });
    if (natsMonitoringServed(c)) rules.push({ port: c.nats.monitorPort, what: 'nats monitoring', from: 'monitoring' });
  }
  return rules;
}

const hostNet = (address: string) => `${address}/${net.isIPv6(address) ? 128 : 32}`;

/** The networks each kind of port admits (the hosts themselves are in every one). */
export function portSources(c: Config): Record<PortRule['from'], string[]> {
  const peers = c.deploy.hosts.map((h) => hostNet(h.address));
  return {
    // The other hosts are clients too: sentinels, replicas and HAProxy's checks connect to client ports.
    clients: [...new Set([...c.network.allowedNetworks, ...peers])],
    peers,
    monitoring: [...new Set([...c.deploy.monitoringNetworks, ...peers])],
  };
}

export function renderHostFirewall(host: HostPlan): string {
  const c = host.config;
  const sources = portSources(c);
  const rules = hostPorts(host);
  const from = Object.keys(sources) as PortRule['from'][];
  return nftRuleset({
    comments: [
      HEADER('the dataplane inventory'),
      `Host ${host.name} (${host.address}). Ports: ${rules.map((r) => `${r.port} ${r.what} (${r.from})`).join(', ')}.`,
      `clients: ${sources.clients.join(', ')}; peers: ${sources.peers.join(', ')}; monitoring: ${sources.monitoring.join(', ')}.`,
    ],
    sets: sources,
    allow: from.map((f) => ({ set: f, ports: rules.filter((r) => r.from === f).map((r) => r.port) })),
    dropReason: 'not a host or network this port serves',
    acceptLoopback: true,
  });
}
