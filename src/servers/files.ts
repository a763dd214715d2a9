/** Writing server-owned files and folders with the right owner and mode. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RenderedFile } from '../render/context.js';
import { chownToServiceUser, type ServiceUser } from './service-user.js';

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
