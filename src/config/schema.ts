/**
 * The configuration schema: every field, its default and a one-line doc.
 *
 * This is the single source of truth: loading (file + environment), `config print`,
 * `config docs` and the environment-variable names are all derived from it.
 */
import { z } from 'zod';
import { backup, deploy, health, monitoring, networkSection, resources, supervisor, tls } from './sections.js';
import { checkInventory } from './inventory-checks.js';
import { nats, postgres, postgresClient, redis } from './servers.js';
import { etcdNodes, natsNodes, postgresMembers, redisNodes, sentinelNodes } from './topology.js';

export { postgresClient };

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
    topology: z
      .enum(['single', 'ha'])
      .default('single')
      .describe('"single": one process per server. "ha": PostgreSQL members under Patroni with etcd and HAProxy (postgres.ha), a NATS cluster (nats.cluster) and Redis with replicas and Sentinel (redis.replicas, redis.sentinel), every node supervised (docs/operations.md, High availability).'),
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
    deploy: deploy.prefault({}),
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
    // `label` names a node of a topology (nats.port of nats-2) where the field alone would not.
    const claim = (path: string, h: string, p: number, on: boolean, label = path) => {
      if (!on || p === 0) return;
      const key = `${h}:${p}`;
      const other = seen.get(key);
      if (other) {
        ctx.issues.push({ code: 'custom', path: path.split('.'), message: `port ${p}${label !== path ? ` (${label})` : ''} is also used by ${other}`, input: p });
      } else seen.set(key, label);
    };
    claim('postgres.port', c.postgres.host, c.postgres.port, c.postgres.enabled);
    if (c.topology === 'ha') {
      claim('postgres.ha.replicaPort', c.postgres.host, c.postgres.ha.replicaPort, c.postgres.enabled);
      for (const m of postgresMembers(c)) {
        claim('postgres.ha.memberPort', m.host, m.port, c.postgres.enabled, `postgres.ha.memberPort of ${m.instance}`);
        claim('postgres.ha.restApiPort', m.host, m.restApiPort!, c.postgres.enabled, `postgres.ha.restApiPort of ${m.instance}`);
      }
      for (const e of etcdNodes(c)) {
        claim('postgres.ha.etcd.port', e.host, e.port, c.postgres.enabled, `postgres.ha.etcd.port of ${e.instance}`);
        claim('postgres.ha.etcd.peerPort', e.host, e.peerPort, c.postgres.enabled, `postgres.ha.etcd.peerPort of ${e.instance}`);
      }
    }
    // Every node of every server, with the config field that moves its port.
    for (const r of redisNodes(c)) {
      claim('redis.port', r.host, r.port, c.redis.enabled, r.index ? `redis.port of ${r.instance}` : undefined);
      claim('redis.tlsPort', r.host, r.tlsPort, c.redis.enabled && c.tls.enabled, r.index ? `redis.tlsPort of ${r.instance}` : undefined);
    }
    for (const s of sentinelNodes(c)) claim('redis.sentinel.port', s.host, s.port, c.redis.enabled, s.index ? `redis.sentinel.port of ${s.instance}` : undefined);
    for (const n of natsNodes(c)) {
      claim('nats.port', n.host, n.port, c.nats.enabled, n.index ? `nats.port of ${n.instance}` : undefined);
      claim('nats.monitorPort', n.host, n.monitorPort, c.nats.enabled, n.index ? `nats.monitorPort of ${n.instance}` : undefined);
      if (n.clusterPort !== undefined) claim('nats.cluster.port', n.host, n.clusterPort, c.nats.enabled, n.index ? `nats.cluster.port of ${n.instance}` : undefined);
    }
    claim('health.port', c.health.host, c.health.port, c.health.enabled);
    const m = c.monitoring;
    claim('monitoring.port', m.host, m.port, m.enabled);
    claim('monitoring.alertmanagerPort', m.host, m.alertmanagerPort, m.enabled);
    claim('monitoring.nodeExporterPort', m.host, m.nodeExporterPort, m.enabled);
    claim('monitoring.postgresExporterPort', m.host, m.postgresExporterPort, m.enabled && c.postgres.enabled);
    claim('monitoring.redisExporterPort', m.host, m.redisExporterPort, m.enabled && c.redis.enabled);
    checkInventory(c, (path, message, input) => ctx.issues.push({ code: 'custom', path, message, input }));
    if (c.redis.sentinel.quorum > c.redis.sentinel.nodes) {
      ctx.issues.push({ code: 'custom', path: ['redis', 'sentinel', 'quorum'], message: `must not exceed redis.sentinel.nodes (${c.redis.sentinel.nodes})`, input: c.redis.sentinel.quorum });
    }
    if (c.nats.cluster.replicas > c.nats.cluster.nodes) {
      ctx.issues.push({ code: 'custom', path: ['nats', 'cluster', 'replicas'], message: `must not exceed nats.cluster.nodes (${c.nats.cluster.nodes})`, input: c.nats.cluster.replicas });
    }
    if (c.profile === 'prod' && !c.tls.enabled) {
      ctx.issues.push({ code: 'custom', path: ['tls', 'enabled'], message: 'the prod profile requires TLS', input: false });
    }
    if (c.profile === 'prod' && c.monitoring.alertWebhookUrl.startsWith('http:')) {
      ctx.issues.push({ code: 'custom', path: ['monitoring', 'alertWebhookUrl'], message: 'the prod profile delivers alerts over TLS only: use an https:// URL', input: c.monitoring.alertWebhookUrl });
    }
    if (c.tls.certDays <= c.tls.renewBeforeDays) {
      ctx.issues.push({ code: 'custom', path: ['tls', 'certDays'], message: 'must be longer than tls.renewBeforeDays, or every start renews the certificates', input: c.tls.certDays });
    }
    if (c.tls.source === 'files') {
      for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
        if (!c.tls[key]) ctx.issues.push({ code: 'custom', path: ['tls', key], message: 'required when tls.source is "files"', input: '' });
      }
    }
    const off = c.backup.offsite;
    if (off.destination && !off.destination.startsWith('/')) {
      for (const key of ['sshIdentityFile', 'sshKnownHostsFile'] as const) {
        if (!off[key]) ctx.issues.push({ code: 'custom', path: ['backup', 'offsite', key], message: 'required for an SSH destination (user@host:/path)', input: '' });
      }
    }
    if (c.backup.drillIntervalHours > 0 && c.backup.encryption.recipients.length && !c.backup.encryption.identityFile) {
      ctx.issues.push({ code: 'custom', path: ['backup', 'encryption', 'identityFile'], message: 'scheduled drills (backup.drillIntervalHours) decrypt the backups: name the identity file', input: '' });
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

/** Every kind of process the supervisor starts and watches (Redis Sentinel in the ha topology). */
export type ProcessName = ServiceName | MonitorName | 'sentinel' | 'etcd' | 'haproxy';
