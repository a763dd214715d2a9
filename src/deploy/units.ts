/**
 * systemd units for a host of the inventory: one per server process, started by
 * systemd at boot and restarted when it dies, each as the unprivileged service user
 * with the sandboxing that process tolerates, and one oneshot unit that loads the
 * host's firewall before any server listens.
 */
import type { StatePaths } from '../config/paths.js';
import { statePaths } from '../config/paths.js';
import { allDrivers } from '../servers/index.js';
import type { ServerContext } from '../servers/types.js';
import { processDir, type HostPlan, type HostProcess } from './hosts.js';

/**
 * The reload signal where the server has one: HAProxy (USR2, master-worker), Patroni and NATS
 * (HUP). Redis and Sentinel ignore HUP and etcd would exit on it: new files reach them by a
 * restart (docs/deployment.md).
 */
const RELOAD_SIGNAL: Partial<Record<HostProcess['kind'], string>> = { haproxy: 'USR2', postgres: 'HUP', nats: 'HUP' };

/** Where Debian puts the servers' binaries (the hosts run Debian bookworm, like this machine). */
export const HOST_BINARIES: Record<HostProcess['kind'], string> = {
  etcd: '/usr/bin/etcd',
  postgres: '/usr/bin/patroni',
  haproxy: '/usr/sbin/haproxy',
  redis: '/usr/bin/redis-server',
  nats: '/usr/sbin/nats-server',
  sentinel: '/usr/bin/redis-sentinel',
};

const DESCRIPTION: Record<HostProcess['kind'], string> = {
  etcd: 'etcd member (Patroni leader lock)',
  postgres: 'PostgreSQL member under Patroni',
  haproxy: 'HAProxy: the PostgreSQL primary and replica addresses',
  redis: 'Redis node',
  nats: 'NATS JetStream node',
  sentinel: 'Redis Sentinel',
};

export interface UnitFile {
  /** dataplane-nats-2.service */
  name: string;
  content: string;
  /** the process it runs (absent for the firewall) */
  instance?: string;
}

export const unitName = (instance: string) => `dataplane-${instance}.service`;
export const FIREWALL_UNIT = 'dataplane-firewall.service';
/** Where the install script puts the firewall ruleset the firewall unit loads. */
export const FIREWALL_RULES = '/etc/dataplane/dataplane.nft';

/** The folders a process writes: its own, and for a PostgreSQL member the shared WAL archive and backups. */
function writablePaths(p: HostProcess, paths: StatePaths): string[] {
  return [processDir(p, paths), ...(p.kind === 'postgres' ? [paths.pg.walArchive, paths.backups] : [])];
}

/** The process's command line, as the supervisor would run it (the driver says), with the host's binaries. */
function commandLine(host: HostPlan, p: HostProcess, paths: StatePaths): { bin: string; args: string[]; cwd: string } {
  // command() reads only the config, instance, paths and binaries of its context.
  const ctx = { config: host.config, instance: p.instance, paths, binaries: { server: HOST_BINARIES[p.kind], patroni: HOST_BINARIES.postgres, version: '' } } as unknown as ServerContext;
  return allDrivers[p.kind].command(ctx);
}

/** systemd quoting for one ExecStart argument. */
function quoteArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

/** Units this host's processes wait for when they are on the same host. */
function orderAfter(host: HostPlan, p: HostProcess): string[] {
  const same = (kind: HostProcess['kind']) => host.processes.filter((x) => x.kind === kind).map((x) => unitName(x.instance));
  if (p.kind === 'postgres') return same('etcd');
  if (p.kind === 'haproxy') return same('postgres');
  if (p.kind === 'sentinel') return same('redis');
  return [];
}

function serverUnit(host: HostPlan, p: HostProcess): UnitFile {
  const paths = statePaths(host.config);
  const cmd = commandLine(host, p, paths);
  const user = host.config.runAs;
  const after = ['network-online.target', FIREWALL_UNIT, ...orderAfter(host, p)];
  // Patroni runs Node (the replica clone) and Python: no MemoryDenyWriteExecute for it.
  const jit = p.kind === 'postgres';
  const lines = [
    `# dataplane: ${p.instance} on ${host.name}. Rendered by \`dataplane deploy render\`; do not edit, render again.`,
    '[Unit]',
    `Description=dataplane ${p.instance}: ${DESCRIPTION[p.kind]}`,
    'Documentation=https://github.com/dataplane/dataplane/blob/main/docs/deployment.md',
    `After=${after.join(' ')}`,
    `Wants=${['network-online.target', ...orderAfter(host, p)].join(' ')}`,
    `Requires=${FIREWALL_UNIT}`,
    'StartLimitIntervalSec=120',
    'StartLimitBurst=10',
    '',
    '[Service]',
    'Type=simple',
    `User=${user}`,
    `Group=${user}`,
    `WorkingDirectory=${cmd.cwd}`,
    `ExecStart=${[cmd.bin, ...cmd.args].map(quoteArg).join(' ')}`,
    ...(RELOAD_SIGNAL[p.kind] ? [`ExecReload=/bin/kill -${RELOAD_SIGNAL[p.kind]} $MAINPID`] : []),
    'Restart=always',
    'RestartSec=2s',
    // Patroni stops its PostgreSQL itself on SIGTERM (a clean shutdown, replicas first).
    ...(p.kind === 'postgres' ? ['KillMode=process', 'TimeoutStopSec=60'] : ['TimeoutStopSec=60']),
    'LimitNOFILE=65536',
    'UMask=0077',
    '# Sandboxing: the process writes only its own folders and sees no other user\'s files.',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${writablePaths(p, paths).join(' ')}`,
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    ...(jit ? [] : ['MemoryDenyWriteExecute=yes']),
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'SystemCallArchitectures=native',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ];
  return { name: unitName(p.instance), content: lines.join('\n') + '\n', instance: p.instance };
}

function firewallUnit(host: HostPlan): UnitFile {
  const lines = [
    `# dataplane: the firewall of ${host.name}. Rendered by \`dataplane deploy render\`; do not edit, render again.`,
    '[Unit]',
    'Description=dataplane firewall: the servers\' ports only for the hosts and networks that need them',
    'Documentation=https://github.com/dataplane/dataplane/blob/main/docs/deployment.md',
    'DefaultDependencies=no',
    'Before=network-pre.target',
    'Wants=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/usr/sbin/nft -f ${FIREWALL_RULES}`,
    'ExecStop=/usr/sbin/nft delete table inet dataplane',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ];
  return { name: FIREWALL_UNIT, content: lines.join('\n') + '\n' };
}

/** The host's units: the firewall first, then its servers in start order. */
export function renderUnits(host: HostPlan): UnitFile[] {
  return [firewallUnit(host), ...host.processes.map((p) => serverUnit(host, p))];
}

