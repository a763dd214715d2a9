/**
 * NATS with JetStream from Debian's nats-server. Runs `nats-server -c nats.conf`
 * in the foreground; SIGTERM shuts it down after flushing JetStream.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { Access } from '../connect/access.js';
import { natsConnect, natsEndpoint } from '../connect/nats.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run, terminate } from '../lib/process.js';
import { renderNats } from '../render/nats.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { fetchNatsStats, natsMonitorUrl } from './nats-monitor.js';
import type { NatsFigures, ServerDriver } from './types.js';

/** Connections, JetStream storage and consumer lag, from the monitoring endpoint. */
export async function natsFigures(access: Access, timeoutMs = 2000): Promise<NatsFigures> {
  const url = natsMonitorUrl(access.config);
  if (!url) throw new ProbeError('nats.monitorPort is 0: no monitoring endpoint to read');
  const s = await fetchNatsStats(url, timeoutMs);
  return {
    connections: { used: s.connections, max: s.maxConnections },
    jetstream: {
      storageUsed: s.jetstream.storageUsed,
      storageLimit: s.jetstream.storageLimit,
      memoryUsed: s.jetstream.memoryUsed,
      memoryLimit: s.jetstream.memoryLimit,
    },
    consumerLag: s.consumers
      .filter((c) => c.pending > 0 || c.ackPending > 0)
      .map((c) => ({ stream: c.stream, consumer: c.consumer, pending: c.pending, ackPending: c.ackPending })),
  };
}

/** Connect once as `user`, without reconnecting: a check, not a client. */
async function loginOnce(access: Access, user: string, timeoutMs: number, name: string) {
  return natsConnect(natsEndpoint(access, user), { name, reconnect: false, timeoutMs });
}

export const natsDriver: ServerDriver = {
  name: 'nats',

  async locate() {
    const server = requireBinary(REQUIREMENTS.natsServer);
    const r = await run(server, ['--version']);
    const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
    if (!m || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 9)) {
      throw new BinaryNotFoundError('nats-server 2.9+', `${server} reports "${(r.stdout + r.stderr).trim()}"; install nats-server 2.9 or newer`);
    }
    return { server, version: `${m[1]}.${m[2]}.${m[3]}` };
  },

  ports: (config) => [
    { host: config.nats.host, port: config.nats.port, configPath: 'nats.port' },
    ...(config.nats.monitorPort ? [{ host: config.nats.host, port: config.nats.monitorPort, configPath: 'nats.monitorPort' }] : []),
  ],

  address: (config) => `${config.nats.host}:${config.nats.port}`,

  render: renderNats,

  async prepare(ctx) {
    privateDir(ctx.paths.nats.dir, ctx.user);
    privateDir(ctx.paths.nats.jetstream, ctx.user);
    if (ctx.tls) installServerCert(ctx.paths.nats.tls, ctx.tls.servers.nats, ctx.user);
    writeServerFiles(
      ctx.paths.nats.dir,
      ctx.files.filter((f) => f.service === 'nats'),
      ctx.user,
    );
  },

  command: (ctx) => ({ bin: ctx.binaries.server, args: ['-c', ctx.paths.nats.conf], cwd: ctx.paths.nats.dir }),

  async probe(access, timeoutMs = 2000) {
    const started = performance.now();
    const nc = await loginOnce(access, 'admin', timeoutMs, 'dataplane-probe');
    try {
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      await jsm.getAccountInfo();
      return { version: nc.info?.version ?? 'unknown', latencyMs: performance.now() - started };
    } finally {
      await nc.close().catch(() => {});
    }
  },

  async reload(_ctx, rec) {
    // nats-server re-reads nats.conf (users, passwords, TLS files) on SIGHUP.
    process.kill(rec.pid, 'SIGHUP');
  },

  async stop(_access, rec, timeoutMs) {
    await terminate(rec, 'SIGTERM', timeoutMs);
  },

  figures: natsFigures,

  credentials: {
    service: 'nats',
    // No setPassword: nats-server takes the new bcrypt hash from its reloaded nats.conf.
    async verifyLogin(access, user) {
      const nc = await loginOnce(access, user, 2000, 'dataplane-rotation-check');
      await nc.close();
    },
  },
};
