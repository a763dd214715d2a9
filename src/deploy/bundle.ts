/**
 * `dataplane deploy render`: one folder per host of the inventory, everything that
 * host needs and nothing another host needs. Layout of <out>/<host>/:
 *
 *   install.sh          run as root on the host (packages, user, files, firewall, units)
 *   files/              copied into the host's state folder: each process's configuration
 *                       and its TLS files (the host's certificate, the CA)
 *   systemd/            one unit per server process, and the firewall's
 *   nftables/           the host's ruleset
 *   secrets/            what install.sh needs once (the superuser's SCRAM verifier for initdb)
 *   manifest.json       what runs there, its ports and who may reach them
 *
 * Rendered files that hold passwords or keys are 0600 and the folders 0700.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import { detectMachine, resolveResources, type Machine } from '../config/resources.js';
import { computeTuning } from '../config/tuning.js';
import { haproxyNodes } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { UsageError } from '../errors/index.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { scramSha256Verifier } from '../secrets/hashes.js';
import { secretFor } from '../secrets/store.js';
import { ensureCertificates, issueCertificate, tlsFiles } from '../tls/certificates.js';
import { renderServers } from '../servers/index.js';
import { hostPorts, renderHostFirewall, type PortRule } from './firewall.js';
import { hostPlans, processDir, type HostPlan } from './hosts.js';
import { hostPgBinDir, renderInstallScript } from './install-script.js';
import { renderUnits } from './units.js';

export interface BundleSummary {
  host: string;
  address: string;
  dir: string;
  processes: string[];
  units: string[];
  ports: PortRule[];
  files: number;
}

const SUPERUSER_SECRET = 'secrets/postgres-superuser.scram';

function write(file: string, content: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, content, { mode });
  chmodSync(file, mode);
}

/**
 * The names the host's certificate carries: its address and name, loopback, and for
 * PostgreSQL every HAProxy host's address and name (HAProxy passes TLS through, so a
 * client that dials any proxy is answered by this member's certificate).
 */
function certificateNames(host: HostPlan): { ips: string[]; dns: string[] } {
  const c = host.config;
  const proxies = host.processes.some((p) => p.kind === 'postgres') ? haproxyNodes(c) : [];
  return {
    ips: [...new Set([host.address, '127.0.0.1', '::1', ...proxies.map((n) => n.host)])],
    dns: [...new Set([host.name, 'localhost', ...c.tls.hostnames, ...proxies.flatMap((n) => (n.hostName ? [n.hostName] : []))])],
  };
}

async function hostCertificate(access: Access, host: HostPlan): Promise<{ crt: string; key: string; ca: string }> {
  const caDir = statePaths(access.config).tls;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'dataplane-cert-'));
  try {
    const files = { certFile: path.join(tmp, 'host.crt'), keyFile: path.join(tmp, 'host.key') };
    await issueCertificate(caDir, { name: host.name, ...certificateNames(host), days: access.config.tls.certDays }, files);
    return { crt: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8'), ca: readFileSync(tlsFiles(access.config).caFile, 'utf8') };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function renderBundle(access: Access, host: HostPlan, dir: string, opts: { machine: Machine; localPgBinDir?: string | undefined }): Promise<BundleSummary> {
  const c = host.config;
  const paths = statePaths(c);
  const inFiles = (abs: string) => path.join(dir, 'files', path.relative(c.stateDir, abs));
  const tuning = computeTuning(c, resolveResources(c, opts.machine), { timescaledb: c.deploy.packages === 'pgdg' });
  const instances = new Set(host.processes.map((p) => p.instance));
  const rendered = renderServers({ config: c, tuning, secrets: access.secrets, paths, host: host.name }).filter((f) => instances.has(f.service));
  let count = 0;
  mkdirSync(path.join(dir, 'files'), { recursive: true, mode: 0o700 });
  const cert = c.tls.enabled ? await hostCertificate(access, host) : undefined;
  for (const p of host.processes) {
    const pdir = processDir(p, paths);
    for (const f of rendered.filter((x) => x.service === p.instance)) {
      write(inFiles(path.join(pdir, f.name)), f.content, 0o600);
      count++;
    }
    if (cert) {
      const tls = path.join(pdir, 'tls');
      write(inFiles(path.join(tls, 'server.crt')), cert.crt, 0o644);
      write(inFiles(path.join(tls, 'server.key')), cert.key, 0o600);
      write(inFiles(path.join(tls, 'ca.crt')), cert.ca, 0o644);
      // HAProxy's checks present a client certificate to Patroni, certificate and key in one file.
      if (p.kind === 'haproxy') write(inFiles(path.join(tls, 'client.pem')), cert.crt + cert.key, 0o600);
      count += p.kind === 'haproxy' ? 4 : 3;
    }
  }
  if (cert) write(inFiles(path.join(paths.tls, 'ca.crt')), cert.ca, 0o644);
  const first = host.processes.some((p) => p.instance === 'postgres');
  if (first) write(path.join(dir, SUPERUSER_SECRET), scramSha256Verifier(secretFor(access.secrets, 'postgres', c.postgres.superuser)) + '\n', 0o600);
  const units = renderUnits(host);
  for (const u of units) write(path.join(dir, 'systemd', u.name), u.content, 0o644);
  write(path.join(dir, 'nftables', 'dataplane.nft'), renderHostFirewall(host), 0o644);
  const pgBinDir = hostPgBinDir(host, opts.localPgBinDir, PACKAGE_ROOT);
  write(path.join(dir, 'install.sh'), renderInstallScript(host, { pgBinDir, superuserSecretFile: first ? SUPERUSER_SECRET : undefined }), 0o755);
  const summary: BundleSummary = { host: host.name, address: host.address, dir, processes: host.processes.map((p) => p.instance), units: units.map((u) => u.name), ports: hostPorts(host), files: count };
  write(path.join(dir, 'manifest.json'), JSON.stringify({ ...summary, dir: undefined, stateDir: c.stateDir, pgBinDir }, null, 2) + '\n', 0o644);
  return summary;
}

/** Every host's bundle under `out` (each host's folder replaced whole). */
export async function renderBundles(
  access: Access,
  opts: { out: string; machine?: Machine; localPgBinDir?: string; onProgress?: (msg: string) => void },
): Promise<BundleSummary[]> {
  const { config } = access;
  const hosts = hostPlans(config);
  if (config.tls.enabled && config.tls.source !== 'generate') {
    throw new UsageError(
      'deploy render issues a certificate for every host from the project\'s CA: set tls.source to "generate" (to use your own CA, put its certificate and key in <stateDir>/tls/ca-current.crt and ca.key, and the bundle of CAs clients trust in ca.crt)',
    );
  }
  if (config.tls.enabled) await ensureCertificates(config, { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  const machine = opts.machine ?? detectMachine(config.stateDir);
  const out: BundleSummary[] = [];
  for (const host of hosts) {
    const dir = path.resolve(opts.out, host.name);
    rmSync(dir, { recursive: true, force: true });
    opts.onProgress?.(`rendering ${host.name} (${host.address}): ${host.processes.map((p) => p.instance).join(', ')}`);
    out.push(await renderBundle(access, host, dir, { machine, localPgBinDir: opts.localPgBinDir }));
  }
  return out;
}
