/**
 * Production on three hosts, proven on network namespaces: `deploy render` makes the
 * bundles, each runs in its own namespace (install.sh, then its units' commands, as
 * the units' user), the clusters form across the "hosts", an application in its own
 * namespace connects through the inventory's addresses with TLS, and a namespace the
 * inventory does not allow reaches no server port. Every address lives inside
 * namespaces this test creates and removes.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CLI, ROOT, runCli } from '../helpers/cli.js';
import { createLab, must, runBundle, sh, type Lab, type RunningHost } from '../helpers/netns-hosts.js';
import { waitFor } from '../helpers/processes.js';
import { isAlive } from '../../src/lib/process.js';
import { DEBIAN_MIRROR, NATS_SERVER_DEB } from '../../src/lib/pinned-debs.js';
import type { VerifyReport } from '../../src/deploy/verify.js';

// Namespaces, veth links and nftables need root (CI runs as root).
const isRoot = process.getuid?.() === 0;
const HOSTS = ['h1', 'h2', 'h3'];
let lab: Lab;
let dir: string;
let configFile: string;
const running: RunningHost[] = [];
let load: number | undefined;

interface Probe {
  postgres: { recovery?: boolean; addr?: string; ssl?: boolean; replicas?: number; error?: string };
  redis: { role?: string; replicas?: number; error?: string };
  nats: { server?: string; replicas?: number; error?: string };
}

function probeFrom(member: string): Probe {
  const out = must('ip', ['netns', 'exec', lab.ns[member]!, process.execPath, path.join(ROOT, 'test', 'helpers', 'deploy-probe.mjs'), configFile], { timeoutMs: 60_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Probe;
}

function verifyFrom(member: string): VerifyReport {
  const r = sh('ip', ['netns', 'exec', lab.ns[member]!, process.execPath, CLI, '-c', configFile, 'deploy', 'verify', '--json'], { timeoutMs: 90_000 });
  if (!r.stdout.trim()) throw new Error(`deploy verify printed nothing (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as VerifyReport;
}

const statusOf = (report: VerifyReport) => Object.fromEntries(report.hosts.map((h) => [h.name, h.status]));

/** TCP connects from a namespace: 'open' when the port answered, 'refused', or 'filtered' (no answer within 3 s). */
function reachFrom(member: string, targets: [string, number][]): string[] {
  const out = must('ip', ['netns', 'exec', lab.ns[member]!, process.execPath, path.join(ROOT, 'test', 'helpers', 'reach-probe.mjs'), JSON.stringify(targets), '3000'], { timeoutMs: 30_000 });
  return JSON.parse(out) as string[];
}

beforeAll(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-deploy-'));
  // The service user must reach the hosts' state folders below it.
  chmodSync(dir, 0o755);
  lab = createLab([...HOSTS.map((name, i) => ({ name, octet: i + 1 })), { name: 'app', octet: 100 }, { name: 'denied', octet: 200 }], 150 + Math.floor(Math.random() * 50));
  const resources = { cpus: 2, memory: '1gb', disk: '10gb' };
  const config = {
    stateDir: path.join(dir, 'operator'),
    topology: 'ha',
    profile: 'prod',
    network: { allowedNetworks: [`${lab.address.app}/32`] },
    monitoring: { enabled: false },
    health: { enabled: false },
    postgres: { ha: { ttlSec: 10, loopWaitSec: 2, retryTimeoutSec: 3 } },
    deploy: {
      installDir: ROOT,
      node: process.execPath,
      backupDir: path.join(dir, 'shared-backups'),
      monitoringNetworks: [`${lab.address.app}/32`],
      hosts: HOSTS.map((name) => ({ name, address: lab.address[name], stateDir: path.join(dir, name), resources })),
    },
  };
  configFile = path.join(dir, 'dataplane.config.yaml');
  writeFileSync(configFile, stringify(config));
  const r = await runCli(['-c', configFile, 'deploy', 'render', '--out', path.join(dir, 'bundles'), '--json'], dir, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`deploy render failed: ${r.stderr}`);
  mkdirSync(path.join(dir, 'logs'));
  for (const h of HOSTS) running.push(runBundle(h, lab.ns[h]!, path.join(dir, 'bundles', h), path.join(dir, 'logs')));
}, 300_000);

let failed = false;
afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  if (!isRoot) return;

  try {
    await Promise.all(running.map((h) => h.stop()));
  } finally {
    lab?.destroy();
  }
  if (load && isAlive(load)) process.kill(load, 'SIGKILL');
  // After a failure (or with DATAPLANE_KEEP=1) the folder stays: bundles, every server's log, the load's ledger.
  if (dir && (failed || process.env.DATAPLANE_KEEP === '1')) console.log(`kept ${dir} (logs/: every server's output)`);
  else if (dir) rmSync(dir, { recursive: true, force: true });
}, 150_000);

