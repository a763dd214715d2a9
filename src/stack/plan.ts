/**
 * From validated config to everything the servers need: resources, tuning and the
 * rendered files. `up`, `config print` and `config render` all go through here so
 * they can never disagree.
 */
import { statePaths, type StatePaths } from '../config/paths.js';
import { resolveResources, type Machine } from '../config/resources.js';
import type { Config, ServiceName } from '../config/schema.js';
import { computeTuning, type Tuning } from '../config/tuning.js';
import { ConfigError } from '../errors/index.js';
import type { RenderedFile } from '../render/context.js';
import type { Access } from '../connect/access.js';
import { renderServers } from '../servers/index.js';
import { recordedPrimary } from '../servers/sentinel.js';
import { timescaledbInstalled } from '../servers/postgres.js';
import type { Binaries } from '../servers/types.js';

export interface TimescaleStatus {
  /** the extension's files are present next to the server */
  installed: boolean;
  /** it will be preloaded (installed and not turned off) */
  enabled: boolean;
}

export interface TuningPlan {
  config: Config;
  paths: StatePaths;
  tuning: Tuning;
  timescaledb: TimescaleStatus;
}

export interface Plan extends TuningPlan {
  files: RenderedFile[];
}

export function resolveTimescale(config: Config, postgres: Binaries | undefined): TimescaleStatus {
  const installed = postgres ? timescaledbInstalled(postgres) : false;
  if (config.postgres.timescaledb === 'required' && !installed) {
    throw new ConfigError([
      {
        path: 'postgres.timescaledb',
        message: `"required", but TimescaleDB is not installed for ${postgres?.server ?? 'the PostgreSQL server'}; install TimescaleDB 2.15 for PostgreSQL 16 or set it to "auto"`,
      },
    ]);
  }
  return { installed, enabled: installed && config.postgres.timescaledb !== 'off' };
}

/** Resources and tuning only: no secrets needed (`config print`). */
export function planTuning(config: Config, opts: { binaries: Partial<Record<ServiceName, Binaries>>; machine?: Machine }): TuningPlan {
  const paths = statePaths(config);
  const resources = resolveResources(config, opts.machine);
  const timescaledb = resolveTimescale(config, opts.binaries.postgres);
  const tuning = computeTuning(config, resources, { timescaledb: timescaledb.enabled });
  return { config, paths, tuning, timescaledb };
}

/**
 * Tuning and every enabled server's native files. In the ha topology the Redis
 * nodes' files follow the primary the sentinels last recorded (after failovers).
 */
export function planStack(access: Pick<Access, 'config' | 'secrets'>, opts: { binaries: Partial<Record<ServiceName, Binaries>>; machine?: Machine }): Plan {
  const plan = planTuning(access.config, opts);
  return { ...plan, files: renderPlanned(access, plan) };
}

/** The files of a plan again, with the secrets given (rotation) and the primary recorded now. */
export function renderPlanned(access: Pick<Access, 'config' | 'secrets'>, plan: TuningPlan): RenderedFile[] {
  const redisPrimary = recordedPrimary(access.config, plan.paths);
  return renderServers({ config: access.config, tuning: plan.tuning, secrets: access.secrets, paths: plan.paths, redisPrimary });
}
