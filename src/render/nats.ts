/**
 * nats.conf. Accounts: APP (JetStream with limits) for applications and SYS for
 * the system. Users: admin (streams and consumers), one per service limited to its
 * subjects and the JetStream API subjects it needs, system. Passwords are bcrypt
 * hashes; there is no anonymous access. TLS for clients, required outside dev
 * loopback.
 *
 * In the ha topology each node gets its own file: a unique server_name, its own
 * ports and store, and a cluster block whose routes are authenticated twice, by the
 * route user's password and by mutual TLS (NATS verifies route certificates both ways).
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { natsNodes, type NatsNode } from '../config/topology.js';
import { inboxPrefix } from '../connect/nats.js';
import { natsBcrypt } from '../secrets/hashes.js';
import { isGeneratedSecret, secretFor } from '../secrets/store.js';
import { plaintextAllowed } from '../tls/policy.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

const q = (s: string) => JSON.stringify(s);
const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;

/** Subjects a service needs to publish to and subscribe on, JetStream included. */
export function servicePermissions(user: string, u: Config['nats']['users'][string]): { publish: string[]; subscribe: string[] } {
  const js = u.streams.flatMap((s) => [
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.CONSUMER.INFO.${s}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
    `$JS.ACK.${s}.>`,
    `$JS.FC.${s}.>`,
  ]);
  // Dead letters of the streams it consumes.
  const dlq = u.streams.map((s) => (s === '*' ? 'dlq.>' : `dlq.${s}.>`));
  return {
    publish: [...u.publish, ...(u.streams.length ? ['$JS.API.INFO', ...js, ...dlq] : [])],
    subscribe: [...u.subscribe, `${inboxPrefix(user)}.>`],
  };
}


const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Every node's nats.conf. */
export function renderNats(ctx: RenderContext): RenderedFile[] {
  const nodes = natsNodes(ctx.config);
  return nodes.map((node) => ({ service: node.instance, name: 'nats.conf', content: renderNatsNode(ctx, node, nodes) }));
}

function clusterBlock(ctx: RenderContext, node: NatsNode, nodes: NatsNode[]): string[] {
  const { config } = ctx;
  const nodePaths = ctx.paths.natsNode(node.instance);
  const route = secretFor(ctx.secrets, 'nats', 'route');
  // The plaintext password of the outgoing routes is in this 0600 file, read by the service user only.
  const routes = nodes.filter((o) => o !== node).map((o) => `nats-route://route:${encodeURIComponent(route)}@${hostPort(o.host, o.clusterPort!)}`);
  return [
    '',
    `# The cluster: ${nodes.length} nodes; JetStream needs a majority of them`,
    'cluster {',
    `  name: ${q(config.nats.cluster.name)}`,
    `  listen: ${q(hostPort(node.host, node.clusterPort!))}`,
    `  authorization { user: "route", password: ${q(natsBcrypt(route, isGeneratedSecret(ctx.secrets, 'nats', 'route')))}, timeout: 2 }`,
    `  routes: ${list(routes)}`,
    ...(config.tls.enabled
      ? ['  tls {', `    cert_file: ${q(path.join(nodePaths.tls, 'server.crt'))}`, `    key_file: ${q(path.join(nodePaths.tls, 'server.key'))}`, `    ca_file: ${q(path.join(nodePaths.tls, 'ca.crt'))}`, '    timeout: 2', '  }']
      : []),
    '}',
  ];
}

/**
 * Whether nats-server opens its HTTP monitoring port: only where plaintext is allowed
 * (it has no login of its own); elsewhere its figures come through the system account.
 */
export function natsMonitoringServed(config: Config): boolean {
  return config.nats.monitorPort > 0 && plaintextAllowed(config, 'nats');
}

function renderNatsNode(ctx: RenderContext, node: NatsNode, nodes: NatsNode[]): string {
  const { config, tuning } = ctx;
  const paths = { nats: ctx.paths.natsNode(node.instance) };
  const n = { ...config.nats, serverName: node.serverName, host: node.host, port: node.port, monitorPort: node.monitorPort };
  const pw = (user: string) => q(natsBcrypt(secretFor(ctx.secrets, 'nats', user), isGeneratedSecret(ctx.secrets, 'nats', user)));
  // Nodes on one host share its disk and memory: each gets its part of the server's share.
  const neighbours = nodes.filter((o) => o.host === node.host).length;
  const share = (v: number) => Math.floor(v / neighbours);
  const t = {
    ...tuning.nats,
    maxMemoryStore: { ...tuning.nats.maxMemoryStore, value: share(tuning.nats.maxMemoryStore.value) },
    maxFileStore: { ...tuning.nats.maxFileStore, value: share(tuning.nats.maxFileStore.value) },
  };
  const users = Object.entries(n.users).map(([name, u]) => {
    const p = servicePermissions(name, u);
    // allow_responses: a service may answer requests it received, on their reply subjects only.
    return `      { user: ${q(name)}, password: ${pw(name)}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }, allow_responses: true } }`;
  });
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    `server_name: ${q(n.serverName)}`,
    `listen: ${q(`${n.host}:${n.port}`)}`,
    ...(n.monitorPort && natsMonitoringServed(config) ? [`http: ${q(`${n.host}:${n.monitorPort}`)}`] : []),
    ...(n.monitorPort && !natsMonitoringServed(config) ? ['# No HTTP monitoring port: it has no login; dataplane reads the figures through the system account'] : []),
    `max_payload: ${n.maxPayload}`,
    `# ${t.maxConnections.why}`,
    `max_connections: ${t.maxConnections.value}`,
    ...(config.tls.enabled
      ? [
          '',
          `# TLS (profile ${config.profile})`,
          'tls {',
          `  cert_file: ${q(path.join(paths.nats.tls, 'server.crt'))}`,
          `  key_file: ${q(path.join(paths.nats.tls, 'server.key'))}`,
          '  timeout: 2',
          '}',
          ...(plaintextAllowed(config, 'nats') ? ['allow_non_tls: true'] : []),
        ]
      : []),
    '',
    'jetstream {',
    `  store_dir: ${q(paths.nats.jetstream)}`,
    ...(neighbours > 1 ? [`  # ${neighbours} nodes on one host: each has 1/${neighbours} of the stores below`] : []),
    `  # ${t.maxMemoryStore.why}`,
    `  max_memory_store: ${t.maxMemoryStore.value}`,
    `  # ${t.maxFileStore.why}`,
    `  max_file_store: ${t.maxFileStore.value}`,
    '}',
    '',
    'accounts {',
    '  APP {',
    `    jetstream: { max_mem: ${t.maxMemoryStore.value}, max_file: ${t.maxFileStore.value}, max_streams: ${n.maxStreams}, max_consumers: ${n.maxConsumers} }`,
    '    users: [',
    `      { user: "admin", password: ${pw('admin')} }`,
    ...users,
    '    ]',
    '  }',
    '  SYS {',
    `    users: [ { user: "system", password: ${pw('system')} } ]`,
    '  }',
    '}',
    'system_account: SYS',
    ...(node.clusterPort !== undefined ? clusterBlock(ctx, node, nodes) : []),
  ];
  return lines.join('\n') + '\n';
}
