/**
 * Debian packages that provide the servers and tools. Missing ones are installed
 * when we may (root with apt-get); otherwise the error names the exact command.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { BinaryNotFoundError, PackageInstallError } from '../errors/index.js';
import { writeFileAtomic } from './files.js';
import { atLeast, downloadPinnedDeb, manualInstall, NATS_SERVER_DEB, nodeArchAsDebian, parseVersion, pinnedLabel, type PinnedDeb } from './pinned-debs.js';
import { run, SEARCH_PATH } from './process.js';

export interface Requirement {
  binary: string;
  package: string;
  /** how the binary prints its version (default --version) */
  versionArgs?: string[];
  /** installed from this pinned file rather than the machine's own release; an older binary counts as missing */
  pinned?: PinnedDeb;
}

export const REQUIREMENTS = {
  redisServer: { binary: 'redis-server', package: 'redis-server' },
  redisCli: { binary: 'redis-cli', package: 'redis-tools' },
  redisSentinel: { binary: 'redis-sentinel', package: 'redis-sentinel' },
  natsServer: { binary: 'nats-server', package: 'nats-server', pinned: NATS_SERVER_DEB },
  psql: { binary: 'psql', package: 'postgresql-client-15' },
  openssl: { binary: 'openssl', package: 'openssl', versionArgs: ['version'] },
  /** for applying the rendered firewall ruleset on a host, and its test */
  nft: { binary: 'nft', package: 'nftables', versionArgs: ['--version'] },
  ip: { binary: 'ip', package: 'iproute2', versionArgs: ['-V'] },
  /** ha PostgreSQL: Patroni, its store, and the stable address in front */
  patroni: { binary: 'patroni', package: 'patroni' },
  /** Patroni's HTTP client needs it for TLS host names; Debian's patroni only suggests it */
  patroniIdna: { binary: '/usr/bin/python3', package: 'python3-idna', versionArgs: ['-c', 'import idna'] },
  etcd: { binary: 'etcd', package: 'etcd-server', versionArgs: ['--version'] },
  haproxy: { binary: 'haproxy', package: 'haproxy', versionArgs: ['-v'] },
  /**
   * Patroni needs pg_controldata and pg_isready beside the server; the embedded 16 has
   * neither. Debian's 15 read a 16 data directory (same control file version) and server.
   */
  pgControldata: { binary: '/usr/lib/postgresql/15/bin/pg_controldata', package: 'postgresql-15', versionArgs: ['--version'] },
  pgIsready: { binary: '/usr/lib/postgresql/15/bin/pg_isready', package: 'postgresql-client-15', versionArgs: ['--version'] },
  /** the off-host copy of backups: rsync, over ssh for an SSH destination */
  rsync: { binary: 'rsync', package: 'rsync', versionArgs: ['--version'] },
  ssh: { binary: 'ssh', package: 'openssh-client', versionArgs: ['-V'] },
} satisfies Record<string, Requirement>;

