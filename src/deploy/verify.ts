/**
 * `dataplane deploy verify`: every host of the inventory as seen from where it runs.
 * Per host: each port answers or not as the firewall intends for this machine, each TLS
 * port presents a certificate of the project's CA for the host's name and address,
 * each server takes the stack's logins, and its place in its cluster (primary or
 * replica, lag, the sentinels' quorum, JetStream). Ports only the hosts may reach are
 * checked for being closed, and their servers through what the client ports show
 * (the primary lists its streaming replicas).
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { caPem } from '../connect/tls.js';
import { allDrivers } from '../servers/index.js';
import type { NatsFigures, RedisFigures, SentinelFigures } from '../servers/types.js';
import { tlsFiles } from '../tls/certificates.js';
import { hostPorts, portSources, type PortRule } from './firewall.js';
import { hostPlans, type HostPlan, type HostProcess } from './hosts.js';
import { tcpReach, type Reach } from '../lib/reach.js';
import { peekCertificate, type CertificateSeen } from './verify-probes.js';

export interface PortCheck extends PortRule {
  /** what the firewall should do for this machine */
  expected: 'open' | 'closed';
  seen: Reach;
  certificate?: CertificateSeen;
}

export interface ProcessCheck {
  instance: string;
  kind: HostProcess['kind'];
  status: 'ok' | 'failed' | 'not checked';
  /** its place in its cluster: primary, replica (lag), ... */
  role?: string;
  reason?: string;
}

export interface HostReport {
  name: string;
  address: string;
  /** down: no port answers; degraded: something below is wrong */
  status: 'healthy' | 'degraded' | 'down';
  problems: string[];
  ports: PortCheck[];
  processes: ProcessCheck[];
}

export interface PrimaryView {
  /** the host the primary address leads to */
  host: string | undefined;
  replicas: { host: string; state: string; sync: string; lagBytes: number | null; lagSeconds: number | null }[];
}

export interface VerifyReport {
  /** this machine's addresses: what the firewall expectations are based on */
  from: string[];
  healthy: boolean;
  hosts: HostReport[];
  postgres: PrimaryView | { error: string } | undefined;
}

const CERT_WARN_DAYS = 14;

function localAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((a) => a.address);
}

