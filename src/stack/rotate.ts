/**
 * Rotation on a running stack, without restarting PostgreSQL or anything else.
 *
 * Credentials switch immediately: the server accepts only the new secret for new
 * logins; sessions already open stay open. The new secret is in secrets.json when
 * the command returns. Certificates: new ones are issued and every server loads
 * them in place. What is particular to each server is its driver's (credentials).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess } from '../connect/access.js';
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';
import { isRecordAlive, readPidFile } from '../lib/process.js';
import { serviceUsers, type SecretService } from '../secrets/identities.js';
import { generateSecret, secretEnvName, SecretsError, storeSecret } from '../secrets/store.js';
import { credentialsOwner } from '../servers/index.js';
import { ensureCertificates, type EnsureResult } from '../tls/certificates.js';
import { liveSupervisor, readSupervisorState } from './state.js';

export class ReloadError extends DataplaneError {
  readonly code = 'RELOAD_FAILED';
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

/** Retry `check` for a few seconds: a server applies a reloaded configuration asynchronously after the signal. */
async function eventually(check: () => Promise<void>, attempts = 50, everyMs = 100): Promise<void> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await check();
    } catch (e) {
      last = e;
      await sleep(everyMs);
    }
  }
  throw last;
}

/**
 * A new secret for one login. `environment` is what the config loader read: a login
 * whose secret comes from DATAPLANE_SECRET_* cannot be rotated here.
 */
export async function rotateCredential(config: Config, service: SecretService, user: string, environment?: RuntimeEnvironment): Promise<RotationResult> {
  if (!serviceUsers(config).some((u) => u.service === service && u.user === user)) {
    const known = serviceUsers(config).filter((u) => u.service === service).map((u) => u.user);
    throw new InvalidArgumentError(`${service} has no login ${user}; it has ${known.join(', ')}`);
  }
  // Refuse before touching the server: a secret the environment provides cannot be stored.
  const envName = secretEnvName(service, user);
  if (environment?.secrets[envName] !== undefined) {
    throw new SecretsError(`the ${service} password of ${user} comes from ${envName}`, { hint: `change ${envName} where it is set, then run \`dataplane up\`` });
  }
  const before = resolveAccess({ config, environment });
  const next = generateSecret();
  const { process: owner, owner: credentials } = credentialsOwner(service);
  const rec = readPidFile(statePaths(config).pidFile(owner));
  const live = Boolean(rec && isRecordAlive(rec));
  // Apply with the current credentials first: the login doing it may be the one rotated.
  if (live && credentials.setPassword) await credentials.setPassword(before, user, next);
  storeSecret(config, service, user, next);
  // The supervisor re-reads secrets and rewrites server files; servers without
  // setPassword (NATS, the monitoring endpoints) take the new one from there.
  const reloaded = live ? await reloadStack(config) : 'not running';
  if (live && !credentials.setPassword && reloaded !== 'reloaded') {
    throw new ReloadError(`${owner} runs without a supervisor; the new password applies at the next \`dataplane up\``);
  }
  if (live) {
    const after = resolveAccess({ config, environment });
    // Log in as the rotated identity with its new secret: the rotation worked end to end.
    await (credentials.setPassword ? credentials.verifyLogin(after, user) : eventually(() => credentials.verifyLogin(after, user)));
  }
  return { service, user, live };
}

export async function rotateCertificates(config: Config, opts: { newCa?: boolean; onProgress?: (m: string) => void } = {}): Promise<EnsureResult & { reloaded: boolean }> {
  const result = await ensureCertificates(config, { force: true, newCa: opts.newCa ?? false, onProgress: opts.onProgress ?? (() => {}) });
  const reloaded = (await reloadStack(config)) === 'reloaded';
  return { ...result, reloaded };
}
