/**
 * haproxy.cfg of the ha topology: the stable addresses of PostgreSQL. postgres.port
 * always reaches the primary, postgres.ha.replicaPort the replicas; HAProxy asks each
 * member's Patroni (GET /primary, GET /replica over TLS with a client certificate)
 * every second. TLS itself is PostgreSQL's, end to end: HAProxy passes TCP through.
 */
import path from 'node:path';
import { haproxyNodes, postgresMembers } from '../config/topology.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

/**
 * One HAProxy per machine: on one machine at postgres.host; with an inventory on every
 * host that runs haproxy, rendered for the host `ctx.host` names (none: the first).
 */
export function renderHaproxy(ctx: RenderContext): RenderedFile[] {
  const { config, paths } = ctx;
  const pg = config.postgres;
  const nodes = haproxyNodes(config);
  const bind = (nodes.find((n) => n.hostName === ctx.host) ?? nodes[0])?.host ?? pg.host;
  const tls = config.tls.enabled;
  const members = postgresMembers(config);
  const dir = paths.haproxy;
  const check = tls ? ` check-ssl verify required ca-file ${path.join(dir.tls, 'ca.crt')} crt ${path.join(dir.tls, 'client.pem')}` : '';
  const servers = members.map((m) => `  server ${m.name} ${m.host}:${m.port} check port ${m.restApiPort}${check}`);
  const maxconn = Number(ctx.tuning.postgres.max_connections?.value ?? 100) * 2;
  const listen = (name: string, port: number, uri: string, extra: string[]) => [
    `listen ${name}`,
    `  bind ${bind.includes(':') ? `[${bind}]` : bind}:${port}`,
    ...extra,
    '  option httpchk',
    `  http-check send meth GET uri ${uri}`,
    '  http-check expect status 200',
    ...servers,
    '',
  ];
  const content = [
    `# ${HEADER('the dataplane config')}`,
    'global',
    `  maxconn ${maxconn}`,
    '  log stderr format raw local0 info',
    // Read by dataplane: a server counts only once its first check has run (all start UP).
    `  stats socket ${dir.socket} mode 600 level operator`,
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 3s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout check 2s',
    // Checked every second, down after 2 failures, up after 1 success; sessions to a
    // member that stops being the primary are cut, so pools reconnect to the new one.
    '  default-server inter 1s fastinter 500ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions',
    '',
    ...listen('primary', pg.port, '/primary', []),
    ...listen('replicas', pg.ha.replicaPort, '/replica', ['  balance roundrobin']),
  ].join('\n');
  return [{ service: 'haproxy', name: 'haproxy.cfg', content }];
}
