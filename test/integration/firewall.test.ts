/**
 * The rendered nftables ruleset, applied for real: three network namespaces joined
 * by veth links, a Redis server in one, a client in each of the other two. The
 * allowed network reaches the server; the other is dropped. Only addresses inside
 * these namespaces are used; they are removed afterwards.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { GiB } from '../../src/lib/sizes.js';
import { renderNftables } from '../../src/render/nftables.js';
import { generateSecret } from '../../src/secrets/store.js';
import { isAlive } from '../../src/lib/process.js';
import { planStack } from '../../src/stack/plan.js';
import { waitFor } from '../helpers/processes.js';

const isRoot = process.getuid?.() === 0;
const id = randomBytes(3).toString('hex');
const ns = { server: `dps${id}`, allowed: `dpa${id}`, denied: `dpb${id}` };
const ADDR = { server1: '10.201.1.1', allowed: '10.201.1.2', server2: '10.201.2.1', denied: '10.201.2.2' };
const PORT = 6379;
const appPassword = generateSecret();
let dir: string;
let redisPid: number | undefined;

function sh(cmd: string, args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 });
}

function must(cmd: string, args: string[]): void {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** PING from inside a namespace as the application user; the outcome as text. */
function pingFrom(namespace: string, host: string): string {
  const r = sh('ip', ['netns', 'exec', namespace, 'timeout', '3', 'redis-cli', '-h', host, '-p', String(PORT), '--user', 'app', 'ping'], { REDISCLI_AUTH: appPassword });
  return r.status === 0 ? r.stdout.trim() : `failed (exit ${r.status})`;
}

beforeAll(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-fw-'));
  for (const n of Object.values(ns)) must('ip', ['netns', 'add', n]);
  const links: [string, string, string, string, string][] = [
    [`vs1${id}`, `va${id}`, ns.allowed, ADDR.server1, ADDR.allowed],
    [`vs2${id}`, `vb${id}`, ns.denied, ADDR.server2, ADDR.denied],
  ];
  for (const [serverIf, clientIf, clientNs, serverAddr, clientAddr] of links) {
    must('ip', ['link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf]);
    must('ip', ['link', 'set', serverIf, 'netns', ns.server]);
    must('ip', ['link', 'set', clientIf, 'netns', clientNs]);
    must('ip', ['-n', ns.server, 'addr', 'add', `${serverAddr}/24`, 'dev', serverIf]);
    must('ip', ['-n', clientNs, 'addr', 'add', `${clientAddr}/24`, 'dev', clientIf]);
    must('ip', ['-n', ns.server, 'link', 'set', serverIf, 'up']);
    must('ip', ['-n', clientNs, 'link', 'set', clientIf, 'up']);
  }
  for (const n of Object.values(ns)) must('ip', ['-n', n, 'link', 'set', 'lo', 'up']);

  // The server's configuration as a production host would render it.
  const config = parseConfig({
    stateDir: dir,
    tls: { enabled: false },
    network: { allowedNetworks: ['10.201.1.0/24'] },
    postgres: { enabled: false },
    nats: { enabled: false },
    health: { enabled: false },
    monitoring: { enabled: false },
    redis: { host: '0.0.0.0', port: PORT, users: { app: { keys: ['app:*'] } } },
  });
  const secrets = { redis: { admin: generateSecret(), monitor: generateSecret(), app: appPassword } };
  const plan = planStack({ config, secrets }, { binaries: {}, machine: { cpus: 2, memory: 1 * GiB, disk: 10 * GiB } });
  mkdirSync(path.join(dir, 'redis'), { recursive: true });
  writeFileSync(path.join(dir, 'redis', 'redis.conf'), plan.files.find((f) => f.name === 'redis.conf')!.content, { mode: 0o600 });
  writeFileSync(path.join(dir, 'dataplane.nft'), renderNftables(config).content);

  const child = spawn('ip', ['netns', 'exec', ns.server, 'redis-server', path.join(dir, 'redis', 'redis.conf')], { stdio: 'ignore' });
  redisPid = child.pid;
  await waitFor('redis inside the server namespace', () => /NOAUTH/.test(sh('ip', ['netns', 'exec', ns.server, 'redis-cli', '-p', String(PORT), 'ping']).stdout) || undefined, 10_000);
});

afterAll(async () => {
  if (!isRoot) return;
  if (redisPid && isAlive(redisPid)) {
    process.kill(redisPid, 'SIGTERM');
    await waitFor('redis to stop', () => !isAlive(redisPid!) || undefined, 10_000).catch(() => process.kill(redisPid!, 'SIGKILL'));
  }
  for (const n of Object.values(ns)) sh('ip', ['netns', 'del', n]);
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(isRoot)('rendered nftables ruleset', () => {
  it('without the ruleset both clients reach the server (the setup itself works)', () => {
    expect(pingFrom(ns.allowed, ADDR.server1)).toBe('PONG');
    expect(pingFrom(ns.denied, ADDR.server2)).toBe('PONG');
  });

  it('with it, the allowed network connects and the other is dropped', () => {
    must('ip', ['netns', 'exec', ns.server, 'nft', '-f', path.join(dir, 'dataplane.nft')]);
    expect(pingFrom(ns.allowed, ADDR.server1)).toBe('PONG');
    expect(pingFrom(ns.denied, ADDR.server2)).toMatch(/^failed/);
    const table = sh('ip', ['netns', 'exec', ns.server, 'nft', 'list', 'table', 'inet', 'dataplane']).stdout;
    expect(table).toMatch(/counter packets [1-9]\d* bytes \d+ drop/);
  });

  it('loading it again replaces the table instead of stacking rules', () => {
    must('ip', ['netns', 'exec', ns.server, 'nft', '-f', path.join(dir, 'dataplane.nft')]);
    const tables = sh('ip', ['netns', 'exec', ns.server, 'nft', 'list', 'tables']).stdout;
    expect(tables.match(/table inet dataplane/g)).toHaveLength(1);
    expect(pingFrom(ns.allowed, ADDR.server1)).toBe('PONG');
  });
});
