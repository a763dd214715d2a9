/**
 * An nftables ruleset for a production host: the stack's ports accept only the
 * configured client networks (and cluster peers); every other source is dropped.
 * Other ports are left alone, so SSH and the rest of the host keep working.
 * Load with `nft -f dataplane.nft`; it replaces only its own table.
 */
import net from 'node:net';
import type { Config } from '../config/schema.js';
import { plaintextAllowed } from '../tls/policy.js';
import { HEADER } from './context.js';

export interface NftFile {
  name: string;
  content: string;
}

/** Every port the stack listens on, with what listens there. */
export function servicePorts(config: Config): { port: number; what: string }[] {
  const ports: { port: number; what: string }[] = [];
  if (config.postgres.enabled) ports.push({ port: config.postgres.port, what: 'postgres' });
  if (config.redis.enabled) {
    if (plaintextAllowed(config, 'redis')) ports.push({ port: config.redis.port, what: 'redis' });
    if (config.tls.enabled) ports.push({ port: config.redis.tlsPort, what: 'redis tls' });
  }
  if (config.nats.enabled) {
    ports.push({ port: config.nats.port, what: 'nats' });
    if (config.nats.monitorPort) ports.push({ port: config.nats.monitorPort, what: 'nats monitoring' });
  }
  if (config.health.enabled) ports.push({ port: config.health.port, what: 'health' });
  const m = config.monitoring;
  if (m.enabled) {
    ports.push({ port: m.port, what: 'prometheus' }, { port: m.alertmanagerPort, what: 'alertmanager' }, { port: m.nodeExporterPort, what: 'node exporter' });
    if (config.postgres.enabled) ports.push({ port: m.postgresExporterPort, what: 'postgres exporter' });
    if (config.redis.enabled) ports.push({ port: m.redisExporterPort, what: 'redis exporter' });
  }
  return ports;
}

function elements(nets: string[]): string {
  return nets.length ? ` elements = { ${nets.join(', ')} };` : '';
}

export function renderNftables(config: Config): NftFile {
  const all = [...config.network.allowedNetworks, ...config.network.clusterPeers];
  const v4 = all.filter((n) => net.isIPv4(n.split('/')[0]!));
  const v6 = all.filter((n) => net.isIPv6(n.split('/')[0]!));
  const ports = servicePorts(config);
  const dports = `{ ${ports.map((p) => p.port).join(', ')} }`;
  const lines = [
    '#!/usr/sbin/nft -f',
    `# ${HEADER('the dataplane config')}`,
    `# Ports: ${ports.map((p) => `${p.port} ${p.what}`).join(', ')}.`,
    `# Allowed: ${all.join(', ')}.`,
    '',
    '# Replace only this table, whatever state it is in.',
    'table inet dataplane',
    'delete table inet dataplane',
    '',
    'table inet dataplane {',
    `  set clients_v4 { type ipv4_addr; flags interval;${elements(v4)} }`,
    `  set clients_v6 { type ipv6_addr; flags interval;${elements(v6)} }`,
    '',
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    `    tcp dport ${dports} ip saddr @clients_v4 accept`,
    `    tcp dport ${dports} ip6 saddr @clients_v6 accept`,
    `    tcp dport ${dports} counter drop comment "dataplane: not an allowed client network"`,
    '  }',
    '}',
  ];
  return { name: 'dataplane.nft', content: lines.join('\n') + '\n' };
}
