/**
 * Generated credentials, kept in <stateDir>/secrets.json with mode 0600.
 *
 * A value may instead come from DATAPLANE_SECRET_<SERVICE>_<USER> (e.g.
 * DATAPLANE_SECRET_REDIS_APP); such values are used, never written to the file.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { DataplaneError } from '../errors/index.js';
import { writeFileAtomic } from '../lib/files.js';
import { natsBcryptMemo, rememberNatsBcrypt } from './hashes.js';
import { serviceUsers, type SecretService } from './identities.js';

export type { SecretService } from './identities.js';

export type Secrets = Partial<Record<SecretService, Record<string, string>>>;

/** A credential is missing, unreadable, or given in a form the store refuses. */
export class SecretsError extends DataplaneError {
  readonly code = 'SECRETS';
}

const SECRET_RE = /^[\x21-\x7e]{16,256}$/;

export function secretsFile(config: Config): string {
  return statePaths(config).secrets;
}

export function secretEnvName(service: SecretService, user: string): string {
  return `DATAPLANE_SECRET_${service.toUpperCase()}_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** 24 random bytes: 192 bits, URL-safe so connection URLs need no escaping. */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

function readFile(file: string): Secrets {
  const st = statSync(file);
  if ((st.mode & 0o077) !== 0) {
    // Someone loosened it; tighten rather than keep serving secrets to others.
    chmodSync(file, 0o600);
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
  } catch (e) {
    throw new SecretsError(`${file} is not valid JSON: ${(e as Error).message}`, {
      hint: 'restore it from a backup; without it the servers cannot be reached with their generated passwords',
    });
  }
}

function writeJson(file: string, data: unknown): void {
  writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n');
}

/** DATAPLANE_SECRET_* values by variable name, as the config loader read them from the environment. */
export type SecretOverrides = Readonly<Record<string, string | undefined>>;

function resolve(config: Config, env: SecretOverrides, create: boolean): Secrets {
  const file = secretsFile(config);
  const exists = existsSync(file);
  if (!exists && !create) {
    throw new SecretsError(`no credentials yet: ${file} does not exist`, { hint: '`dataplane up` generates them on first start' });
  }
  const stored: Secrets = exists ? readFile(file) : {};
  const out: Secrets = {};
  const fromEnvironment = new Set<string>();
  let dirty = false;
  for (const { service, user } of serviceUsers(config)) {
    const envName = secretEnvName(service, user);
    const fromEnv = env[envName];
    let value: string | undefined;
    if (fromEnv !== undefined) {
      if (!SECRET_RE.test(fromEnv)) {
        throw new SecretsError(`${envName} must be 16 to 256 printable ASCII characters without spaces`);
      }
      value = fromEnv;
      fromEnvironment.add(`${service}/${user}`);
    } else {
      value = stored[service]?.[user];
      if (value === undefined && create) {
        value = generateSecret();
        (stored[service] ??= {})[user] = value;
        dirty = true;
      }
    }
    if (value !== undefined) (out[service] ??= {})[user] = value;
  }
  if (dirty) writeJson(file, stored);
  supplied.set(out, fromEnvironment);
  return out;
}

/**
 * Which secrets of a resolved set came from the environment. The others come from
 * secrets.json, where only dataplane writes: generated (192 random bits), rotated
 * (the same) or imported from another stack's file.
 */
const supplied = new WeakMap<Secrets, Set<string>>();

/** True only for a secret known to be generated; a set this module did not resolve says false. */
export function isGeneratedSecret(secrets: Secrets, service: SecretService, user: string): boolean {
  const env = supplied.get(secrets);
  return env !== undefined && !env.has(`${service}/${user}`);
}

/** Read secrets, generating any that are missing (first start). */
export function ensureSecrets(config: Config, env: SecretOverrides = {}): Secrets {
  return resolve(config, env, true);
}

/** Read secrets that must already exist (status, credentials, probes). */
export function readSecrets(config: Config, env: SecretOverrides = {}): Secrets {
  return resolve(config, env, false);
}

export function secretFor(secrets: Secrets, service: SecretService, user: string): string {
  const v = secrets[service]?.[user];
  if (v === undefined) throw new SecretsError(`no credential for ${service} user ${user}`);
  return v;
}

/** Replace one stored secret (rotation). */
export function storeSecret(config: Config, service: SecretService, user: string, value: string): void {
  const file = secretsFile(config);
  const stored: Secrets = existsSync(file) ? readFile(file) : {};
  (stored[service] ??= {})[user] = value;
  writeJson(file, stored);
}

/** Install a whole set of secrets (credentials import); 0600, atomically. */
export function replaceSecrets(config: Config, secrets: Secrets): void {
  writeJson(secretsFile(config), secrets);
}

/** The stored secrets as they are (credentials import compares against them); undefined before the first start. */
export function storedSecrets(config: Config): Secrets | undefined {
  const file = secretsFile(config);
  return existsSync(file) ? readFile(file) : undefined;
}

/** Where the NATS bcrypt memo lives (secrets/hashes.ts): next to the secrets file, 0600. */
function bcryptMemoFile(config: Config): string {
  return path.join(path.dirname(secretsFile(config)), 'nats-bcrypt.json');
}

export function loadNatsBcryptMemo(config: Config): void {
  try {
    rememberNatsBcrypt(JSON.parse(readFileSync(bcryptMemoFile(config), 'utf8')) as Record<string, string>);
  } catch {
    /* none yet, or unreadable: the hashes are made again */
  }
}

export function saveNatsBcryptMemo(config: Config, secrets: Secrets): void {
  writeJson(bcryptMemoFile(config), natsBcryptMemo(Object.values(secrets.nats ?? {})));
}
