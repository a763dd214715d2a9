/** Writing server-owned files and folders with the right owner and mode. */
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RenderedFile } from '../render/context.js';
import type { ServerCert } from '../tls/certificates.js';
import { chownToServiceUser, type ServiceUser } from '../lib/service-user.js';

/** A folder only the service user may enter (its data lives there). */
export function privateDir(dir: string, user: ServiceUser): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  chownToServiceUser([dir], user);
}

/** Rendered config files: 0600, owned by the service user (they hold password hashes). */
export function writeServerFiles(dir: string, files: RenderedFile[], user: ServiceUser): void {
  for (const f of files) {
    const p = path.join(dir, f.name);
    writeFileSync(p, f.content, { mode: 0o600 });
    chmodSync(p, 0o600);
    chownToServiceUser([p], user);
  }
}

/**
 * Copy a server's certificate and key where only its service user reads the key
 * (PostgreSQL refuses a key file that others can read).
 */
export function installServerCert(dir: string, cert: ServerCert, user: ServiceUser, caFile?: string): void {
  privateDir(dir, user);
  const crt = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  copyFileSync(cert.certFile, crt);
  chmodSync(crt, 0o644);
  copyFileSync(cert.keyFile, key);
  chmodSync(key, 0o600);
  const files = [crt, key];
  // Servers that verify their peers (NATS routes, Redis replication, Sentinel) need the CA too.
  if (caFile) {
    const ca = path.join(dir, 'ca.crt');
    copyFileSync(caFile, ca);
    chmodSync(ca, 0o644);
    files.push(ca);
  }
  chownToServiceUser(files, user);
}
