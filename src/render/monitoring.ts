/**
 * Prometheus, Alertmanager and exporter configuration. Every HTTP endpoint that can
 * require a login (Prometheus, Alertmanager, node and PostgreSQL exporters, through
 * the exporter-toolkit web config) gets basic auth with the monitoring admin's
 * bcrypt hash; Prometheus reads the plaintext from a 0600 password file to scrape
 * them. The Redis exporter (1.45) has no basic auth: where plaintext is not allowed it
 * serves HTTPS and requires a client certificate of the stack's CA (Prometheus presents
 * the HTTP surfaces' one); in dev it listens only on monitoring.host, loopback by default. Exporters log in as the monitoring users of
 * the security model (PostgreSQL app_monitor with pg_monitor, Redis `monitor`),
 * never as superusers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { Config } from '../config/schema.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { MONITOR_LOGIN } from '../secrets/postgres-roles.js';
import { secretFor } from '../secrets/store.js';
import { httpsRequired } from '../tls/policy.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

export const ALERT_RULES_FILE = path.join(PACKAGE_ROOT, 'deploy', 'prometheus', 'alerts.yml');
export const MONITORING_USER = 'admin';
export const PASSWORD_FILE = 'web.password';

const q = (s: string) => JSON.stringify(s);
const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** The folder of a monitoring process's certificate, key and CA (installed by its driver). */
export const monitorTlsDir = (dir: string) => path.join(dir, 'tls');

/**
 * Scrape targets: job name, address, whether it requires basic auth, whether it
 * serves HTTPS (it then requires a login or, the Redis exporter, a client certificate), path.
 */
export function scrapeTargets(config: Config): { job: string; targets: string[]; auth: boolean; https: boolean; path?: string }[] {
  const apps = config.monitoring.scrapeTargets.length ? [{ job: 'app', targets: config.monitoring.scrapeTargets, auth: false, https: false, path: '/metrics' }] : [];
  const m = config.monitoring;
  const https = httpsRequired(config, m.host);
  const t = (port: number) => hostPort(m.host, port);
  const healthHttps = httpsRequired(config, config.health.host);
  return [
    { job: 'prometheus', targets: [t(m.port)], auth: true, https },
    { job: 'alertmanager', targets: [t(m.alertmanagerPort)], auth: true, https },
    { job: 'node', targets: [t(m.nodeExporterPort)], auth: true, https },
    ...(config.postgres.enabled ? [{ job: 'postgres', targets: [t(m.postgresExporterPort)], auth: true, https }] : []),
    ...(config.redis.enabled ? [{ job: 'redis', targets: [t(m.redisExporterPort)], auth: false, https }] : []),
    // The supervisor's health server: library metrics, NATS figures, disk, certificates, outbox.
    ...(config.health.enabled ? [{ job: 'dataplane', targets: [hostPort(config.health.host, config.health.port)], auth: healthHttps, https: healthHttps, path: '/metrics' }] : []),
    ...apps,
  ];
}

/** A scrape must finish before the next one starts. */
export function scrapeTimeoutSec(config: Config): number {
  return Math.max(1, Math.min(10, config.monitoring.scrapeIntervalSec - 1));
}

/** The last hash, by password: each of the five processes' web.yml needs it, and bcrypt is slow on purpose. */
let lastHash: { password: string; hash: string } | undefined;

/** exporter-toolkit web config: basic auth for the monitoring admin, and TLS where plaintext is not allowed. */
function webConfig(ctx: RenderContext, service: string): string {
  const password = secretFor(ctx.secrets, 'monitoring', MONITORING_USER);
  // Cost 10: the toolkit caches a successful check, so the cost is paid once per connection.
  if (lastHash?.password !== password) lastHash = { password, hash: bcrypt.hashSync(password, 10) };
  const hash = lastHash.hash;
  const tlsDir = monitorTlsDir(ctx.paths.monitoring.of(service));
  const tls = httpsRequired(ctx.config, ctx.config.monitoring.host)
    ? ['tls_server_config:', `  cert_file: ${q(path.join(tlsDir, 'server.crt'))}`, `  key_file: ${q(path.join(tlsDir, 'server.key'))}`, '  min_version: TLS12']
    : [];
  return [`# ${HEADER('the dataplane config')}`, ...tls, 'basic_auth_users:', `  ${MONITORING_USER}: ${q(hash)}`, ''].join('\n');
}

