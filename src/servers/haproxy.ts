/**
 * HAProxy from Debian's haproxy: the stable PostgreSQL addresses of the ha topology.
 * postgres.port reaches whichever member Patroni says is the primary, and
 * postgres.ha.replicaPort the replicas, for every client alike (the library, psql,
 * pgbench, other languages). Ready once a primary answers through it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import { postgresMembers } from '../config/topology.js';
import { pgClient, pgEndpoint } from '../connect/postgres.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { chownToServiceUser } from '../lib/service-user.js';
import { run, terminate } from '../lib/process.js';
import { renderHaproxy } from '../render/haproxy.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import type { HaproxyFigures, ServerDriver } from './types.js';

/** One server line of HAProxy's `show stat`: which member, in which listener, up or not. */
export interface HaproxyServer {
  listener: 'primary' | 'replicas';
  member: string;
  up: boolean;
  /** HAProxy's status word: UP, DOWN, or on the way between (UP 1/2: one failed check of the two that mark it down) */
  status: string;
  /** the last check's status; INI: no check has completed yet */
  check: string;
}

/** What HAProxy says now about each member behind each address (its admin socket). */
export function haproxyServers(socket: string, timeoutMs = 2000): Promise<HaproxyServer[]> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let text = '';
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    conn.on('connect', () => conn.write('show stat\n'));
    conn.on('data', (d: Buffer) => (text += d.toString('utf8')));
    conn.on('error', (e) => reject(new ProbeError(`HAProxy's admin socket ${socket}: ${e.message}`)));
    conn.on('close', () => {
      const [header, ...rows] = text.replace(/^# /, '').trim().split('\n');
      const cols = (header ?? '').split(',');
      const at = (name: string) => cols.indexOf(name);
      resolve(
        rows
          .map((r) => r.split(','))
          .filter((f) => f[at('pxname')] === 'primary' || f[at('pxname')] === 'replicas')
          .filter((f) => f[at('svname')] !== 'FRONTEND' && f[at('svname')] !== 'BACKEND')
          .map((f) => ({ listener: f[at('pxname')] as 'primary' | 'replicas', member: f[at('svname')]!, up: f[at('status')] === 'UP', status: f[at('status')] ?? '', check: f[at('check_status')] ?? '' })),
      );
    });
  });
}

export const haproxyDriver: ServerDriver = {
  name: 'haproxy',

  instances: () => ['haproxy'],

  async locate() {
    const server = requireBinary(REQUIREMENTS.haproxy);
    const r = await run(server, ['-v']);
    const m = /HAProxy version (\d+\.\d+\.\d+)/.exec(r.stdout);
    if (!m) throw new BinaryNotFoundError('haproxy', `${server} did not report a version; reinstall the Debian package haproxy`);
    return { server, version: m[1]! };
  },

  ports: (config) => [
    { host: config.postgres.host, port: config.postgres.port, configPath: 'postgres.port' },
    { host: config.postgres.host, port: config.postgres.ha.replicaPort, configPath: 'postgres.ha.replicaPort' },
  ],

  address: (config) => `${config.postgres.host}:${config.postgres.port}`,

  render: renderHaproxy,

  async prepare(ctx) {
    const p = ctx.paths.haproxy;
    privateDir(p.dir, ctx.user);
    if (ctx.tls) {
      installServerCert(p.tls, ctx.tls.servers.postgres, ctx.user, ctx.tls.caFile);
      // Its health checks present a client certificate to Patroni: HAProxy wants certificate and key in one file.
      const pem = path.join(p.tls, 'client.pem');
      writeFileSync(pem, readFileSync(path.join(p.tls, 'server.crt'), 'utf8') + readFileSync(path.join(p.tls, 'server.key'), 'utf8'), { mode: 0o600 });
      chownToServiceUser([pem], ctx.user);
    }
    writeServerFiles(
      p.dir,
      ctx.files.filter((f) => f.service === 'haproxy'),
      ctx.user,
    );
  },

  // -W: master-worker, so SIGUSR2 reloads the configuration; -db: stay in the foreground.
  command: (ctx) => ({ bin: ctx.binaries.server, args: ['-W', '-db', '-f', ctx.paths.haproxy.conf], cwd: ctx.paths.haproxy.dir }),

  /** Ready when every member has been checked, one is the primary, and a primary answers through it. */
  async probe(access, timeoutMs = 2000) {
    const started = performance.now();
    const servers = await haproxyServers(statePaths(access.config).haproxy.socket, timeoutMs);
    // Every server starts UP: wait until each was checked and none is on its way up or down
    // (a replica still "UP 1/2" takes connections, and they are cut when it goes down).
    const unsettled = servers.filter((s) => s.check.startsWith('INI') || s.check === '' || (s.status !== 'UP' && s.status !== 'DOWN'));
    if (unsettled.length) throw new ProbeError(`HAProxy has not settled on ${unsettled.map((s) => `${s.member} (${s.status})`).join(', ')} yet`);
    const primaries = servers.filter((s) => s.listener === 'primary' && s.up);
    if (primaries.length !== 1) throw new ProbeError(`HAProxy sees ${primaries.length} primaries (${primaries.map((s) => s.member).join(', ') || 'none'})`);
    const c = pgClient(pgEndpoint(access, access.config.postgres.superuser), { timeoutMs, queryTimeoutMs: timeoutMs });
    try {
      await c.connect();
      const r = await c.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
      if (r.rows[0]!.recovery) throw new ProbeError('HAProxy sends clients to a replica: no primary yet');
    } finally {
      await c.end().catch(() => {});
    }
    return { version: '', latencyMs: performance.now() - started };
  },

  async figures(access, timeoutMs = 2000): Promise<HaproxyFigures> {
    const servers = await haproxyServers(statePaths(access.config).haproxy.socket, timeoutMs);
    const instance = (name: string) => postgresMembers(access.config).find((m) => m.name === name)?.instance ?? name;
    return {
      primary: servers.filter((s) => s.listener === 'primary' && s.up).map((s) => instance(s.member))[0],
      replicas: servers.filter((s) => s.listener === 'replicas' && s.up).map((s) => instance(s.member)),
    };
  },

  async reload(_ctx, rec) {
    process.kill(rec.pid, 'SIGUSR2');
  },

  async stop(_access, rec, timeoutMs) {
    await terminate(rec, 'SIGTERM', timeoutMs);
  },
};
