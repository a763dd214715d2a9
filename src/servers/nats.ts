/**
 * NATS with JetStream from Debian's nats-server (trixie's 2.10, pinned: lib/pinned-debs.ts).
 * Runs `nats-server -c nats.conf` in the foreground; SIGTERM shuts it down after
 * flushing JetStream.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { Config } from '../config/schema.js';
import { natsNodes, type NatsNode } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { natsConnect, natsEndpoint } from '../connect/nats.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary, versionOutput } from '../lib/packages.js';
import { atLeast, NATS_SERVER_DEB, parseVersion } from '../lib/pinned-debs.js';
import { run, terminate } from '../lib/process.js';
import { natsMonitoringServed, renderNats } from '../render/nats.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { fetchNatsStats } from './nats-monitor.js';
import { probeOnce } from './probe-session.js';
import type { NatsFigures, ProbeSession, ServerDriver } from './types.js';

/** A node of the config by instance (the first node when not given). */
export function natsNode(config: Config, instance = 'nats'): NatsNode {
  const node = natsNodes(config).find((n) => n.instance === instance);
  if (!node) throw new ProbeError(`the configuration runs no NATS node ${instance}`);
  return node;
}

/** Connections, JetStream storage and consumer lag of a node, asked through the system account. */
export async function natsFigures(access: Access, timeoutMs = 2000, instance?: string): Promise<NatsFigures> {
  const s = await fetchNatsStats(access, natsNode(access.config, instance), timeoutMs);
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
    ...(s.cluster
      ? {
          cluster: {
            serverName: s.cluster.serverName,
            metaLeader: s.cluster.metaLeader === s.cluster.serverName,
            leads: s.streams.filter((x) => x.leader === s.cluster!.serverName).map((x) => x.stream),
            size: s.cluster.size,
          },
        }
      : {}),
  };
}

/** Connect once as `user` (to one node, or to any), without reconnecting: a check, not a client. */
async function loginOnce(access: Access, user: string, timeoutMs: number, name: string, node?: NatsNode) {
  const endpoint = { ...natsEndpoint(access, user), ...(node ? { servers: `${node.host}:${node.port}` } : {}) };
  return natsConnect(endpoint, { name, reconnect: false, timeoutMs });
}

/** This node answers as admin and its JetStream serves the account: in a cluster, a meta leader exists (a quorum). */
async function natsSession(access: Access, timeoutMs: number, instance?: string): Promise<ProbeSession> {
  const nc = await loginOnce(access, 'admin', timeoutMs, 'dataplane-probe', natsNode(access.config, instance));
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    return {
      async probe() {
        const started = performance.now();
        await jsm.getAccountInfo();
        return { version: nc.info?.version ?? 'unknown', latencyMs: performance.now() - started };
      },
      close: () => nc.close().catch(() => {}),
    };
  } catch (e) {
    await nc.close().catch(() => {});
    throw e;
  }
}

export const natsDriver: ServerDriver = {
  name: 'nats',

  instances: (config) => natsNodes(config).map((n) => n.instance),

  async locate() {
    const server = requireBinary(REQUIREMENTS.natsServer);
    const r = await versionOutput(server, ['--version']);
    const v = parseVersion(r.stdout + r.stderr);
    const min = NATS_SERVER_DEB.minVersion;
    if (!v || !atLeast(v, min)) {
      throw new BinaryNotFoundError(`nats-server ${min.join('.')}+`, `${server} reports "${(r.stdout + r.stderr).trim()}"; \`dataplane up\` as root installs ${NATS_SERVER_DEB.package} ${NATS_SERVER_DEB.version} from Debian ${NATS_SERVER_DEB.release} (docs/deployment.md, "nats-server 2.10 from Debian trixie")`);
    }
    return { server, version: v.join('.') };
  },

  ports: (config) =>
    natsNodes(config).flatMap((n) => [
      { host: n.host, port: n.port, configPath: 'nats.port' },
      ...(n.monitorPort && natsMonitoringServed(config) ? [{ host: n.host, port: n.monitorPort, configPath: 'nats.monitorPort' }] : []),
      ...(n.clusterPort !== undefined ? [{ host: n.host, port: n.clusterPort, configPath: 'nats.cluster.port' }] : []),
    ]),

  address: (config, instance) => {
    const n = natsNode(config, instance);
    return `${n.host}:${n.port}`;
  },

  render: renderNats,

  async prepare(ctx) {
    const p = ctx.paths.natsNode(ctx.instance);
    privateDir(p.dir, ctx.user);
    privateDir(p.jetstream, ctx.user);
    // The CA verifies the other nodes' route certificates (mutual TLS in a cluster).
    if (ctx.tls) installServerCert(p.tls, ctx.tls.servers.nats, ctx.user, ctx.tls.caFile);
    writeServerFiles(
      p.dir,
      ctx.files.filter((f) => f.service === ctx.instance),
      ctx.user,
    );
  },

  command: (ctx) => {
    const p = ctx.paths.natsNode(ctx.instance);
    return { bin: ctx.binaries.server, args: ['-c', p.conf], cwd: p.dir };
  },

  probe: (access, timeoutMs = 2000, instance) => probeOnce(() => natsSession(access, timeoutMs, instance)),
  session: natsSession,

  async stuck(access, instance) {
    const nc = await loginOnce(access, 'admin', 2000, 'dataplane-watchdog', natsNode(access.config, instance)).catch(() => undefined);
    if (!nc) return undefined;
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
      return undefined;
    } catch (e) {
      // nats-server disables JetStream when a write fails for lack of space ("JetStream out of
      // resources, will be DISABLED") and enables it again only when it starts. (The client's
      // error class is not exported; its name is.)
      return (e as Error).name === 'JetStreamNotEnabled' ? 'JetStream is disabled (nats-server turns it off when its disk fills up); a restart turns it on again' : undefined;
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

  restartWhenUnresponsive: true,

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
