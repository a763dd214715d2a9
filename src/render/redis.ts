/**
 * redis.conf. The default user is disabled; named ACL users authenticate with
 * SHA-256 password hashes, so the file holds no plaintext secret. TLS on its own
 * port; the plaintext port only where the profile allows it.
 */
import path from 'node:path';
import { redisAclHash } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { plaintextAllowed } from '../tls/policy.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

/** The exporter's needs and nothing more: no key or channel access. */
export const REDIS_MONITOR_COMMANDS = '-@all +ping +info +client|list +config|get +slowlog|get +slowlog|len +latency|latest +dbsize +memory|stats +role +select';

export function renderRedis(ctx: RenderContext): RenderedFile[] {
  const { config, tuning, paths } = ctx;
  const r = config.redis;
  const hash = (user: string) => redisAclHash(secretFor(ctx.secrets, 'redis', user));
  const plaintext = plaintextAllowed(config, 'redis');
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    '',
    `# network (profile ${config.profile})`,
    `bind ${r.host}`,
    `port ${plaintext ? r.port : 0}`,
    ...(config.tls.enabled
      ? [
          `tls-port ${r.tlsPort}`,
          `tls-cert-file ${JSON.stringify(path.join(paths.redis.tls, 'server.crt'))}`,
          `tls-key-file ${JSON.stringify(path.join(paths.redis.tls, 'server.key'))}`,
          'tls-auth-clients no',
          'tls-protocols "TLSv1.2 TLSv1.3"',
        ]
      : []),
    'protected-mode yes',
    'tcp-keepalive 300',
    '',
    '# process: run in the foreground under the dataplane supervisor, log to stdout',
    'daemonize no',
    'supervised no',
    'logfile ""',
    'loglevel notice',
    '',
    '# authentication: no default user, named users only',
    'user default off resetpass resetkeys resetchannels -@all',
    `user admin on ${hash('admin')} ~* &* +@all`,
    `user monitor on ${hash('monitor')} resetkeys resetchannels ${REDIS_MONITOR_COMMANDS}`,
    ...Object.entries(r.users).map(
      ([name, u]) => `user ${name} on ${hash(name)} ${u.keys.map((k) => `~${k}`).join(' ')} ${u.channels.length ? u.channels.map((c) => `&${c}`).join(' ') : 'resetchannels'} +@all -@dangerous`,
    ),
    '',
    `# memory (${tuning.redis.maxmemory.why})`,
    `maxmemory ${tuning.redis.maxmemory.value}`,
    `maxmemory-policy ${r.maxmemoryPolicy}`,
    '',
    '# persistence',
    `dir ${JSON.stringify(paths.redis.dir)}`,
    'dbfilename dump.rdb',
    r.save.trim() ? `save ${r.save.trim().split(/\s+/).join(' ')}` : 'save ""',
    `appendonly ${r.appendonly ? 'yes' : 'no'}`,
    `appendfsync ${r.appendfsync}`,
    'appenddirname appendonlydir',
    'aof-use-rdb-preamble yes',
    '',
    `# threads (${tuning.redis.ioThreads.why})`,
    `io-threads ${tuning.redis.ioThreads.value}`,
  ];
  const extra = Object.entries(r.settings);
  if (extra.length) {
    lines.push('', '# redis.settings (later lines win)');
    for (const [k, v] of extra) lines.push(`${k} ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`);
  }
  return [{ service: 'redis', name: 'redis.conf', content: lines.join('\n') + '\n' }];
}
