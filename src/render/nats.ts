/**
 * nats.conf. Two accounts: APP (JetStream enabled, for applications) and SYS (the
 * system account). Passwords are bcrypt hashes; there is no anonymous access.
 */
import { natsBcrypt } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

const q = (s: string) => JSON.stringify(s);

export function renderNats(ctx: RenderContext): RenderedFile[] {
  const { config, tuning, paths } = ctx;
  const n = config.nats;
  const pw = (user: string) => q(natsBcrypt(secretFor(ctx.secrets, 'nats', user)));
  const t = tuning.nats;
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    `server_name: ${q(n.serverName)}`,
    `listen: ${q(`${n.host}:${n.port}`)}`,
    ...(n.monitorPort ? [`http: ${q(`${n.host}:${n.monitorPort}`)}`] : []),
    `max_payload: ${n.maxPayload}`,
    `# ${t.maxConnections.why}`,
    `max_connections: ${t.maxConnections.value}`,
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
    '    jetstream: enabled',
    `    users: [ { user: "app", password: ${pw('app')} } ]`,
    '  }',
    '  SYS {',
    `    users: [ { user: "system", password: ${pw('system')} } ]`,
    '  }',
    '}',
    'system_account: SYS',
  ];
  return [{ service: 'nats', name: 'nats.conf', content: lines.join('\n') + '\n' }];
}
