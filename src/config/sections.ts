/** The configuration sections around the servers: network, TLS, resources, health, monitoring, backups, supervision. */
import { z } from 'zod';
import { AUTO, autoOrInt, autoOrSize, host, network, port, size } from './values.js';

export const networkSection = z
  .strictObject({
    allowedNetworks: z
      .array(network)
      .min(1)
      .default(['127.0.0.1/32', '::1/128'])
      .describe('Client networks allowed to reach the servers: pg_hba.conf entries and the rendered nftables ruleset.'),
    clusterPeers: z
      .array(network)
      .default([])
      .describe('Addresses of other cluster members (replication, NATS routes, Sentinel), allowed by the nftables ruleset.'),
  })
  .describe('Who may connect.');

export const tls = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve TLS on every server (required by the prod profile).'),
    source: z
      .enum(['generate', 'files'])
      .default('generate')
      .describe('"generate": a local CA and per-server certificates in <stateDir>/tls; "files": the certificate files below.'),
    hostnames: z
      .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'expected a DNS name'))
      .default([])
      .describe('Extra DNS names for generated server certificates (the configured addresses and localhost are always in).'),
    certDays: z.int().min(1).max(825).default(365).describe('Validity of generated server certificates, in days.'),
    renewBeforeDays: z.int().min(1).max(365).default(30).describe('`up` renews, and `doctor` warns about, certificates expiring within this many days.'),
    caFile: z.string().default('').describe('"files": CA certificate clients verify the servers against.'),
    certFile: z.string().default('').describe('"files": server certificate (chain) used by every server.'),
    keyFile: z.string().default('').describe('"files": private key of certFile.'),
  })
  .describe('TLS for client connections.');

export const resources = z
  .strictObject({
    cpus: autoOrInt(1, 1024)
      .default(AUTO)
      .describe('CPUs the data plane may use; "auto" reads the machine (cgroup limits included).'),
    memory: autoOrSize('8gb')
      .prefault(AUTO)
      .describe('Memory budget of the whole data plane, shared out by each server\'s memoryShare; "auto" = machine memory.'),
    disk: autoOrSize('100gb')
      .prefault(AUTO)
      .describe('Free disk for data under stateDir; "auto" measures the filesystem. Sizes WAL and the JetStream file store.'),
  })
  .describe('Machine resources the tuning formulas start from.');

export const health = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve /livez and /readyz while the stack runs.'),
    host: host.default('127.0.0.1').describe('Address the health server listens on.'),
    port: port().default(7800).describe('Port of the health server.'),
  })
  .describe('HTTP health endpoints served by the supervisor.');

export const monitoring = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run Prometheus, Alertmanager and the node, PostgreSQL and Redis exporters with the stack.'),
    host: host.default('127.0.0.1').describe('Address Prometheus, Alertmanager and the exporters listen on.'),
    port: port().default(9090).describe('Prometheus web and API port.'),
    alertmanagerPort: port().default(9093).describe('Alertmanager web and API port.'),
    nodeExporterPort: port().default(9100).describe('prometheus-node-exporter port.'),
    postgresExporterPort: port().default(9187).describe('prometheus-postgres-exporter port.'),
    redisExporterPort: port().default(9121).describe('prometheus-redis-exporter port.'),
    scrapeIntervalSec: z.int().min(1).max(300).default(15).describe('How often Prometheus scrapes every target and evaluates the alert rules.'),
    retention: z
      .string()
      .regex(/^[0-9]+(h|d|w|y)$/, 'expected a duration such as 15d, 2w or 720h')
      .default('15d')
      .describe('How long Prometheus keeps samples.'),
    scrapeTargets: z
      .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'expected host:port'))
      .default([])
      .describe('Application services to scrape as job "app" at /metrics (services that serve the library\'s metricsRegistry, e.g. with startHealthServer).'),
    alertWebhookUrl: z
      .union([z.url({ protocol: /^https?$/ }), z.literal('')])
      .default('')
      .describe('Where Alertmanager delivers alerts (an HTTP webhook: chat bridge, pager gateway); https:// in the prod profile. Empty: alerts are only visible in Alertmanager.'),
    alertWebhookCa: z
      .string()
      .min(1)
      .default('system')
      .describe('What the webhook\'s certificate must chain to: "system" (the machine\'s CAs), "stack" (the stack\'s own CA, for a receiver it issued) or a PEM file.'),
  })
  .describe('Prometheus, exporters and Alertmanager: metrics, alert rules and their delivery.');

