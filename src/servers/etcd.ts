/**
 * etcd from Debian's etcd-server: the store Patroni keeps the PostgreSQL leader lock
 * and member list in, in the ha topology. Its members are launched together (a
 * member is healthy only once a majority runs) and authenticate clients and peers by
 * certificates of the stack's CA.
 */
import { etcdNodes, type EtcdNode } from '../config/topology.js';
import type { Config } from '../config/schema.js';
import { restRequest } from '../connect/rest.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary, versionOutput } from '../lib/packages.js';
import { run, terminate } from '../lib/process.js';
import { renderEtcd } from '../render/etcd.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import type { ServerDriver } from './types.js';

function etcdNode(config: Config, instance = 'etcd-1'): EtcdNode {
  const n = etcdNodes(config).find((e) => e.instance === instance);
  if (!n) throw new ProbeError(`the configuration runs no etcd member ${instance}`);
  return n;
}

export const etcdDriver: ServerDriver = {
  name: 'etcd',

  instances: (config) => etcdNodes(config).map((n) => n.instance),

  async locate() {
    const server = requireBinary(REQUIREMENTS.etcd);
    const r = await versionOutput(server, ['--version']);
    const m = /etcd Version: (\d+\.\d+\.\d+)/.exec(r.stdout);
    if (!m) throw new BinaryNotFoundError('etcd', `${server} did not report a version; reinstall the Debian package etcd-server`);
    return { server, version: m[1]! };
  },

  ports: (config) =>
    etcdNodes(config).flatMap((n) => [
      { host: n.host, port: n.port, configPath: 'postgres.ha.etcd.port' },
      { host: n.host, port: n.peerPort, configPath: 'postgres.ha.etcd.peerPort' },
    ]),

  address: (config, instance) => {
    const n = etcdNode(config, instance);
    return `${n.host}:${n.port}`;
  },

  render: renderEtcd,

  async prepare(ctx) {
    const p = ctx.paths.etcd(ctx.instance);
    privateDir(p.dir, ctx.user);
    if (ctx.tls) installServerCert(p.tls, ctx.tls.servers.postgres, ctx.user, ctx.tls.caFile);
    writeServerFiles(
      p.dir,
      ctx.files.filter((f) => f.service === ctx.instance),
      ctx.user,
    );
  },

  command: (ctx) => {
    const p = ctx.paths.etcd(ctx.instance);
    return { bin: ctx.binaries.server, args: ['--config-file', p.conf], cwd: p.dir };
  },

  /** Healthy: the member answers and its cluster has a leader (a majority runs). */
  async probe(access, timeoutMs = 2000, instance = 'etcd-1') {
    const started = performance.now();
    const n = etcdNode(access.config, instance);
    const r = await restRequest<{ health?: string; reason?: string }>(access.config, n, '/health', { timeoutMs });
    if (r.status !== 200 || r.body?.health !== 'true') throw new ProbeError(`etcd ${instance} is not healthy${r.body?.reason ? `: ${r.body.reason}` : ' (no majority of members yet?)'}`);
    const v = await restRequest<{ etcdserver?: string }>(access.config, n, '/version', { timeoutMs });
    return { version: v.body?.etcdserver ?? 'unknown', latencyMs: performance.now() - started };
  },

  async reload() {
    // etcd reads its certificate files at each new connection: nothing to do.
  },

  async stop(_access, rec, timeoutMs) {
    await terminate(rec, 'SIGTERM', timeoutMs);
  },
};
