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
import { natsMonitoringServed } from './nats.js';

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
    if (natsMonitoringServed(config)) ports.push({ port: config.nats.monitorPort, what: 'nats monitoring' });
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

/**
 * A ruleset that replaces only the table `inet dataplane`: named sets of source networks,
 * the ports each set may reach, and a drop of every other source on those ports.
 */
export function nftRuleset(opts: { comments: string[]; sets: Record<string, string[]>; allow: { set: string; ports: number[] }[]; dropReason: string; acceptLoopback?: boolean }): string {
  const el = (xs: string[]) => (xs.length ? ` elements = { ${xs.join(', ')} };` : '');
  const family = (nets: string[], v: 4 | 6) => nets.filter((n) => net.isIP(n.split('/')[0]!) === v);
  const sets = Object.entries(opts.sets).flatMap(([name, nets]) => [
    `  set ${name}_v4 { type ipv4_addr; flags interval;${el(family(nets, 4))} }`,
    `  set ${name}_v6 { type ipv6_addr; flags interval;${el(family(nets, 6))} }`,
  ]);
  const dports = (ports: number[]) => `{ ${ports.join(', ')} }`;
  const accept = opts.allow.filter((a) => a.ports.length).flatMap((a) => [`    tcp dport ${dports(a.ports)} ip saddr @${a.set}_v4 accept`, `    tcp dport ${dports(a.ports)} ip6 saddr @${a.set}_v6 accept`]);
  const all = [...new Set(opts.allow.flatMap((a) => a.ports))];
  const lines = [
    '#!/usr/sbin/nft -f',
    ...opts.comments.map((c) => `# ${c}`),
    '',
    '# Replace only this table, whatever state it is in.',
    'table inet dataplane',
    'delete table inet dataplane',
    '',
    'table inet dataplane {',
    ...sets,
    '',
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    ...(opts.acceptLoopback ? ['    iifname "lo" accept'] : []),
    ...accept,
    `    tcp dport ${dports(all)} counter drop comment "dataplane: ${opts.dropReason}"`,
    '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

export function renderNftables(config: Config): NftFile {
  const all = [...config.network.allowedNetworks, ...config.network.clusterPeers];
  const ports = servicePorts(config);
  const content = nftRuleset({
    comments: [HEADER('the dataplane config'), `Ports: ${ports.map((p) => `${p.port} ${p.what}`).join(', ')}.`, `Allowed: ${all.join(', ')}.`],
    sets: { clients: all },
    allow: [{ set: 'clients', ports: ports.map((p) => p.port) }],
    dropReason: 'not an allowed client network',
  });
  return { name: 'dataplane.nft', content };
}
