/**
 * The monitoring processes from Debian's packages: prometheus-node-exporter,
 * prometheus-postgres-exporter, prometheus-redis-exporter, prometheus-alertmanager
 * and prometheus. Each is a ServerDriver like the data servers, so the supervisor
 * starts, probes, restarts and stops them the same way. Credentials reach the
 * exporters through 0600 files or their environment, never their arguments.
 */
import path from 'node:path';
import type { Config, MonitorName } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import { restUrl } from '../connect/rest.js';
import { redisPort } from '../connect/tls.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import type { RenderContext, RenderedFile } from '../render/context.js';
import { MONITORING_USER, monitorTlsDir, renderAlertmanager, renderNodeExporter, renderPostgresExporter, renderPrometheus, renderRedisExporter, scrapeTimeoutSec } from '../render/monitoring.js';
import { MONITOR_LOGIN } from '../secrets/postgres-roles.js';
import { secretFor } from '../secrets/store.js';
import { tlsFiles } from '../tls/certificates.js';
import { httpsRequired } from '../tls/policy.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import { requireBinary, versionOutput, type Requirement } from '../lib/packages.js';
import { run, terminate } from '../lib/process.js';
import type { CredentialsOwner, ServerContext, ServerDriver } from './types.js';

export const MONITOR_REQUIREMENTS: Record<MonitorName, Requirement> = {
  prometheus: { binary: 'prometheus', package: 'prometheus' },
  alertmanager: { binary: 'prometheus-alertmanager', package: 'prometheus-alertmanager' },
  'node-exporter': { binary: 'prometheus-node-exporter', package: 'prometheus-node-exporter' },
  'postgres-exporter': { binary: 'prometheus-postgres-exporter', package: 'prometheus-postgres-exporter' },
  'redis-exporter': { binary: 'prometheus-redis-exporter', package: 'prometheus-redis-exporter', versionArgs: ['-version'] },
};

/** promtool comes with the prometheus package: rule checks and rule unit tests. */
export const PROMTOOL: Requirement = { binary: 'promtool', package: 'prometheus' };

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function portOf(config: Config, name: MonitorName): { port: number; configPath: string } {
  const m = config.monitoring;
  switch (name) {
    case 'prometheus':
      return { port: m.port, configPath: 'monitoring.port' };
    case 'alertmanager':
      return { port: m.alertmanagerPort, configPath: 'monitoring.alertmanagerPort' };
    case 'node-exporter':
      return { port: m.nodeExporterPort, configPath: 'monitoring.nodeExporterPort' };
    case 'postgres-exporter':
      return { port: m.postgresExporterPort, configPath: 'monitoring.postgresExporterPort' };
    case 'redis-exporter':
      return { port: m.redisExporterPort, configPath: 'monitoring.redisExporterPort' };
  }
}

export function monitorUrl(config: Config, name: MonitorName): string {
  const scheme = httpsRequired(config, config.monitoring.host) ? 'https' : 'http';
  return `${scheme}://${hostPort(config.monitoring.host, portOf(config, name).port)}`;
}

/**
 * GET with the monitoring login (and, over HTTPS, the HTTP surfaces' certificate as the
 * client's: the Redis exporter authenticates by it); the body, parsed when JSON. Throws
 * with the status when not 2xx.
 */
export async function monitoringGet<T = unknown>(access: Access, url: string, timeoutMs = 2000): Promise<T> {
  const { config } = access;
  const r = await restUrl<T>(config, url, {
    timeoutMs,
    login: { user: MONITORING_USER, password: secretFor(access.secrets, 'monitoring', MONITORING_USER) },
    ...(config.tls.enabled ? { cert: tlsFiles(config).http } : {}),
  });
  if (r.status < 200 || r.status > 299) throw new ProbeError(`${url.replace(/\?.*/, '')} answered ${r.status}`);
  return r.body;
}

