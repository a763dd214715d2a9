/**
 * Credentials for the team's secure repository: every login's connection URL and
 * password, the secrets as `up` reads them, and the CA certificate, in one file
 * encrypted to the team's age keys. Importing it on another machine installs the
 * secrets, so that `up` there logs in with the same passwords.
 *
 * The export is recorded (when, where, a digest of the secrets then): after a
 * rotation the digest differs, and `credentials`, `credentials rotate` and `doctor`
 * say the copy in the repository is stale until it is exported again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync, renameSync } from 'node:fs';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess } from '../connect/access.js';
import { credentialsFor, type Credential } from '../connect/credentials.js';
import { decryptArmored, encryptArmored, EncryptionError, readIdentityFile } from '../lib/age.js';
import { replaceSecrets, storedSecrets, SecretsError, type Secrets } from '../secrets/store.js';
import { tlsFiles } from '../tls/certificates.js';

const FORMAT = 'dataplane-credentials';

export interface CredentialsBundle {
  format: typeof FORMAT;
  version: 1;
  exportedAt: string;
  /** Which stack: its NATS server name and profile, to recognise the file. */
  stack: { name: string; profile: string; topology: string };
  secrets: Secrets;
  credentials: Credential[];
  /** PEM of the CA clients verify the servers with; null with TLS off. */
  caCertificate: string | null;
}

interface ExportRecord {
  /** export: made here; import: installed here from a file */
  kind: 'export' | 'import';
  at: string;
  file: string;
  recipients: string[];
  digest: string;
}

export interface ExportState {
  kind: 'export' | 'import';
  at: string;
  file: string;
  /** the secrets changed since (a rotation): the copy in the repository is out of date */
  stale: boolean;
}

/** Order-independent digest of a set of secrets. */
function digestOf(secrets: Secrets): string {
  const flat = Object.entries(secrets)
    .flatMap(([service, users]) => Object.entries(users ?? {}).map(([user, v]) => `${service}\0${user}\0${v}`))
    .sort();
  return createHash('sha256').update(flat.join('\n')).digest('hex');
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function record(config: Config, r: ExportRecord): void {
  writePrivate(statePaths(config).credentialsExport, JSON.stringify(r, null, 2) + '\n');
}

/** The last export or import and whether the secrets changed since; null when there was none. */
export function exportState(config: Config, secrets: Secrets): ExportState | null {
  const file = statePaths(config).credentialsExport;
  if (!existsSync(file)) return null;
  const r = JSON.parse(readFileSync(file, 'utf8')) as ExportRecord;
  return { kind: r.kind, at: r.at, file: r.file, stale: r.digest !== digestOf(secrets) };
}

/** One line for people: undefined while the export is current (or there is none). */
export function staleExportNotice(state: ExportState | null): string | undefined {
  if (!state?.stale) return undefined;
  return `the credentials ${state.kind === 'export' ? 'exported' : 'imported'} ${state.at.slice(0, 16).replace('T', ' ')} (${state.file}) are stale: secrets changed since; export them again with \`dataplane credentials export\``;
}

export async function exportCredentials(config: Config, environment: RuntimeEnvironment | undefined, opts: { recipients: string[]; out: string }): Promise<{ file: string; logins: number; recipients: number }> {
  const { secrets } = resolveAccess({ config, environment });
  const ca = config.tls.enabled && existsSync(tlsFiles(config).caFile) ? readFileSync(tlsFiles(config).caFile, 'utf8') : null;
  const bundle: CredentialsBundle = {
    format: FORMAT,
    version: 1,
    exportedAt: new Date().toISOString(),
    stack: { name: config.nats.serverName, profile: config.profile, topology: config.topology },
    secrets,
    credentials: credentialsFor(config, secrets, { reveal: true }),
    caCertificate: ca,
  };
  const text = await encryptArmored(JSON.stringify(bundle, null, 2) + '\n', opts.recipients);
  const file = path.resolve(opts.out);
  // Encrypted, but still nobody else's business.
  writePrivate(file, text);
  record(config, { kind: 'export', at: bundle.exportedAt, file, recipients: opts.recipients, digest: digestOf(secrets) });
  return { file, logins: bundle.credentials.length, recipients: opts.recipients.length };
}

/** Decrypt and check a credentials file; nothing is written. */
export async function readCredentialsFile(file: string, identityFile: string): Promise<CredentialsBundle> {
  const identities = readIdentityFile(identityFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EncryptionError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const plain = await decryptArmored(text, identities, file);
  let bundle: CredentialsBundle;
  try {
    bundle = JSON.parse(plain) as CredentialsBundle;
  } catch {
    throw new EncryptionError(`${file} decrypts, but is not a dataplane credentials file`);
  }
  if (bundle.format !== FORMAT || bundle.version !== 1 || typeof bundle.secrets !== 'object') {
    throw new EncryptionError(`${file} decrypts, but is not a dataplane credentials file (version 1)`);
  }
  return bundle;
}

/**
 * Install the secrets of a credentials file. A stack that has secrets of its own
 * keeps them unless `replace`: its servers were set up with those passwords.
 */
export async function importCredentials(config: Config, opts: { file: string; identityFile: string; replace?: boolean }): Promise<{ logins: number; exportedAt: string; replaced: boolean }> {
  const bundle = await readCredentialsFile(opts.file, opts.identityFile);
  const current = storedSecrets(config);
  const differs = current !== undefined && digestOf(current) !== digestOf(bundle.secrets);
  if (differs && !opts.replace) {
    throw new SecretsError(`this stack has credentials of its own (${statePaths(config).secrets}) that differ from the file's`, {
      hint: 'import before the first `dataplane up`, or pass --replace (servers that already run keep their passwords until `dataplane credentials rotate`)',
    });
  }
  replaceSecrets(config, bundle.secrets);
  record(config, { kind: 'import', at: new Date().toISOString(), file: path.resolve(opts.file), recipients: [], digest: digestOf(bundle.secrets) });
  const logins = Object.values(bundle.secrets).reduce((n, users) => n + Object.keys(users ?? {}).length, 0);
  return { logins, exportedAt: bundle.exportedAt, replaced: differs };
}
