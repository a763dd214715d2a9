/**
 * NATS with JetStream from Debian's nats-server. Runs `nats-server -c nats.conf`
 * in the foreground; SIGTERM shuts it down after flushing JetStream.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { BinaryNotFoundError } from '../errors/index.js';
import { secretFor } from '../secrets/store.js';
import { natsTls } from '../connect/tls-options.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run, terminate } from '../lib/process.js';
import type { ServerDriver } from './types.js';

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

  async probe(config, secrets, timeoutMs = 2000) {
    const started = performance.now();
    const nc = await connect({
      servers: `${config.nats.host}:${config.nats.port}`,
      user: 'admin',
      pass: secretFor(secrets, 'nats', 'admin'),
      ...(natsTls(config) ? { tls: natsTls(config)! } : {}),
      reconnect: false,
      timeout: timeoutMs,
      name: 'dataplane-probe',
    });
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

  async stop(_ctx, rec, timeoutMs) {
    await terminate(rec, 'SIGTERM', timeoutMs);
  },
};