describe.runIf(isRoot)('three hosts from deploy render, in network namespaces', () => {
  it('renders units that pass systemd-analyze verify and install scripts that pass shellcheck', () => {
    for (const h of HOSTS) {
      const units = readdirSync(path.join(dir, 'bundles', h, 'systemd')).map((u) => path.join(dir, 'bundles', h, 'systemd', u));
      const v = sh('systemd-analyze', ['verify', ...units]);
      expect(v.stderr + v.stdout).toBe('');
      expect(v.status).toBe(0);
      const s = sh('shellcheck', ['-S', 'warning', path.join(dir, 'bundles', h, 'install.sh')]);
      expect(s.stdout).toBe('');
    }
    // nats-server from the pinned trixie file, checked before apt installs it; kept where it is new enough.
    const fakeBin = mkdtempSync(path.join(os.tmpdir(), 'dataplane-fake-dpkg-'));
    writeFileSync(path.join(fakeBin, 'dpkg-query'), '#!/bin/sh\necho 2.9.10-1+b3\n', { mode: 0o755 });
    const old = sh('bash', [path.join(dir, 'bundles', 'h1', 'install.sh'), '--dry-run', '--no-firewall'], { env: { PATH: `${fakeBin}:${process.env.PATH}` } });
    rmSync(fakeBin, { recursive: true, force: true });
    expect(old.status, old.stderr).toBe(0);
    const deb = `nats-server_${NATS_SERVER_DEB.version}_amd64.deb`;
    expect(old.stdout).toContain(`+ curl -fsSL -o /tmp/${deb} ${DEBIAN_MIRROR}/${NATS_SERVER_DEB.files.amd64!.path}`);
    expect(old.stdout).toContain(`apt-get install -y --no-install-recommends /tmp/${deb}`);
    const current = sh('bash', [path.join(dir, 'bundles', 'h1', 'install.sh'), '--dry-run', '--no-firewall']);
    expect(current.status, current.stderr).toBe(0);
    expect(current.stdout).not.toContain(deb);
    // etcd with pre-vote: a member cut off must not depose the leader on its return.
    expect(sh('grep', ['-rl', 'pre-vote: true', path.join(dir, 'bundles', 'h1', 'files')]).stdout).toMatch(/etcd\.yml/);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'bundles', 'h2', 'manifest.json'), 'utf8')) as { processes: string[] };
    expect(manifest.processes).toEqual(['etcd-2', 'postgres-2', 'haproxy', 'redis-2', 'nats-2', 'sentinel-2']);
  });

  it('forms the clusters across the hosts; the application connects through the inventory with TLS', async () => {
    // Replicas are cloned only once the replication login exists: `deploy init` creates it.
    // From the application's namespace: the operator runs it from an allowed network.
    let init = '';
    const done = await waitFor(
      '`deploy init` through HAProxy',
      () => {
        const r = sh('ip', ['netns', 'exec', lab.ns.app!, process.execPath, CLI, '-c', configFile, 'deploy', 'init', '--json'], { timeoutMs: 90_000 });
        init = r.stderr;
        return r.status === 0 ? (JSON.parse(r.stdout) as { migrations: { applied: string[] }; streams: { created: string[]; drift: unknown[] } }) : undefined;
      },
      120_000,
      2000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${init}`);
    });
    // The declared JetStream streams (the reference model's) exist on the cluster.
    expect(done.streams.drift).toEqual([]);
    expect(done.streams.created.length).toBeGreaterThan(0);
    let last: Probe | undefined;
    const seen = await waitFor(
      'every cluster formed',
      () => {
        last = probeFrom('app');
        return last.postgres.replicas === 2 && last.redis.replicas === 2 && last.nats.replicas === 3 ? last : undefined;
      },
      240_000,
      3000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last seen ${JSON.stringify(last)}; logs in ${path.join(dir, 'logs')}`);
    });
    expect(seen.postgres).toMatchObject({ recovery: false, ssl: true });
    expect(seen.redis.role).toBe('master');
  }, 400_000);

  it('a namespace outside the allowed networks reaches no server port; the application only the client ports', () => {
    const manifest = (h: string) => JSON.parse(readFileSync(path.join(dir, 'bundles', h, 'manifest.json'), 'utf8')) as { ports: { port: number; from: string; what: string }[] };
    const checks = HOSTS.flatMap((h) => manifest(h).ports.map((p) => ({ h, ...p })));
    // Ten ports per host (the PostgreSQL member, HAProxy's two, Patroni, etcd's two, Redis, Sentinel, NATS, its routes);
    // NATS's monitoring port, which has no login, is not opened in prod.
    expect(checks.length).toBe(30);
    expect(checks.filter((c) => /monitoring/.test(c.what))).toEqual([]);
    const targets = checks.map((c): [string, number] => [lab.address[c.h]!, c.port]);
    const [denied, app] = [reachFrom('denied', targets), reachFrom('app', targets)];
    const seen = checks.map((c, i) => ({ what: `${c.h}:${c.port} (${c.from})`, denied: denied[i] !== 'filtered', app: app[i] === 'open', want: c.from !== 'peers' }));
    expect(seen.filter((s) => s.denied).map((s) => s.what)).toEqual([]);
    expect(seen.filter((s) => s.app !== s.want).map((s) => s.what)).toEqual([]);
  }, 60_000);

  it('deploy verify from the application network finds every host healthy: ports as intended, certificates for each host, roles and lag', () => {
    const report = verifyFrom('app');
    expect(report.hosts.flatMap((h) => h.problems)).toEqual([]);
    expect(statusOf(report)).toEqual({ h1: 'healthy', h2: 'healthy', h3: 'healthy' });
    for (const h of report.hosts) {
      // From an application network: client ports open, cluster ports closed.
      expect(h.ports.every((p) => (p.from === 'peers') === (p.seen === 'filtered'))).toBe(true);
      const certs = h.ports.filter((p) => p.certificate);
      expect(certs.length).toBeGreaterThanOrEqual(4);
      for (const p of certs) expect(p.certificate).toMatchObject({ trusted: true, covers: { [h.name]: true, [h.address]: true } });
    }
    expect(report.postgres).toMatchObject({ host: 'h1' });
    expect((report.postgres as { replicas: unknown[] }).replicas).toHaveLength(2);
    // The human form says the same.
    const text = sh('ip', ['netns', 'exec', lab.ns.app!, process.execPath, CLI, '-c', configFile, 'deploy', 'verify'], { timeoutMs: 90_000 });
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('every host is healthy');
    console.log(text.stdout);
  }, 120_000);

  it('cutting the primaries\' host off under load fails every service over with no acknowledged write lost; healed, the host rejoins', async () => {
    const loadDir = path.join(dir, 'load');
    mkdirSync(loadDir);
    const log = path.join(dir, 'logs', 'load.log');
    const child = spawn('bash', ['-c', `exec ip netns exec ${lab.ns.app} ${process.execPath} ${path.join(ROOT, 'test', 'helpers', 'deploy-load.mjs')} ${configFile} ${loadDir} >${log} 2>&1`], { stdio: 'ignore' });
    load = child.pid;
    const progress = () => {
      try {
        return JSON.parse(readFileSync(path.join(loadDir, 'progress.json'), 'utf8')) as Record<'postgres' | 'redis' | 'nats', { acked: number; lastSent: number; lastError?: string }>;
      } catch {
        return undefined;
      }
    };
    const loadLog = () => (existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '');
    await waitFor('writes to every service', () => {
      const p = progress();
      return p && Object.values(p).every((x) => x.acked >= 100) ? p : undefined;
    }, 60_000, 500).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(progress())} ${loadLog()}`);
    });

    // h1 holds the PostgreSQL primary and the Redis primary (the first members).
    lab.link('h1', false);
    const cutAt = Date.now();
    await waitFor('writes through the other hosts', () => {
      const p = progress();
      return p && Object.values(p).every((x) => x.lastSent > cutAt) ? p : undefined;
    }, 120_000, 500).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(progress())} ${loadLog()}`);
    });
    let seen: VerifyReport | undefined;
    await waitFor('deploy verify: h1 down, h2 and h3 healthy', () => {
      seen = verifyFrom('app');
      return JSON.stringify(statusOf(seen)) === JSON.stringify({ h1: 'down', h2: 'healthy', h3: 'healthy' }) || undefined;
    }, 120_000, 2000).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen?.hosts.map((h) => [h.name, h.status, h.problems]))}`);
    });
    expect(seen!.healthy).toBe(false);

    lab.link('h1', true);
    const healedAt = Date.now();
    await waitFor('h1 back: every host healthy', () => {
      seen = verifyFrom('app');
      return seen.healthy || undefined;
    }, 240_000, 3000).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen?.hosts.map((h) => [h.name, h.status, h.problems]))}`);
    });
    const rejoinMs = Date.now() - healedAt;

    writeFileSync(path.join(loadDir, 'stop'), '');
    await waitFor('the load to read back what was acknowledged', () => existsSync(path.join(loadDir, 'result.json')) || undefined, 180_000, 500).catch((e: Error) => {
      throw new Error(`${e.message}: ${loadLog()}`);
    });
    const result = JSON.parse(readFileSync(path.join(loadDir, 'result.json'), 'utf8')) as Record<string, { acked: number; failures: number; lost: number[]; ledger: [number, number][]; readBack?: unknown; [detail: string]: unknown }>;
    const figures = Object.fromEntries(
      Object.entries(result).map(([name, r]) => {
        const resumed = r.ledger.find(([sent]) => sent > cutAt)?.[1];
        return [name, { acked: r.acked, failures: r.failures, lost: r.lost.length, firstAckAfterCutMs: resumed ? resumed - cutAt : null, ...(r.readBack ? { readBack: r.readBack } : {}) }];
      }),
    );
    console.log(`host cut off under load (h1: PostgreSQL and Redis primaries): ${JSON.stringify(figures)}; rejoined and verified healthy ${rejoinMs} ms after the link came back`);
    for (const [name, r] of Object.entries(result)) {
      const detail = Object.fromEntries(Object.entries(r).filter(([k]) => !['acked', 'lost', 'ledger'].includes(k)));
      expect(r.lost, `${name}: acknowledged writes missing (cut at ${cutAt}, healed at ${healedAt}; ${JSON.stringify(detail)})`).toEqual([]);
      expect(r.acked).toBeGreaterThan(200);
    }
  }, 720_000);
});
