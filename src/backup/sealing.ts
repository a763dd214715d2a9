/**
 * Which backups are encrypted and with what they open: new backups are sealed to
 * backup.encryption.recipients; a backup whose manifest says it is encrypted opens
 * only with backup.encryption.identityFile (read when needed, never stored here).
 */
import type { Config } from '../config/schema.js';
import { readIdentityFile } from '../lib/age.js';
import type { BackupManifest } from './catalog.js';
import { BackupError } from './errors.js';
import type { Sealing } from './files.js';

/** How new backup files are written. */
export function sealingForWrite(config: Config): Sealing | undefined {
  const r = config.backup.encryption.recipients;
  return r.length ? { recipients: r } : undefined;
}

/** The manifest's record of it: which recipients a backup was encrypted to. */
export function encryptionRecord(config: Config): BackupManifest['encryption'] {
  const r = config.backup.encryption.recipients;
  return r.length ? { format: 'age', recipients: r } : undefined;
}

/** The identities to read an encrypted backup with; undefined for a plain one. */
export function sealingForRead(config: Config, manifest: Pick<BackupManifest, 'label' | 'encryption'>): Sealing | undefined {
  if (!manifest.encryption) return undefined;
  const file = config.backup.encryption.identityFile;
  if (!file) {
    throw new BackupError(`backup ${manifest.label} is encrypted (age): it opens only with the key of one of its recipients`, {
      hint: 'set backup.encryption.identityFile to that private key file (mode 0600)',
    });
  }
  return { identities: readIdentityFile(file) };
}

/** The name a file of a backup has on disk: `.age` appended when the backup is encrypted. */
export function sealedName(manifest: Pick<BackupManifest, 'encryption'>, name: string): string {
  return manifest.encryption ? `${name}.age` : name;
}