export const backup = z
  .strictObject({
    intervalHours: z.number().min(0).max(24 * 31).default(24).describe('The supervisor takes a full backup this often (0: only `dataplane backup create`).'),
    keep: z.int().min(1).max(1000).default(7).describe('Full backups `backup prune` (and each scheduled backup) keeps, with the WAL they need.'),
    archiveTimeoutSec: z
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe('Longest a finished WAL segment waits before it is archived (archive_timeout): the worst-case data loss if the disk is lost.'),
    encryption: z
      .strictObject({
        recipients: z
          .array(z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age X25519 public key (age1…, as `dataplane credentials keygen` or age-keygen prints)'))
          .default([])
          .describe('age public keys the backup files (base backups, WAL, Redis and JetStream snapshots) are encrypted to; empty: not encrypted.'),
        identityFile: z
          .string()
          .default('')
          .describe('An age private key file (mode 0600) of one recipient: what verify, restore and drills decrypt with. Keep it off the backup destination.'),
      })
      .prefault({})
      .describe('Encryption at rest of everything in the backup area and its off-host copy.'),
    offsite: z
      .strictObject({
        destination: z
          .string()
          .regex(/^(\/.+|[A-Za-z0-9._-]+@[A-Za-z0-9.:\[\]-]+:\/.+)$/, 'expected an absolute path (a mounted filesystem) or user@host:/path (SSH)')
          .or(z.literal(''))
          .default('')
          .describe('Where backups and WAL are copied after each backup and each archived segment, with rsync: a mounted path, or user@host:/path over SSH. Empty: no copy.'),
        sshIdentityFile: z.string().default('').describe('SSH private key for an SSH destination (mode 0600).'),
        sshKnownHostsFile: z.string().default('').describe("known_hosts file holding the SSH destination's host key (checked strictly)."),
        intervalSec: z.int().min(1).max(3600).default(15).describe('How often the copy catches up with new WAL segments and backups.'),
      })
      .prefault({})
      .describe('The off-host copy of the backup area.'),
    drillIntervalHours: z
      .number()
      .min(0)
      .max(24 * 31)
      .default(0)
      .describe('The supervisor restores the newest backup in a scratch folder this often (from the off-host copy when there is one) and reports the result as a metric; 0: drills only by `backup verify --drill`.'),
  })
  .describe('Backups: continuous WAL archiving, scheduled base backups, retention, encryption, the off-host copy, restore drills.');

export const supervisor = z
  .strictObject({
    restartDelayMs: z.int().min(10).max(60_000).default(200).describe('First delay before restarting a server that died; doubles per failure.'),
    maxRestartDelayMs: z.int().min(100).max(600_000).default(30_000).describe('Upper bound of the restart delay.'),
    startTimeoutMs: z.int().min(1000).max(600_000).default(60_000).describe('How long a server may take to become ready before start-up fails.'),
    stopTimeoutMs: z.int().min(1000).max(600_000).default(60_000).describe('How long a clean shutdown may take before the server is killed.'),
    logMaxSize: size('64mb')
      .prefault('64mb')
      .describe('A log in <stateDir>/logs larger than this is rotated (copied to .1, then truncated in place).'),
    logKeep: z.int().min(1).max(20).default(3).describe('Rotated generations kept per log (name.log.1 .. name.log.N).'),
    unresponsiveRestartSec: z
      .int()
      .min(0)
      .max(3600)
      .default(60)
      .describe('A NATS or Redis server that lives but has not answered its probe for this long is wedged: it is stopped (killed if it does not stop) and restarted. 0: never.'),
  })
  .describe('Process supervision: readiness, restarts and shutdown.');

/** What a host of the inventory may run: the ha topology's processes. */
export const HOST_SERVICES = ['postgres', 'etcd', 'haproxy', 'redis', 'sentinel', 'nats'] as const;
export type HostService = (typeof HOST_SERVICES)[number];

const inventoryHost = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a host name such as db1 (lower-case letters, digits and -)')
    .describe('Short name of the host: its bundle folder, its certificate names it.'),
  address: z.union([z.ipv4(), z.ipv6()], { error: 'expected the IP address the other hosts and the applications reach it at' }).describe('Address its servers listen on and the others reach it at.'),
  services: z
    .array(z.enum(HOST_SERVICES))
    .min(1)
    .default([...HOST_SERVICES])
    .describe('What it runs: postgres (a Patroni member), etcd, haproxy (the PostgreSQL addresses), redis, sentinel, nats.'),
  stateDir: z.string().min(1).default('/var/lib/dataplane').describe('Where its data, configuration and certificates live.'),
  resources: z
    .strictObject({
      cpus: autoOrInt(1, 1024).optional(),
      memory: autoOrSize('8gb').optional(),
      disk: autoOrSize('100gb').optional(),
    })
    .default({})
    .describe('Its CPUs, memory and disk for the tuning formulas; unset fields take `resources` ("auto" there measures the machine that renders).'),
});

export const deploy = z
  .strictObject({
    hosts: z
      .array(inventoryHost)
      .default([])
      .describe('The inventory: production hosts and what each runs (topology ha). Empty: every node runs on this machine. With hosts, the number of hosts that run a service is its node count, and every node uses the base ports on its host\'s address.'),
    monitoringNetworks: z
      .array(network)
      .default([])
      .describe('Where Prometheus scrapes from: the only sources the hosts\' firewalls let reach the monitoring ports (NATS monitoring, Patroni\'s API for checks stays peers only).'),
    installDir: z
      .string()
      .min(1)
      .default('/opt/dataplane')
      .describe('Where dataplane (this package, with its pinned PostgreSQL binaries) is installed on every PostgreSQL host: Patroni runs its replica clone.'),
    node: z.string().min(1).default('/usr/bin/node').describe('Node.js 20 on the hosts (runs the replica clone).'),
    backupDir: z
      .string()
      .min(1)
      .default('/var/backups/dataplane')
      .describe('Storage shared by every PostgreSQL host (an NFS or similar mount): the WAL archive every primary writes and replicas read, and base backups.'),
    packages: z
      .enum(['debian', 'pgdg'])
      .default('debian')
      .describe('"debian": PostgreSQL 16 from the pinned embedded binaries, no TimescaleDB. "pgdg": PostgreSQL 16 and TimescaleDB 2.15 from the PostgreSQL and Timescale apt repositories, pinned (hosts must reach them).'),
  })
  .describe('Production on several hosts: the inventory `dataplane deploy render` makes per-host bundles from (docs/deployment.md).');
