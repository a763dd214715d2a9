/**
 * nats.conf. Accounts: APP (JetStream with limits) for applications and SYS for
 * the system. Users: admin (streams and consumers), one per service limited to its
 * subjects and the JetStream API subjects it needs, system. Passwords are bcrypt
 * hashes; there is no anonymous access. TLS for clients, required outside dev
 * loopback.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { inboxPrefix } from '../connect/nats.js';
import { natsBcrypt } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
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

export function renderNats(ctx: RenderContext): RenderedFile[] {
  const { config, tuning, paths } = ctx;
  const n = config.nats;
  const pw = (user: string) => q(natsBcrypt(secretFor(ctx.secrets, 'nats', user)));
  const t = tuning.nats;
  const users = Object.entries(n.users).map(([name, u]) => {
    const p = servicePermissions(name, u);
    // allow_responses: a service may answer requests it received, on their reply subjects only.
    return `      { user: ${q(name)}, password: ${pw(name)}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }, allow_responses: true } }`;
  });
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    `server_name: ${q(n.serverName)}`,
    `listen: ${q(`${n.host}:${n.port}`)}`,
    ...(n.monitorPort ? [`http: ${q(`${n.host}:${n.monitorPort}`)}`] : []),
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
  ];
  return [{ service: 'nats', name: 'nats.conf', content: lines.join('\n') + '\n' }];
}
