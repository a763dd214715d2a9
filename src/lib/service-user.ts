/**
 * The unprivileged identity servers run as. PostgreSQL refuses to run as root, and
 * least privilege says Redis and NATS should not either: when dataplane runs as
 * root, every server runs as `runAs` (created when missing); otherwise as the
 * current user.
 */
import { chmodSync, chownSync, lstatSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PermissionProblemError } from '../errors/index.js';
import { run } from './process.js';

export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
  /** true when dataplane is root and drops privileges for the servers */
  dropsPrivileges: boolean;
}

export class ServiceUserError extends PermissionProblemError {}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function lookup(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const r = await run('getent', ['passwd', name]);
  if (r.code !== 0) return undefined;
  const fields = r.stdout.trim().split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

export async function resolveServiceUser(runAs: string, onProgress?: (msg: string) => void): Promise<ServiceUser> {
  if (!isRoot()) {
    const me = os.userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid, dropsPrivileges: false };
  }
  let ids = await lookup(runAs);
  if (!ids) {
    onProgress?.(`creating system user ${runAs} to run the servers`);
    const r = await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', runAs]);
    // Another `up` may have created it at the same moment (exit code 9: already exists).
    if (r.code !== 0 && r.code !== 9) {
      throw new ServiceUserError(`could not create the system user ${runAs}: ${r.stderr.trim()}`, {
        hint: `create it yourself: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${runAs}`,
      });
    }
    ids = await lookup(runAs);
    if (!ids) throw new ServiceUserError(`system user ${runAs} is missing after useradd`);
  }
  return { name: runAs, ...ids, dropsPrivileges: true };
}

function canSearch(st: { mode: number; uid: number; gid: number }, user: ServiceUser): boolean {
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/**
 * Make every ancestor of `target` searchable (x, not readable) by the service user,
 * e.g. a checkout under a 0700 temporary folder. Returns the folders it changed.
 */
export function ensureTraversable(target: string, user: ServiceUser): string[] {
  if (!user.dropsPrivileges) return [];
  const changed: string[] = [];
  let dir = path.resolve(target);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of chain) {
    let st;
    try {
      st = statSync(d);
    } catch {
      break; // the rest does not exist yet and will be created with the right owner
    }
    if (!st.isDirectory() || canSearch(st, user)) continue;
    chmodSync(d, (st.mode & 0o7777) | 0o001);
    changed.push(d);
  }
  return changed;
}

/**
 * Hand paths dataplane created (server folders, rendered files) to the service user.
 * Not recursive: what the servers create inside is theirs already, and a large data
 * directory should not be walked on every start.
 */
export function chownToServiceUser(paths: string[], user: ServiceUser): void {
  if (!user.dropsPrivileges) return;
  for (const p of paths) {
    const st = lstatSync(p);
    if (st.uid !== user.uid || st.gid !== user.gid) chownSync(p, user.uid, user.gid);
  }
}