function passwordFile(ctx: RenderContext): string {
  return secretFor(ctx.secrets, 'monitoring', MONITORING_USER);
}

export function renderPrometheus(ctx: RenderContext): RenderedFile[] {
  const { config, paths } = ctx;
  const m = config.monitoring;
  const dir = paths.monitoring.of('prometheus');
  const pw = path.join(dir, PASSWORD_FILE);
  const interval = `${m.scrapeIntervalSec}s`;
  const auth = [`    basic_auth:`, `      username: ${MONITORING_USER}`, `      password_file: ${q(pw)}`];
  // Verifying the stack's CA; the client certificate is what the Redis exporter authenticates.
  const tlsDir = monitorTlsDir(dir);
  const tls = [
    '    scheme: https',
    '    tls_config:',
    `      ca_file: ${q(path.join(tlsDir, 'ca.crt'))}`,
    `      cert_file: ${q(path.join(tlsDir, 'server.crt'))}`,
    `      key_file: ${q(path.join(tlsDir, 'server.key'))}`,
  ];
  const jobs = scrapeTargets(config).flatMap((t) => [
    `  - job_name: ${t.job}`,
    ...(t.path ? [`    metrics_path: ${t.path}`] : []),
    ...(t.auth ? auth : []),
    ...(t.https ? tls : []),
    `    static_configs:`,
    `      - targets: [${t.targets.map(q).join(', ')}]`,
  ]);
  const yml = [
    `# ${HEADER('the dataplane config')}`,
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    `  scrape_timeout: ${scrapeTimeoutSec(config)}s`,
    '  external_labels:',
    `    stack: ${q(config.nats.serverName)}`,
    'rule_files:',
    `  - ${q(path.join(dir, 'alerts.yml'))}`,
    'alerting:',
    '  alertmanagers:',
    '    - static_configs:',
    `        - targets: [${q(hostPort(m.host, m.alertmanagerPort))}]`,
    ...auth.map((l) => `  ${l}`),
    ...(httpsRequired(config, m.host) ? tls.map((l) => `  ${l}`) : []),
    'scrape_configs:',
    ...jobs,
    '',
  ].join('\n');
  return [
    { service: 'prometheus', name: 'prometheus.yml', content: yml },
    { service: 'prometheus', name: 'web.yml', content: webConfig(ctx, 'prometheus') },
    { service: 'prometheus', name: PASSWORD_FILE, content: passwordFile(ctx) },
    { service: 'prometheus', name: 'alerts.yml', content: readFileSync(ALERT_RULES_FILE, 'utf8') },
  ];
}

/** An https webhook verifies against the chosen CA (Alertmanager uses the system's by default). */
function webhookTls(ctx: RenderContext): string[] {
  const { alertWebhookUrl: url, alertWebhookCa: ca } = ctx.config.monitoring;
  if (!url.startsWith('https:') || ca === 'system') return [];
  const file = ca === 'stack' ? path.join(monitorTlsDir(ctx.paths.monitoring.of('alertmanager')), 'ca.crt') : ca;
  return ['        http_config:', '          tls_config:', `            ca_file: ${q(file)}`];
}

