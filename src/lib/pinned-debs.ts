/**
 * A Debian package taken from a later Debian release than the machine's, pinned to one
 * file per architecture by its SHA-256 (from that release's signed package index), so
 * what gets installed is exactly what was tested.
 *
 * Only nats-server: bookworm ships 2.9.10, whose Raft layer has since had fixes for
 * losing committed entries around elections and catch-ups ("Correct pterm if mismatched
 * & don't truncate what was already committed", "Vote request cancels catchup"). Our
 * three-host test lost acknowledged JetStream messages on 2.9.10 when a host was cut off
 * and came back (docs/deployment.md, "nats-server 2.10 from Debian trixie").
 * trixie's build is a Go binary that needs only libc6 >= 2.34 (bookworm has 2.36) and
 * adduser.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PackageInstallError } from '../errors/index.js';

export interface PinnedDeb {
  package: string;
  /** the Debian version, as apt shows it */
  version: string;
  /** the lowest upstream version that is good enough (a newer one found on the machine is kept) */
  minVersion: [number, number, number];
  release: string;
  files: Record<string, { path: string; sha256: string }>;
}

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

export const NATS_SERVER_DEB: PinnedDeb = {
  package: 'nats-server',
  version: '2.10.27-1+b2',
  minVersion: [2, 10, 27],
  release: 'trixie',
  files: {
    amd64: { path: 'pool/main/n/nats-server/nats-server_2.10.27-1+b2_amd64.deb', sha256: '6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a' },
    arm64: { path: 'pool/main/n/nats-server/nats-server_2.10.27-1+b2_arm64.deb', sha256: '0c9a617510b28c1b4fb4a38aabea6ab8cd7f026247f2abdff8b955b2278ce049' },
  },
};

/** How apt names it in messages: `nats-server 2.10.27-1+b2 from Debian trixie`. */
export const pinnedLabel = (deb: PinnedDeb): string => `${deb.package} ${deb.version} from Debian ${deb.release}`;

/** Debian's name for this machine's architecture, from Node's (where dpkg cannot be asked). */
export const nodeArchAsDebian = (arch: string = process.arch): string => (arch === 'x64' ? 'amd64' : arch);

/** The version a binary printed (`v2.10.27`, `nats-server: v2.9.10`), as numbers. */
export function parseVersion(text: string): [number, number, number] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function atLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
  return true;
}

export function pinnedFile(deb: PinnedDeb, arch: string): { url: string; sha256: string; name: string } {
  const f = deb.files[arch];
  if (!f) throw new PackageInstallError([pinnedLabel(deb)], `pinned for ${Object.keys(deb.files).join(' and ')} only, not ${arch}`, `${deb.package} ${deb.minVersion.join('.')} or newer from your distribution or upstream`);
  return { url: `${DEBIAN_MIRROR}/${f.path}`, sha256: f.sha256, name: path.basename(f.path) };
}

/** The command a person runs to install it by hand (for error messages and docs). */
export function manualInstall(deb: PinnedDeb, arch: string): string {
  const f = pinnedFile(deb, arch);
  return `curl -fsSLO ${f.url} && echo '${f.sha256}  ${f.name}' | sha256sum -c - && apt-get install -y ./${f.name}`;
}

/**
 * Downloads the pinned file into a new temporary folder and checks its SHA-256 before
 * anything installs it; returns its path. Plain HTTP is enough because of the check,
 * as it is for apt itself.
 */
export async function downloadPinnedDeb(deb: PinnedDeb, arch: string): Promise<string> {
  const f = pinnedFile(deb, arch);
  const fail = (reason: string) => new PackageInstallError([pinnedLabel(deb)], reason, manualInstall(deb, arch));
  const res = await fetch(f.url, { signal: AbortSignal.timeout(120_000) }).catch((e: Error) => {
    throw fail(`${f.url}: ${e.message}`);
  });
  if (!res.ok) throw fail(`${f.url} answered ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  const sum = createHash('sha256').update(body).digest('hex');
  if (sum !== f.sha256) throw fail(`${f.url} has SHA-256 ${sum}, not the pinned ${f.sha256}: not installed`);
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'dataplane-deb-')), f.name);
  writeFileSync(file, body);
  return file;
}
