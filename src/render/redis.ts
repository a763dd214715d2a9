/**
 * redis.conf. The default user is disabled; named ACL users authenticate with
 * SHA-256 password hashes, so the file holds no plaintext secret.
 */
import { redisAclHash } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

export function renderRedis(ctx: RenderContext): RenderedFile[] {
  const { config, tuning, paths } = ctx;
  const r = config.redis;
  const hash = (user: string) => redisAclHash(secretFor(ctx.secrets, 'redis', user));
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    '',
    '# network',
    `bind ${r.host}`,
    `port ${r.port}`,
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
    `user app on ${hash('app')} ~* &* +@all -@dangerous`,
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
