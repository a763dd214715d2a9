/**
 * redis.conf. The default user is disabled; named ACL users authenticate with
 * SHA-256 password hashes. TLS on its own port; the plaintext port only where the
 * profile allows it.
 *
 * In the ha topology every node gets its own file: the current primary (as the
 * sentinels last recorded it) without `replicaof`, the others replicating from it over
 * TLS as the `replication` user. That user's password is the one plaintext secret in
 * the file (Redis must present it), readable only by the service user.
 */
import path from 'node:path';
import { redisNodes, type RedisNode } from '../config/topology.js';
import { redisAclHash } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { plaintextAllowed } from '../tls/policy.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

/** The exporter's needs and nothing more: no key or channel access. */
export const REDIS_MONITOR_COMMANDS = '-@all +ping +info +client|list +config|get +slowlog|get +slowlog|len +latency|latest +dbsize +memory|stats +role +select';

/** What the sentinels need on every node: watch it, and move the primary role (Redis's documented set). */
export const REDIS_SENTINEL_COMMANDS = '+multi +slaveof +replicaof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill';

/** The node that is primary now: the one named, else the first. */
export function primaryNode(nodes: RedisNode[], instance?: string): RedisNode {
  return nodes.find((n) => n.instance === instance) ?? nodes[0]!;
}

/** Every node's redis.conf. */
export function renderRedis(ctx: RenderContext): RenderedFile[] {
  const nodes = redisNodes(ctx.config);
  const primary = primaryNode(nodes, ctx.redisPrimary);
  return nodes.map((node) => ({ service: node.instance, name: 'redis.conf', content: renderRedisNode(ctx, node, nodes.length > 1 ? primary : undefined, nodes.filter((o) => o.host === node.host).length) }));
}

function replicationLines(ctx: RenderContext, node: RedisNode, primary: RedisNode): string[] {
  const { config } = ctx;
  const tls = config.tls.enabled;
  const hash = (user: string) => redisAclHash(secretFor(ctx.secrets, 'redis', user));
  return [
    '',
    '# replication (ha): any node may become the primary',
    'user replication on ' + hash('replication') + ' resetkeys resetchannels -@all +psync +replconf +ping',
    'user sentinel on ' + hash('sentinel') + ' resetkeys allchannels -@all ' + REDIS_SENTINEL_COMMANDS,
    'masteruser replication',
    `masterauth ${JSON.stringify(secretFor(ctx.secrets, 'redis', 'replication'))}`,
    ...(tls ? ['tls-replication yes', `tls-ca-cert-file ${JSON.stringify(path.join(ctx.paths.redisNode(node.instance).tls, 'ca.crt'))}`] : []),
    // What the sentinels and the other nodes use to reach this one: its TLS port when TLS is on.
    `replica-announce-ip ${node.host}`,
    `replica-announce-port ${tls ? node.tlsPort : node.port}`,
    'replica-read-only yes',
    ...(node === primary ? [] : [`replicaof ${primary.host} ${tls ? primary.tlsPort : primary.port}`]),
  ];
}

function renderRedisNode(ctx: RenderContext, node: RedisNode, primary: RedisNode | undefined, nodes: number): string {
  const { config, tuning } = ctx;
  const paths = { redis: ctx.paths.redisNode(node.instance) };
  const r = { ...config.redis, host: node.host, port: node.port, tlsPort: node.tlsPort };
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
    `# memory (${tuning.redis.maxmemory.why}${nodes > 1 ? `; ${nodes} nodes on one host share it` : ''})`,
    // Every node the same limit: a replica must hold what its primary holds.
    `maxmemory ${Math.floor(tuning.redis.maxmemory.value / nodes)}`,
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
    ...(primary ? replicationLines(ctx, node, primary) : []),
  ];
  const extra = Object.entries(r.settings);
  if (extra.length) {
    lines.push('', '# redis.settings (later lines win)');
    for (const [k, v] of extra) lines.push(`${k} ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`);
  }
  return lines.join('\n') + '\n';
}
