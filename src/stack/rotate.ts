/**
 * Rotation on a running stack, without restarting PostgreSQL or anything else.
 *
 * Credentials switch immediately: the server accepts only the new secret for new
 * logins; sessions already open stay open. The new secret is in secrets.json when
 * the command returns. Certificates: new ones are issued and every server loads
 * them in place.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';
import { redisAclHash, scramSha256Verifier } from '../secrets/hashes.js';
import { generateSecret, readSecrets, secretEnvName, secretFor, SecretsError, storeSecret, type SecretService, type Secrets } from '../secrets/store.js';
import { serviceUsers } from '../secrets/identities.js';
import { isRecordAlive, readPidFile } from '../lib/process.js';
import { redisAdminClient } from '../servers/redis.js';
import { monitoringGet, monitorUrl } from '../servers/monitoring.js';
import { clientFor, withClient } from '../postgres/clients.js';
import { ensureCertificates, type EnsureResult } from '../tls/certificates.js';
import { natsTls, redisEndpoint } from '../connect/tls-options.js';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { liveSupervisor, readSupervisorState } from './state.js';

export class ReloadError extends DataplaneError {
  readonly code = 'RELOAD_FAILED';
}

function running(config: Config, service: SecretService): boolean {
  // The monitoring login guards Prometheus, Alertmanager and the exporters: live when Prometheus runs.
  const rec = readPidFile(statePaths(config).pidFile(service === 'monitoring' ? 'prometheus' : service));
  return Boolean(rec && isRecordAlive(rec));
}

/** Ask the supervisor to reload (SIGHUP) and wait for its answer in supervisor.json. */
export async function reloadStack(config: Config, timeoutMs = 30_000): Promise<'reloaded' | 'not running'> {
  const paths = statePaths(config);
  const sup = liveSupervisor(paths);
  if (!sup) return 'not running';
  const asked = Date.now();
  process.kill(sup.pid, 'SIGHUP');
  const deadline = asked + timeoutMs;
  while (Date.now() < deadline) {
    const last = readSupervisorState(paths)?.lastReload;
    if (last && Date.parse(last.at) >= asked - 5) {
      if (!last.ok) throw new ReloadError(`the servers could not reload: ${last.error}`, { hint: 'see `dataplane logs supervisor`' });
      return 'reloaded';
    }
    await sleep(100);
  }
  throw new ReloadError(`the supervisor did not confirm the reload within ${timeoutMs} ms`, { hint: 'see `dataplane logs supervisor`' });
}

export interface RotationResult {
  service: SecretService;
  user: string;
  /** applied to the running server (false: stored, applied at the next `up`) */
  live: boolean;
}

export async function rotateCredential(config: Config, service: SecretService, user: string, env: NodeJS.ProcessEnv = process.env): Promise<RotationResult> {
  if (!serviceUsers(config).some((u) => u.service === service && u.user === user)) {
    const known = serviceUsers(config).filter((u) => u.service === service).map((u) => u.user);
    throw new InvalidArgumentError(`${service} has no login ${user}; it has ${known.join(', ')}`);
  }
  // Refuse before touching the server: a secret the environment provides cannot be stored.
  const envName = secretEnvName(service, user);
  if (env[envName] !== undefined) {
    throw new SecretsError(`the ${service} password of ${user} comes from ${envName}`, { hint: `change ${envName} where it is set, then run \`dataplane up\`` });
  }
  const secrets = readSecrets(config, env);
  const next = generateSecret();
  const live = running(config, service);
  // Apply with the current credentials first: the login doing it may be the one rotated.
  if (live && service === 'postgres') {
    await withClient(clientFor(config, secrets, config.postgres.superuser, { database: 'postgres' }), (c) =>
      c.query(`alter role "${user}" password ${c.escapeLiteral(scramSha256Verifier(next))}`),
    );
  }
  if (live && service === 'redis') {
    const admin = redisAdminClient(config, secrets, 5000);
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.call('ACL', 'SETUSER', user, 'resetpass', redisAclHash(next));
    } finally {
      await admin.quit().catch(() => admin.disconnect());
    }
  }
  storeSecret(config, service, user, next);
  // The supervisor re-reads secrets and rewrites server files; NATS takes the new
  // password from its reloaded configuration.
  const reloaded = live ? await reloadStack(config) : 'not running';
  if (live && (service === 'nats' || service === 'monitoring') && reloaded !== 'reloaded') {
    throw new ReloadError(`${service === 'nats' ? 'NATS runs' : 'the monitoring runs'} without a supervisor; the new password applies at the next \`dataplane up\``);
  }
  if (live) await verifyLogin(config, service, user, readSecrets(config, env));
  return { service, user, live };
}

/** Log in as the rotated identity with its new secret: the rotation worked end to end. */
async function verifyLogin(config: Config, service: SecretService, user: string, secrets: Secrets): Promise<void> {
  const password = secretFor(secrets, service, user);
  if (service === 'monitoring') {
    // Prometheus re-reads web.yml on every request; SIGHUP has made it re-read its password file.
    let last: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        await (await monitoringGet(config, secrets, `${monitorUrl(config, 'prometheus')}/-/ready`)).arrayBuffer();
        return;
      } catch (e) {
        last = e;
        await sleep(100);
      }
    }
    throw last;
  }
  if (service === 'postgres') {
    const database = user === config.postgres.superuser ? 'postgres' : config.postgres.database;
    await withClient(clientFor(config, secrets, user, { database }), (c) => c.query('select 1'));
  } else if (service === 'redis') {
    const r = new Redis({ host: config.redis.host, ...redisEndpoint(config), username: user, password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.ping();
    } finally {
      await r.quit().catch(() => r.disconnect());
    }
  } else {
    // NATS applies a reload asynchronously after the signal; give it a moment.
    let last: unknown;
    for (let i = 0; i < 20; i++) {
      try {
        const nc = await connect({ servers: `${config.nats.host}:${config.nats.port}`, user, pass: password, reconnect: false, timeout: 2000, ...(natsTls(config) ? { tls: natsTls(config)! } : {}) });
        await nc.close();
        return;
      } catch (e) {
        last = e;
        await sleep(100);
      }
    }
    throw last;
  }
}

export async function rotateCertificates(config: Config, opts: { newCa?: boolean; onProgress?: (m: string) => void } = {}): Promise<EnsureResult & { reloaded: boolean }> {
  const result = await ensureCertificates(config, { force: true, newCa: opts.newCa ?? false, onProgress: opts.onProgress ?? (() => {}) });
  const reloaded = (await reloadStack(config)) === 'reloaded';
  return { ...result, reloaded };
}