/** Which kinds of port this machine may reach, by its addresses and the inventory's networks. */
function admitted(access: Access, from: string[]): Set<PortRule['from']> {
  const out = new Set<PortRule['from']>();
  for (const [kind, networks] of Object.entries(portSources(access.config)) as [PortRule['from'], string[]][]) {
    const list = new net.BlockList();
    for (const n of networks) {
      const [addr, bits] = n.split('/');
      const family = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
      list.addSubnet(addr!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
    }
    if (from.some((a) => list.check(a, net.isIPv6(a) ? 'ipv6' : 'ipv4'))) out.add(kind);
  }
  return out;
}

/** The CA, and the client certificate that the peers-only TLS endpoints (Patroni, etcd) ask for. */
function trust(access: Access): { ca: string; cert?: Buffer; key?: Buffer } | undefined {
  const ca = caPem(access.config);
  if (!ca) return undefined;
  const client = tlsFiles(access.config).servers.postgres;
  return existsSync(client.certFile) ? { ca, cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : { ca };
}

/** The inventory's name for an address (the address itself when it is not a host's). */
const hostNameOf = (access: Access, address: string) => access.config.deploy.hosts.find((h) => h.address === address)?.name ?? address;

async function checkPorts(host: HostPlan, allowed: Set<PortRule['from']>, tlsTrust: ReturnType<typeof trust>, timeoutMs: number): Promise<PortCheck[]> {
  return Promise.all(
    hostPorts(host).map(async (rule): Promise<PortCheck> => {
      const seen = await tcpReach(host.address, rule.port, timeoutMs);
      const check: PortCheck = { ...rule, expected: allowed.has(rule.from) ? 'open' : 'closed', seen };
      if (seen !== 'open' || !rule.tls || !tlsTrust) return check;
      const certificate = await peekCertificate({ host: host.address, port: rule.port, how: rule.tls }, { ...tlsTrust, names: [host.name, host.address], timeoutMs }).catch(
        (e: Error): CertificateSeen => ({ subject: '', expires: '', daysLeft: 0, trusted: false, covers: {}, problem: e.message }),
      );
      return { ...check, certificate };
    }),
  );
}

/** The primary address's view: which host leads, and each replica's stream and lag. */
async function primaryView(access: Access, through: string, timeoutMs: number): Promise<PrimaryView> {
  return withPg(access, { user: access.config.postgres.superuser, host: through, timeoutMs, queryTimeoutMs: timeoutMs, client: 'dataplane-verify' }, async (c) => {
    const me = await c.query<{ addr: string; recovery: boolean }>('select host(inet_server_addr()) as addr, pg_is_in_recovery() as recovery');
    const r = await c.query<{ addr: string; state: string; sync: string; bytes: string | null; secs: number | null }>(
      `select host(client_addr) as addr, state, sync_state as sync, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text as bytes,
              extract(epoch from replay_lag)::float8 as secs from pg_stat_replication`,
    );
    const at = me.rows[0]!;
    return {
      host: at.recovery ? undefined : hostNameOf(access, at.addr),
      replicas: r.rows.map((x) => ({ host: hostNameOf(access, x.addr), state: x.state, sync: x.sync, lagBytes: x.bytes === null ? null : Number(x.bytes), lagSeconds: x.secs })),
    };
  });
}

type Deep = Pick<ProcessCheck, 'status' | 'role' | 'reason'>;

/** One server's logins and place in its cluster, through its own client port (or the primary's view for members). */
async function checkProcess(access: Access, host: HostPlan, p: HostProcess, reachable: (port: number) => boolean, view: VerifyReport['postgres'], timeoutMs: number): Promise<Deep> {
  const c = access.config;
  const needs = (port: number): Deep | undefined => (reachable(port) ? undefined : { status: 'failed', reason: `port ${port} does not answer` });
  switch (p.kind) {
    case 'haproxy': {
      const down = needs(c.postgres.port);
      if (down) return down;
      const r = await withPg(access, { user: c.postgres.superuser, host: host.address, port: c.postgres.port, timeoutMs, queryTimeoutMs: timeoutMs, client: 'dataplane-verify' }, (db) =>
        db.query<{ recovery: boolean; addr: string }>('select pg_is_in_recovery() as recovery, host(inet_server_addr()) as addr'),
      );
      const row = r.rows[0]!;
      const to = hostNameOf(access, row.addr);
      return row.recovery ? { status: 'failed', reason: `the primary address leads to a replica (${to})` } : { status: 'ok', role: `primary address → ${to}` };
    }
    case 'postgres': {
      if (reachable(c.postgres.ha.memberPort)) {
        const f = await allDrivers.postgres.figures!(access, timeoutMs, p.instance);
        const m = 'member' in f ? f.member : undefined;
        return { status: 'ok', role: m ? `${m.role}${m.lagBytes ? ` (lag ${m.lagBytes} bytes)` : ''}` : 'member' };
      }
      if (!view || 'error' in view) return { status: 'not checked', reason: `peers only, and the primary address does not answer${view ? `: ${view.error}` : ''}` };
      if (view.host === host.name) return { status: 'ok', role: 'primary' };
      const r = view.replicas.find((x) => x.host === host.name);
      if (!r) return { status: 'failed', reason: 'not streaming from the primary' };
      return { status: r.state === 'streaming' ? 'ok' : 'failed', role: `${r.sync === 'async' ? 'replica' : `${r.sync} replica`}, lag ${r.lagBytes ?? '?'} bytes`, ...(r.state === 'streaming' ? {} : { reason: `replication ${r.state}` }) };
    }
    case 'redis': {
      const down = needs(c.tls.enabled ? c.redis.tlsPort : c.redis.port);
      if (down) return down;
      const f = (await allDrivers.redis.figures!(access, timeoutMs, p.instance)) as RedisFigures;
      const rep = f.replication;
      if (f.role === 'master') return { status: 'ok', role: `primary${rep && 'replicas' in rep ? `, ${rep.replicas} replica(s)` : ''}` };
      const link = rep && 'linkUp' in rep ? rep : undefined;
      return link?.linkUp ? { status: 'ok', role: `replica of ${link.primary}` } : { status: 'failed', role: 'replica', reason: `link to the primary down${link ? ` (${link.primary})` : ''}` };
    }
    case 'sentinel': {
      const down = needs(c.redis.sentinel.port);
      if (down) return down;
      const f = (await allDrivers.sentinel.figures!(access, timeoutMs, p.instance)) as SentinelFigures;
      const role = `sees primary ${f.primary}, ${f.sentinels} sentinels, quorum ${f.quorum}`;
      if (f.primaryDown) return { status: 'failed', role, reason: 'sees the primary down' };
      return f.canFailover ? { status: 'ok', role } : { status: 'failed', role, reason: 'too few sentinels reachable to fail over' };
    }
    case 'nats': {
      const down = needs(c.nats.port);
      if (down) return down;
      await allDrivers.nats.probe(access, timeoutMs, p.instance);
      const f = (await allDrivers.nats.figures!(access, timeoutMs, p.instance)) as NatsFigures;
      return { status: 'ok', role: f.cluster ? `${f.cluster.metaLeader ? 'meta leader' : 'member'} of ${f.cluster.size}, leads ${f.cluster.leads.length} stream(s)` : 'JetStream answers' };
    }
    case 'etcd': {
      if (!reachable(c.postgres.ha.etcd.port)) return { status: 'not checked', reason: 'peers only: run verify on a host to check etcd' };
      await allDrivers.etcd.probe(access, timeoutMs, p.instance);
      return { status: 'ok', role: 'healthy, the cluster has a leader' };
    }
  }
}

function portProblems(ports: PortCheck[]): string[] {
  const out: string[] = [];
  for (const p of ports) {
    if (p.expected === 'closed' && p.seen !== 'filtered') out.push(`${p.port} (${p.what}) answers here, but only ${p.from} should reach it`);
    if (p.expected === 'open' && p.seen !== 'open') out.push(`${p.port} (${p.what}) ${p.seen === 'refused' ? 'refuses connections (not running?)' : 'does not answer'}`);
    const cert = p.certificate;
    if (!cert) continue;
    if (cert.problem) out.push(`${p.port} (${p.what}) certificate: ${cert.problem}`);
    const missing = Object.entries(cert.covers).filter(([, ok]) => !ok).map(([n]) => n);
    if (missing.length) out.push(`${p.port} (${p.what}) certificate is not valid for ${missing.join(', ')}`);
    if (!cert.problem && cert.daysLeft < CERT_WARN_DAYS) out.push(`${p.port} (${p.what}) certificate expires in ${cert.daysLeft} day(s): rotate it (docs/deployment.md)`);
  }
  return out;
}

async function verifyHost(access: Access, host: HostPlan, ports: PortCheck[], view: VerifyReport['postgres'], timeoutMs: number): Promise<HostReport> {
  const reachable = (port: number) => ports.some((p) => p.port === port && p.seen === 'open');
  if (ports.every((p) => p.seen === 'filtered')) {
    return { name: host.name, address: host.address, status: 'down', problems: ['no port answers: the host is down or cut off'], ports, processes: host.processes.map((p) => ({ ...p, status: 'failed', reason: 'host unreachable' })) };
  }
  const processes = await Promise.all(
    host.processes.map(async (p): Promise<ProcessCheck> => {
      try {
        return { ...p, ...(await checkProcess(access, host, p, reachable, view, timeoutMs)) };
      } catch (e) {
        return { ...p, status: 'failed', reason: (e as Error).message };
      }
    }),
  );
  const problems = [...portProblems(ports), ...processes.filter((p) => p.status === 'failed').map((p) => `${p.instance}: ${p.reason ?? 'failed'}`)];
  return { name: host.name, address: host.address, status: problems.length ? 'degraded' : 'healthy', problems, ports, processes };
}

export async function verifyHosts(access: Access, opts: { timeoutMs?: number; onProgress?: (msg: string) => void } = {}): Promise<VerifyReport> {
  const { config } = access;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const from = localAddresses();
  const allowed = admitted(access, from);
  const plans = hostPlans(config);
  opts.onProgress?.(`checking ${plans.length} hosts from ${from.filter((a) => a !== '127.0.0.1' && a !== '::1').join(', ') || 'this machine'} (reaches ${[...allowed].join(', ') || 'no'} ports)`);
  const tlsTrust = trust(access);
  const ports = await Promise.all(plans.map((h) => checkPorts(h, allowed, tlsTrust, timeoutMs)));
  // The primary's view through a HAProxy that answers: a cut-off host must not cost a timeout here.
  const proxy = plans.find((h, i) => h.processes.some((p) => p.kind === 'haproxy') && ports[i]!.some((p) => p.port === config.postgres.port && p.seen === 'open'));
  const view = !config.postgres.enabled ? undefined : proxy ? await primaryView(access, proxy.address, timeoutMs).catch((e: Error) => ({ error: e.message })) : { error: 'no HAProxy answers' };
  opts.onProgress?.('logging in to every server');
  const hosts = await Promise.all(plans.map((h, i) => verifyHost(access, h, ports[i]!, view, timeoutMs)));
  return { from, healthy: hosts.every((h) => h.status === 'healthy'), hosts, postgres: view };
}
