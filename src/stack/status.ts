/**
 * The state of a stack as seen from outside its supervisor (the `status` command,
 * scripts): pid files, then a real authenticated probe of each live server, with
 * its key figures.
 */
import { statePaths } from '../config/paths.js';
import { MONITORS, SERVICES, type Config, type ProcessName } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess, type Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { restUrl } from '../connect/rest.js';
import { isRecordAlive, readPidFile } from '../lib/process.js';
import type { Readiness } from '../observe/health.js';
import { MONITORING_USER } from '../render/monitoring.js';
import { secretFor } from '../secrets/store.js';
import { listTimeseries, type TimeseriesTable } from '../postgres/timeseries.js';
import { allDrivers, figuresOf, wantsPatroni, wantsSentinels } from '../servers/index.js';
import { monitorUrl, wantedMonitors } from '../servers/monitoring.js';
import type { ServerFigures } from '../servers/types.js';
import { httpsRequired } from '../tls/policy.js';
import { liveSupervisor, readSupervisorState } from './state.js';

export interface ServiceStatus {
  /** The process instance: the server's name, or a node's (nats-2) in the ha topology. */
  name: string;
  /** What runs there. */
  service: ProcessName;
  status: 'running' | 'unhealthy' | 'stopped' | 'disabled';
  address: string;
  pid: number | null;
  version: string | null;
  latencyMs: number | null;
  restarts: number | null;
  reason: string | null;
  /** connections, memory, storage and lag, as /readyz reports them; null when not running */
  figures: ServerFigures | null;
  figuresError?: string;
}

export interface ListeningPort {
  process: string;
  host: string;
  port: number;
  setting: string;
  http: 'http' | 'https' | null;
}

export interface StackStatus {
  stateDir: string;
  /** supervisor alive and every enabled server answering */
  healthy: boolean;
  supervisor: { pid: number; startedAt: string | null } | null;
  health: { url: string } | null;
  /** Prometheus and Alertmanager, when monitoring is on (log in with `dataplane credentials monitoring`) */
  monitoring: { prometheus: string; alertmanager: string } | null;
  timescaledb: { installed: boolean; enabled: boolean } | null;
  services: ServiceStatus[];
  /**
   * Every port the stack listens on: the servers' (clients, peers, monitoring) and the
   * HTTP surfaces' (the health server, Prometheus, Alertmanager, exporters), with the
   * setting that chooses it and, for HTTP, whether it is plain or TLS.
   */
  ports: ListeningPort[];
  /** time-series tables and the engine of each; null when PostgreSQL is not answering */
  timeseries: TimeseriesTable[] | null;
}

/** The supervisor's /readyz; undefined when it does not answer (the caller probes itself then). */
async function supervisorReadiness(access: Access, url: string): Promise<Readiness | undefined> {
  const secure = url.startsWith('https:');
  const login = secure ? { login: { user: MONITORING_USER, password: secretFor(access.secrets, 'monitoring', MONITORING_USER) } } : {};
  const r = await restUrl<Readiness>(access.config, `${url}/readyz`, { timeoutMs: 5000, ...login }).catch(() => undefined);
  return r && (r.status === 200 || r.status === 503) && typeof r.body === 'object' ? r.body : undefined;
}

/** A running server as the supervisor's readiness saw it. */
function asStatus(c: Readiness['components'][string]): Pick<ServiceStatus, 'status' | 'latencyMs' | 'reason' | 'figures' | 'figuresError'> {
  if (c.status !== 'up') return { status: 'unhealthy', latencyMs: null, reason: c.reason ?? 'down', figures: null };
  const { figuresError, ...figures } = (c.details ?? {}) as Record<string, unknown>;
  return {
    status: 'running',
    latencyMs: c.latencyMs ?? null,
    reason: null,
    figures: c.details && !figuresError ? (figures as unknown as ServerFigures) : null,
    ...(typeof figuresError === 'string' ? { figuresError } : {}),
  };
}