export function renderAlertmanager(ctx: RenderContext): RenderedFile[] {
  const m = ctx.config.monitoring;
  const yml = [
    `# ${HEADER('the dataplane config')}`,
    'route:',
    '  receiver: default',
    // One notification per alert and component; repeats are rare enough to be read.
    '  group_by: [alertname, service]',
    '  group_wait: 10s',
    '  group_interval: 1m',
    '  repeat_interval: 4h',
    'inhibit_rules:',
    '  # A critical alert silences the warning of the same name and component.',
    '  - source_matchers: [severity="critical"]',
    '    target_matchers: [severity="warning"]',
    '    equal: [alertname, service]',
    '  # A server that is down explains its own errors, lag and scrape failures.',
    '  - source_matchers: [alertname=~"PostgresDown|RedisDown|NatsDown"]',
    '    target_matchers: [alertname!~"PostgresDown|RedisDown|NatsDown"]',
    '    equal: [service]',
    'receivers:',
    '  - name: default',
    ...(m.alertWebhookUrl ? ['    webhook_configs:', `      - url: ${q(m.alertWebhookUrl)}`, '        send_resolved: true', ...webhookTls(ctx)] : []),
    '',
  ].join('\n');
  return [
    { service: 'alertmanager', name: 'alertmanager.yml', content: yml },
    { service: 'alertmanager', name: 'web.yml', content: webConfig(ctx, 'alertmanager') },
  ];
}

/**
 * Extra queries for prometheus-postgres-exporter 0.11, whose built-in set has no
 * replication lag. On a replica the lag counts only while WAL waits to be replayed,
 * so an idle primary does not look like a lagging replica.
 */
export const POSTGRES_EXPORTER_QUERIES = `# ${HEADER('dataplane')}
dataplane_replication:
  query: |
    SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS is_replica,
           CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END AS lag_seconds,
           (SELECT count(*) FROM pg_stat_replication) AS replicas,
           COALESCE((SELECT EXTRACT(EPOCH FROM max(replay_lag)) FROM pg_stat_replication), 0) AS max_replica_replay_lag_seconds
  metrics:
    - is_replica:
        usage: GAUGE
        description: 1 on a streaming replica
    - lag_seconds:
        usage: GAUGE
        description: On a replica, seconds since the last replayed transaction while WAL waits to be replayed
    - replicas:
        usage: GAUGE
        description: On a primary, streaming replicas connected
    - max_replica_replay_lag_seconds:
        usage: GAUGE
        description: On a primary, the largest replay_lag of its replicas
dataplane_timeseries:
  # Through the catalog of the time-series API, so hypertables (whose chunks are
  # child tables) and native partitioned tables report alike.
  query: |
    SELECT t.schema_name || '.' || t.table_name AS ts_table, t.engine::text AS engine,
           count(i.inhrelid) AS partitions,
           coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) AS bytes
      FROM dataplane.timeseries t
      JOIN pg_namespace n ON n.nspname = t.schema_name
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
      LEFT JOIN pg_inherits i ON i.inhparent = c.oid
     GROUP BY 1, 2
  metrics:
    - ts_table:
        usage: LABEL
        description: Time-series table
    - engine:
        usage: LABEL
        description: timescaledb or native
    - partitions:
        usage: GAUGE
        description: Chunks (TimescaleDB) or partitions (native) of the table
    - bytes:
        usage: GAUGE
        description: Bytes of the table's chunks or partitions, indexes and TOAST included
`;

export function renderNodeExporter(ctx: RenderContext): RenderedFile[] {
  return [{ service: 'node-exporter', name: 'web.yml', content: webConfig(ctx, 'node-exporter') }];
}

export function renderPostgresExporter(ctx: RenderContext): RenderedFile[] {
  return [
    { service: 'postgres-exporter', name: 'web.yml', content: webConfig(ctx, 'postgres-exporter') },
    { service: 'postgres-exporter', name: 'password', content: secretFor(ctx.secrets, 'postgres', MONITOR_LOGIN) },
    { service: 'postgres-exporter', name: 'queries.yml', content: POSTGRES_EXPORTER_QUERIES },
  ];
}

/**
 * The Redis exporter takes its password from the environment (REDIS_PASSWORD): its
 * password file (1.45) is a JSON map keyed by URI, which would just add a format.
 */
export function renderRedisExporter(): RenderedFile[] {
  return [];
}
