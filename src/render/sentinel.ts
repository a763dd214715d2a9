/**
 * sentinel.conf for each sentinel of the ha topology. Sentinels watch the Redis
 * primary over TLS as the `sentinel` user, agree it is down when `quorum` of them stop
 * hearing it for `downAfterMs`, and promote a replica. Clients authenticate to them
 * with their own Redis user and password and may only ask where the primary is.
 *
 * A sentinel rewrites its file as it learns (the current primary, the other sentinels,
 * the epoch), so the file is written only when the sentinel is not running; the
 * primary rendered here is the one the sentinels last recorded.
 */
import path from 'node:path';
import { redisNodes, sentinelNodes, type SentinelNode } from '../config/topology.js';
import { redisAclHash } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';
import { primaryNode } from './redis.js';

/** What a client library needs from a sentinel: where the primary is, and to hear when it moves. */
export const SENTINEL_CLIENT_COMMANDS =
  '-@all +ping +sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves +sentinel|masters +sentinel|master +subscribe +psubscribe +unsubscribe +punsubscribe +client|setname';

export function renderSentinels(ctx: RenderContext): RenderedFile[] {
  return sentinelNodes(ctx.config).map((s) => ({ service: s.instance, name: 'sentinel.conf', content: renderSentinel(ctx, s) }));
}

function renderSentinel(ctx: RenderContext, node: SentinelNode): string {
  const { config } = ctx;
  const s = config.redis.sentinel;
  const tls = config.tls.enabled;
  const dir = ctx.paths.sentinel(node.instance);
  const primary = primaryNode(redisNodes(config), ctx.redisPrimary);
  const hash = (user: string) => redisAclHash(secretFor(ctx.secrets, 'redis', user));
  const secret = (user: string) => JSON.stringify(secretFor(ctx.secrets, 'redis', user));
  const m = s.masterName;
  return [
    `# ${HEADER('the dataplane config')}`,
    `# ${node.instance}: one of ${sentinelNodes(config).length} sentinels; quorum ${s.quorum}, a primary silent for ${s.downAfterMs} ms is down`,
    `bind ${node.host}`,
    ...(tls
      ? [
          'port 0',
          `tls-port ${node.port}`,
          `tls-cert-file ${JSON.stringify(path.join(dir.tls, 'server.crt'))}`,
          `tls-key-file ${JSON.stringify(path.join(dir.tls, 'server.key'))}`,
          `tls-ca-cert-file ${JSON.stringify(path.join(dir.tls, 'ca.crt'))}`,
          'tls-auth-clients no',
          // TLS to the Redis nodes and to the other sentinels too.
          'tls-replication yes',
        ]
      : [`port ${node.port}`]),
    'daemonize no',
    'logfile ""',
    `dir ${JSON.stringify(dir.dir)}`,
    '',
    '# who may ask: no default user; clients may only find the primary',
    'user default off resetpass resetkeys resetchannels -@all',
    `user admin on ${hash('admin')} ~* &* +@all`,
    `user sentinel on ${hash('sentinel')} ~* &* +@all`,
    ...['monitor', ...Object.keys(config.redis.users)].map((u) => `user ${u} on ${hash(u)} resetkeys &* ${SENTINEL_CLIENT_COMMANDS}`),
    'sentinel sentinel-user sentinel',
    `sentinel sentinel-pass ${secret('sentinel')}`,
    '',
    `sentinel monitor ${m} ${primary.host} ${tls ? primary.tlsPort : primary.port} ${s.quorum}`,
    `sentinel auth-user ${m} sentinel`,
    `sentinel auth-pass ${m} ${secret('sentinel')}`,
    `sentinel down-after-milliseconds ${m} ${s.downAfterMs}`,
    // A failover that has not finished in this time is tried again by another sentinel.
    `sentinel failover-timeout ${m} ${Math.max(10_000, s.downAfterMs * 5)}`,
    `sentinel parallel-syncs ${m} 1`,
    '',
  ].join('\n');
}
