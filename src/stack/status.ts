/**
 * The state of a stack as seen from outside its supervisor (the `status` command,
 * scripts): pid files, then a real authenticated probe of each live server.
 */
import { statePaths } from '../config/paths.js';
import { SERVICES, type Config, type ServiceName } from '../config/schema.js';
import { readSecrets, type Secrets } from '../secrets/store.js';
import { drivers } from '../servers/index.js';
import { isRecordAlive, readPidFile } from '../servers/process.js';
import { clientFor, withClient } from '../postgres/clients.js';
import { listTimeseries, type TimeseriesTable } from '../postgres/timeseries.js';
import { liveSupervisor, readSupervisorState } from './state.js';

export interface ServiceStatus {
  name: ServiceName;
  status: 'running' | 'unhealthy' | 'stopped' | 'disabled';
  address: string;
  pid: number | null;
  version: string | null;
  latencyMs: number | null;
  restarts: number | null;
  reason: string | null;
}

export interface StackStatus {
  stateDir: string;
  /** supervisor alive and every enabled server answering */
  healthy: boolean;
  supervisor: { pid: number; startedAt: string | null } | null;
  health: { url: string } | null;
  timescaledb: { installed: boolean; enabled: boolean } | null;
  services: ServiceStatus[];
  /** time-series tables and the engine of each; null when PostgreSQL is not answering */
  timeseries: TimeseriesTable[] | null;
}

export async function stackStatus(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<StackStatus> {
  const paths = statePaths(config);
  const sup = liveSupervisor(paths);
  const state = sup ? readSupervisorState(paths) : undefined;
  let secrets: Secrets | undefined;
  let secretsProblem: string | undefined;
  try {
    secrets = readSecrets(config, env);
  } catch (e) {
    secretsProblem = (e as Error).message;
  }
  const services = await Promise.all(
    SERVICES.map(async (name): Promise<ServiceStatus> => {
      const driver = drivers[name];
      const base: ServiceStatus = {
        name,
        status: 'stopped',
        address: driver.address(config),
        pid: null,
        version: null,
        latencyMs: null,
        restarts: state?.services[name]?.restarts ?? null,
        reason: null,
      };
      if (!config[name].enabled) return { ...base, status: 'disabled' };
      const rec = readPidFile(paths.pidFile(name));
      if (!rec || !isRecordAlive(rec)) {
        return { ...base, reason: rec ? 'pid file is stale (process gone)' : sup ? 'restarting or not started' : 'not running' };
      }
      if (!secrets) return { ...base, status: 'unhealthy', pid: rec.pid, reason: secretsProblem ?? 'no credentials' };
      try {
        const p = await driver.probe(config, secrets, 2000);
        return {
          ...base,
          status: 'running',
          pid: rec.pid,
          version: p.version,
          latencyMs: Math.round(p.latencyMs * 10) / 10,
          // Running without a supervisor means nobody restarts it if it dies.
          reason: sup ? null : 'no supervisor: left by a crash; `dataplane up` restarts it under supervision',
        };
      } catch (e) {
        return { ...base, status: 'unhealthy', pid: rec.pid, reason: (e as Error).message };
      }
    }),
  );
  let timeseries: TimeseriesTable[] | null = null;
  if (secrets && services.find((x) => x.name === 'postgres')?.status === 'running') {
    timeseries = await withClient(clientFor(config, secrets, config.postgres.owner, { timeoutMs: 2000 }), listTimeseries).catch(() => null);
  }
  return {
    stateDir: paths.root,
    healthy: Boolean(sup) && services.every((s) => s.status === 'running' || s.status === 'disabled'),
    supervisor: sup ? { pid: sup.pid, startedAt: state?.startedAt ?? null } : null,
    health: state?.health ?? null,
    timescaledb: state?.timescaledb ?? null,
    services,
    timeseries,
  };
}