interface MonitorSpec {
  name: MonitorName;
  /** Path that answers 200 once the process serves. */
  readyPath: string;
  render(ctx: RenderContext): RenderedFile[];
  args(ctx: ServerContext, dir: string, listen: string): string[];
  env?(ctx: ServerContext, dir: string): Record<string, string>;
  /** Folders the process writes to (created private to the service user). */
  dataDirs?(ctx: ServerContext): string[];
  credentials?: CredentialsOwner;
}

function driverFor(spec: MonitorSpec): ServerDriver {
  const req = MONITOR_REQUIREMENTS[spec.name];
  return {
    name: spec.name,
    instances: () => [spec.name],
    async locate() {
      const server = requireBinary(req);
      const r = await versionOutput(server, req.versionArgs ?? ['--version']);
      const m = /(\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr);
      if (!m) throw new BinaryNotFoundError(req.binary, `${server} did not report a version; reinstall the Debian package ${req.package}`);
      return { server, version: m[1]! };
    },
    ports: (config) => [{ host: config.monitoring.host, ...portOf(config, spec.name) }],
    address: (config) => hostPort(config.monitoring.host, portOf(config, spec.name).port),
    render: spec.render,
    async prepare(ctx) {
      const dir = ctx.paths.monitoring.of(spec.name);
      privateDir(ctx.paths.monitoring.dir, ctx.user);
      privateDir(dir, ctx.user);
      for (const d of spec.dataDirs?.(ctx) ?? []) privateDir(d, ctx.user);
      // The HTTP surfaces' certificate (HTTPS, Prometheus's client certificate) and the CA (a webhook of the stack's CA).
      if (ctx.config.tls.enabled) {
        const files = tlsFiles(ctx.config);
        installServerCert(monitorTlsDir(dir), files.http, ctx.user, files.caFile);
      }
      writeServerFiles(
        dir,
        ctx.files.filter((f) => f.service === spec.name),
        ctx.user,
      );
    },
    command(ctx) {
      const dir = ctx.paths.monitoring.of(spec.name);
      const listen = hostPort(ctx.config.monitoring.host, portOf(ctx.config, spec.name).port);
      return { bin: ctx.binaries.server, args: spec.args(ctx, dir, listen), cwd: dir, ...(spec.env ? { env: spec.env(ctx, dir) } : {}) };
    },
    async probe(access, timeoutMs = 2000) {
      const started = performance.now();
      await monitoringGet(access, `${monitorUrl(access.config, spec.name)}${spec.readyPath}`, timeoutMs);
      return { version: '', latencyMs: performance.now() - started };
    },
    async reload(_ctx, rec) {
      // Prometheus and Alertmanager re-read their config and rules on SIGHUP; the
      // exporters' configs only change with passwords, which need a restart.
      if (spec.name === 'prometheus' || spec.name === 'alertmanager') process.kill(rec.pid, 'SIGHUP');
    },
    async stop(_access, rec, timeoutMs) {
      await terminate(rec, 'SIGTERM', timeoutMs);
    },
    ...(spec.credentials ? { credentials: spec.credentials } : {}),
  };
}

/**
 * The monitoring login guards Prometheus, Alertmanager and the exporters; Prometheus
 * owns it: the new hash reaches every web.yml with the reload, and Prometheus re-reads
 * its password file (what it scrapes with) on SIGHUP.
 */
const monitoringLogin: CredentialsOwner = {
  service: 'monitoring',
  async verifyLogin(access) {
    await monitoringGet(access, `${monitorUrl(access.config, 'prometheus')}/-/ready`);
  },
};

const webConfig = (dir: string) => `--web.config.file=${path.join(dir, 'web.yml')}`;