/** `environment`: what the config loader read (DATAPLANE_SECRET_* values). */
export async function stackStatus(config: Config, environment?: RuntimeEnvironment): Promise<StackStatus> {
  const paths = statePaths(config);
  const sup = liveSupervisor(paths);
  const state = sup ? readSupervisorState(paths) : undefined;
  let access: Access | undefined;
  let secretsProblem: string | undefined;
  try {
    access = resolveAccess({ config, environment });
  } catch (e) {
    secretsProblem = (e as Error).message;
  }
  // The data servers always (a disabled one says so); monitoring processes only when the config runs them;
  // every node of a server in the ha topology.
  const monitors = new Set<ProcessName>(wantedMonitors(config));
  const servers: ProcessName[] = SERVICES.flatMap((s): ProcessName[] =>
    s === 'postgres' && wantsPatroni(config) ? ['etcd', s, 'haproxy'] : s === 'redis' && wantsSentinels(config) ? [s, 'sentinel'] : [s],
  );
  const rows = [...servers, ...MONITORS.filter((m) => monitors.has(m))].flatMap((service) => {
    const enabled = (SERVICES as readonly string[]).includes(service) ? config[service as (typeof SERVICES)[number]].enabled : true;
    return (enabled ? allDrivers[service].instances(config) : [service]).map((instance) => ({ service, instance }));
  });
  // Probes one at a time, then the figures: a probe's latency is then its server's, not a share of
  // this process's thread with seven other TLS handshakes (which read as 60-160 ms each).
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const r = turn.then(fn);
    turn = r.catch(() => undefined);
    return r;
  };
  // The supervisor probes on the logins it keeps (a round trip, not a login each time): ask it first.
  const fromSupervisor = sup && state?.health && access ? supervisorReadiness(access, state.health.url) : Promise.resolve(undefined);
  let probed: Promise<unknown> = Promise.resolve();
  const pending = Promise.all(
    rows.map(async ({ service: name, instance }): Promise<ServiceStatus> => {
      const driver = allDrivers[name];
      const server = (SERVICES as readonly string[]).includes(name) ? (name as (typeof SERVICES)[number]) : undefined;
      const base: ServiceStatus = {
        name: instance,
        service: name,
        status: 'stopped',
        address: driver.address(config, instance),
        pid: null,
        version: null,
        latencyMs: null,
        restarts: state?.services[instance]?.restarts ?? null,
        reason: null,
        figures: null,
      };
      if (server ? !config[server].enabled : !servers.includes(name) && !monitors.has(name)) return { ...base, status: 'disabled' };
      const rec = readPidFile(paths.pidFile(instance));
      if (!rec || !isRecordAlive(rec)) {
        return { ...base, reason: rec ? 'pid file is stale (process gone)' : sup ? 'restarting or not started' : 'not running' };
      }
      if (!access) return { ...base, status: 'unhealthy', pid: rec.pid, reason: secretsProblem ?? 'no credentials' };
      const seen = (await fromSupervisor)?.components[instance];
      if (seen) return { ...base, ...asStatus(seen), pid: rec.pid, version: seen.version || state?.services[instance]?.version || null };
      try {
        const p = await inTurn(() => driver.probe(access, 2000, instance));
        await probed;
        const f = await figuresOf(driver, access, 2000, instance);
        return {
          ...base,
          figures: f.figures ?? null,
          ...(f.error ? { figuresError: f.error } : {}),
          status: 'running',
          pid: rec.pid,
          version: p.version || state?.services[instance]?.version || null,
          latencyMs: Math.round(p.latencyMs * 10) / 10,
          // Running without a supervisor means nobody restarts it if it dies.
          reason: sup ? null : 'no supervisor: left by a crash; `dataplane up` restarts it under supervision',
        };
      } catch (e) {
        return { ...base, status: 'unhealthy', pid: rec.pid, reason: (e as Error).message };
      }
    }),
  );
  probed = turn;
  const services = await pending;
  const monitorHttp = httpsRequired(config, config.monitoring.host) ? 'https' : 'http';
  const ports: ListeningPort[] = [...new Set(rows.map((r) => r.service))]
    .filter((name) => ((SERVICES as readonly string[]).includes(name) ? config[name as (typeof SERVICES)[number]].enabled : true))
    .flatMap((name) => allDrivers[name].ports(config).map((p) => ({ process: name, host: p.host, port: p.port, setting: p.configPath, http: monitors.has(name) ? monitorHttp : null })));
  if (config.health.enabled) ports.push({ process: 'supervisor', host: config.health.host, port: config.health.port, setting: 'health.port', http: httpsRequired(config, config.health.host) ? 'https' : 'http' });
  let timeseries: TimeseriesTable[] | null = null;
  if (access && services.find((x) => x.name === (wantsPatroni(config) ? 'haproxy' : 'postgres'))?.status === 'running') {
    timeseries = await withPg(access, { user: config.postgres.owner, timeoutMs: 2000 }, listTimeseries).catch(() => null);
  }
  return {
    stateDir: paths.root,
    healthy: Boolean(sup) && services.every((s) => s.status === 'running' || s.status === 'disabled'),
    supervisor: sup ? { pid: sup.pid, startedAt: state?.startedAt ?? null } : null,
    health: state?.health ?? null,
    monitoring: config.monitoring.enabled ? { prometheus: monitorUrl(config, 'prometheus'), alertmanager: monitorUrl(config, 'alertmanager') } : null,
    timescaledb: state?.timescaledb ?? null,
    services,
    ports,
    timeseries,
  };
}