export function findBinary(name: string): string | undefined {
  if (path.isAbsolute(name)) {
    try {
      accessSync(name, constants.X_OK);
      return name;
    } catch {
      return undefined;
    }
  }
  for (const dir of SEARCH_PATH) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/**
 * A binary that exists and answers `--version`. Debian's /usr/bin/psql, for one, is a
 * wrapper that stays behind when postgresql-client-15 is removed and then fails.
 */
export function findWorkingBinary(name: string, versionArgs = ['--version']): string | undefined {
  const found = findBinary(name);
  if (!found) return undefined;
  const known = remembered(found, versionArgs);
  if (known) return known.code === 0 ? found : undefined;
  const r = spawnSync(found, versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  remember(found, versionArgs, { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' });
  return r.status === 0 ? found : undefined;
}

/**
 * What a binary printed for its version, by path and arguments, while the file is the
 * same (inode, size, modification time): every start asked each binary twice (is it
 * there, which version) and each answer is a process start, about half a second of a
 * warm start in all. Kept across starts in the state folder (loadBinaryAnswers).
 */
interface Answer {
  code: number;
  stdout: string;
  stderr: string;
}
const answers = new Map<string, Answer & { stamp: string }>();
const answerKey = (binary: string, args: readonly string[]) => `${binary}\0${args.join(' ')}`;

function stampOf(binary: string): string | undefined {
  try {
    const s = statSync(binary);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
}

function remembered(binary: string, args: readonly string[]): Answer | undefined {
  const a = answers.get(answerKey(binary, args));
  return a && a.stamp === stampOf(binary) ? a : undefined;
}

function remember(binary: string, args: readonly string[], answer: Answer): void {
  const stamp = stampOf(binary);
  // Only a working binary's answer is kept: a failure is asked again next time.
  if (stamp && answer.code === 0) answers.set(answerKey(binary, args), { ...answer, stamp });
}

/** `binary --version` (or `args`): its exit code and output, asked once while the file stays the same. */
export async function versionOutput(binary: string, args: readonly string[] = ['--version']): Promise<Answer> {
  const known = remembered(binary, args);
  if (known) return known;
  const r = await run(binary, [...args], { timeoutMs: 10_000 }).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
  const answer = { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
  remember(binary, args, answer);
  return answer;
}

export function loadBinaryAnswers(file: string): void {
  try {
    for (const [k, v] of Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, Answer & { stamp: string }>)) answers.set(k, v);
  } catch {
    /* none yet: every binary is asked */
  }
}

export function saveBinaryAnswers(file: string): void {
  writeFileAtomic(file, JSON.stringify(Object.fromEntries(answers)) + '\n');
}

export function requireBinary(req: Requirement): string {
  const found = findWorkingBinary(req.binary, req.versionArgs);
  if (!found) throw new BinaryNotFoundError(req.binary, `install the Debian package: apt-get install -y ${req.package}`);
  return found;
}

function canInstall(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0 && findBinary('apt-get') !== undefined;
}

/**
 * Install the packages behind any missing binary. Progress goes to `onProgress`;
 * apt's own output is kept for the error message only.
 */
/** findWorkingBinary without blocking: the version checks of many binaries run at once. */
async function works(req: Requirement): Promise<boolean> {
  const found = findBinary(req.binary);
  if (!found) return false;
  const r = await versionOutput(found, req.versionArgs ?? ['--version']);
  if (r.code !== 0) return false;
  if (!req.pinned) return true;
  const v = parseVersion(r.stdout + r.stderr);
  return v !== undefined && atLeast(v, req.pinned.minVersion);
}

async function debianArch(): Promise<string> {
  const r = await run('dpkg', ['--print-architecture'], { timeoutMs: 10_000 });
  return r.stdout.trim() || nodeArchAsDebian();
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' ');

/**
 * `apt-get install` of packages or .deb files; when that fails, the package index is
 * refreshed once (a machine whose index was never fetched) and the install tried again.
 * Returns why it failed, or undefined.
 */
async function aptInstall(args: string[], env: Record<string, string>, onProgress: (msg: string) => void): Promise<string | undefined> {
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...args], { env });
  let r = await install();
  if (r.code !== 0) {
    onProgress('refreshing the package index (apt-get update)');
    const u = await run('apt-get', ['update', '-q'], { env });
    if (u.code !== 0) return lastLines(u.stderr);
    r = await install();
  }
  return r.code === 0 ? undefined : lastLines(r.stderr);
}

/** The pinned file of each requirement, downloaded and checked, then installed by apt (which brings its dependencies). */
async function installPinned(reqs: Requirement[], env: Record<string, string>, onProgress: (msg: string) => void): Promise<void> {
  const arch = await debianArch();
  for (const req of reqs) {
    const deb = req.pinned!;
    onProgress(`installing ${pinnedLabel(deb)} (pinned by SHA-256; first run only)`);
    const fail = (reason: string) => new PackageInstallError([pinnedLabel(deb)], reason, manualInstall(deb, arch));
    // Its own errors name the file and the manual command already.
    const file = await downloadPinnedDeb(deb, arch);
    const failed = await aptInstall([file], env, onProgress);
    rmSync(path.dirname(file), { recursive: true, force: true });
    if (failed) throw fail(failed);
    if (!(await works(req))) throw fail(`${req.binary} still older than ${deb.minVersion.join('.')} after install`);
  }
}

export async function ensurePackages(reqs: Requirement[], onProgress: (msg: string) => void = () => {}): Promise<void> {
  const unique = [...new Map(reqs.map((r) => [`${r.binary} ${(r.versionArgs ?? []).join(' ')}`, r])).values()];
  const ok = await Promise.all(unique.map(works));
  const missingAll = unique.filter((_, i) => !ok[i]);
  if (!missingAll.length) return;
  const pinned = missingAll.filter((r) => r.pinned);
  const missing = missingAll.filter((r) => !r.pinned);
  const pkgs = [...new Set(missing.map((r) => r.package))];
  if (!canInstall()) {
    const first = missingAll[0]!;
    const how = [
      ...(pkgs.length ? [`sudo apt-get install -y ${pkgs.join(' ')}`] : []),
      ...pinned.map((r) => `${r.pinned!.package} ${r.pinned!.minVersion.join('.')} or newer: ${manualInstall(r.pinned!, nodeArchAsDebian())}`),
    ];
    throw new BinaryNotFoundError(first.binary, `install as root: ${how.join('; ')}`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive', PATH: SEARCH_PATH.join(path.delimiter) };
  if (pinned.length) await installPinned(pinned, env, onProgress);
  if (!missing.length) return;
  onProgress(`installing Debian packages: ${pkgs.join(', ')} (first run only)`);
  const failed = await aptInstall(pkgs, env, onProgress);
  if (failed) throw new PackageInstallError(pkgs, failed);
  const still = missing.filter((m) => !findWorkingBinary(m.binary, m.versionArgs));
  if (still.length) throw new PackageInstallError(pkgs, `${still.map((s) => s.binary).join(', ')} still missing after install`);
  onProgress(`installed ${pkgs.join(', ')}`);
}