export const monitorDrivers: Record<MonitorName, ServerDriver> = {
  'node-exporter': driverFor({
    name: 'node-exporter',
    // The landing page: /metrics collects every figure (20-30 ms a probe); Prometheus's scrapes check that.
    readyPath: '/',
    render: renderNodeExporter,
    // The textfile collector reads a system folder that is not ours.
    args: (_ctx, dir, listen) => [`--web.listen-address=${listen}`, webConfig(dir), '--no-collector.textfile'],
  }),
  'postgres-exporter': driverFor({
    name: 'postgres-exporter',
    // Its landing page: /metrics queries PostgreSQL, so a start would wait for the database.
    readyPath: '/',
    render: renderPostgresExporter,
    args: (_ctx, dir, listen) => [`--web.listen-address=${listen}`, webConfig(dir), `--extend.query-path=${path.join(dir, 'queries.yml')}`],
    env(ctx, dir) {
      const { config } = ctx;
      const ssl = config.tls.enabled ? `sslmode=verify-full&sslrootcert=${encodeURIComponent(tlsFiles(config).caFile)}` : 'sslmode=disable';
      return {
        DATA_SOURCE_URI: `${hostPort(config.postgres.host, config.postgres.port)}/${config.postgres.database}?${ssl}`,
        DATA_SOURCE_USER: MONITOR_LOGIN,
        DATA_SOURCE_PASS_FILE: path.join(dir, 'password'),
      };
    },
  }),
  'redis-exporter': driverFor({
    name: 'redis-exporter',
    // The landing page: /metrics reads Redis (20 ms a probe); Prometheus's scrapes check that.
    readyPath: '/',
    render: renderRedisExporter,
    args: (ctx, dir, listen) => [
      `-web.listen-address=${listen}`,
      // Shorter than the scrape: a hung Redis must read as redis_up 0, not as a failed scrape.
      `-connection-timeout=${Math.round(scrapeTimeoutSec(ctx.config) * 500)}ms`,
      ...(ctx.config.tls.enabled ? [`-tls-ca-cert-file=${tlsFiles(ctx.config).caFile}`] : []),
      // No basic auth in this exporter: HTTPS that requires a client certificate of the stack's CA.
      ...(httpsRequired(ctx.config, ctx.config.monitoring.host)
        ? [
            `-tls-server-cert-file=${path.join(monitorTlsDir(dir), 'server.crt')}`,
            `-tls-server-key-file=${path.join(monitorTlsDir(dir), 'server.key')}`,
            `-tls-server-ca-cert-file=${path.join(monitorTlsDir(dir), 'ca.crt')}`,
            '-tls-server-min-version=TLS1.2',
          ]
        : []),
    ],
    env(ctx) {
      const { config } = ctx;
      const ep = redisPort(config);
      return {
        REDIS_ADDR: `${ep.tls ? 'rediss' : 'redis'}://${hostPort(config.redis.host, ep.port)}`,
        REDIS_USER: 'monitor',
        REDIS_PASSWORD: secretFor(ctx.secrets, 'redis', 'monitor'),
      };
    },
  }),
  alertmanager: driverFor({
    name: 'alertmanager',
    readyPath: '/-/ready',
    render: renderAlertmanager,
    dataDirs: (ctx) => [ctx.paths.monitoring.alertmanagerData],
    args: (ctx, dir, listen) => [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${ctx.paths.monitoring.alertmanagerData}`,
      `--web.listen-address=${listen}`,
      webConfig(dir),
      // Empty: no gossip port (the default listens on every address at :9094).
      '--cluster.listen-address=',
    ],
  }),
  prometheus: driverFor({
    name: 'prometheus',
    readyPath: '/-/ready',
    render: renderPrometheus,
    credentials: monitoringLogin,
    dataDirs: (ctx) => [ctx.paths.monitoring.prometheusData],
    args: (ctx, dir, listen) => [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${ctx.paths.monitoring.prometheusData}`,
      `--storage.tsdb.retention.time=${ctx.config.monitoring.retention}`,
      `--web.listen-address=${listen}`,
      webConfig(dir),
    ],
  }),
};

/** The monitoring processes this config runs, in start order (Prometheus last: it scrapes the rest). */
export function wantedMonitors(config: Config): MonitorName[] {
  if (!config.monitoring.enabled) return [];
  const order: MonitorName[] = ['node-exporter', 'postgres-exporter', 'redis-exporter', 'alertmanager', 'prometheus'];
  return order.filter((n) => (n === 'postgres-exporter' ? config.postgres.enabled : n === 'redis-exporter' ? config.redis.enabled : true));
}

