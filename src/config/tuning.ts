/**
 * Tuning formulas: machine resources -> server settings.
 *
 * PostgreSQL follows timescaledb-tune v0.16 (pkg/pgtune: memory.go, parallel.go,
 * wal.go, misc.go), the tool TimescaleDB 2.15 ships with; PGTune agrees on the
 * memory ratios. Each server is tuned for its share of the memory budget, because
 * here the three share one machine (give a server share 1 on a dedicated host).
 * Every value carries a `why` so `config print` can show where it came from, and
 * every value can be overridden (postgres.settings, redis.settings, explicit fields).
 */
import type { Config } from './schema.js';
import type { Resources } from './resources.js';
import { formatPgSize, formatSize, GiB, KiB, MiB } from '../lib/sizes.js';

export interface Tuned<T = string | number> {
  value: T;
  why: string;
}

export type TunedSettings = Record<string, Tuned>;

export interface PostgresTuningInput {
  memory: number;
  cpus: number;
  disk: number;
  timescaledb: boolean;
  /** Size of a dedicated WAL disk, when there is one. */
  walDiskSize?: number | undefined;
}

const WAL_SEGMENT = 16 * MiB;
const MAINTENANCE_WORK_MEM_CAP = 2047 * MiB; // timescaledb-tune: 2GB limit on Unix, 2047MB everywhere
const TIMESCALEDB_BACKGROUND_WORKERS = 8; // timescaledb-tune default
const BUILTIN_WORKERS = 3; // checkpointer, WAL writer, autovacuum launcher
const PG_DEFAULT_MAX_WORKER_PROCESSES = 8;

/** max_connections by memory tier (DESIGN.md): small machines cannot afford many backends. */
export function postgresMaxConnections(memory: number): number {
  if (memory < 2 * GiB) return 25;
  if (memory < 4 * GiB) return 50;
  if (memory < 8 * GiB) return 75;
  return 100;
}

function roundUpToSegment(n: number): number {
  return Math.ceil(n / WAL_SEGMENT) * WAL_SEGMENT;
}

export function tunePostgres(input: PostgresTuningInput): TunedSettings {
  const { memory, cpus } = input;
  const gigs = memory / GiB;
  const conns = postgresMaxConnections(memory);
  const cpuFactor = Math.max(1, Math.round(cpus / 2));
  const out: TunedSettings = {};

  out.shared_buffers = { value: formatPgSize(memory / 4), why: `memory/4 of ${formatSize(memory)}` };
  out.effective_cache_size = { value: formatPgSize((memory * 3) / 4), why: `3/4 of ${formatSize(memory)}` };
  out.maintenance_work_mem = {
    value: formatPgSize(Math.min(gigs * 128 * MiB, MAINTENANCE_WORK_MEM_CAP)),
    why: '128MB per GB of memory, at most 2047MB',
  };
  out.max_connections = { value: conns, why: 'memory tier: <2GB 25, <4GB 50, <8GB 75, else 100' };
  // timescaledb-tune: gigs * (6.4MB * 20 base connections) / connections / round(cpus/2)
  const workMem = Math.max(64 * KiB, (gigs * 6.4 * 20 * MiB) / conns / cpuFactor);
  out.work_mem = { value: formatPgSize(workMem), why: 'GB * 128MB / max_connections / round(cpus/2), at least 64kB' };

  const bgWorkers = input.timescaledb ? TIMESCALEDB_BACKGROUND_WORKERS : 0;
  out.max_worker_processes = {
    value: Math.max(PG_DEFAULT_MAX_WORKER_PROCESSES, BUILTIN_WORKERS + bgWorkers + cpus),
    why: `3 built-in + ${bgWorkers} background workers + ${cpus} CPUs, at least 8`,
  };
  if (cpus > 1) {
    out.max_parallel_workers = { value: cpus, why: 'one per CPU' };
    out.max_parallel_workers_per_gather = { value: Math.round(cpus / 2), why: 'half the CPUs' };
    out.max_parallel_maintenance_workers = { value: Math.min(4, Math.round(cpus / 2)), why: 'half the CPUs, at most 4' };
  } else {
    const why = 'one CPU: parallel query only adds overhead';
    out.max_parallel_workers = { value: 0, why };
    out.max_parallel_workers_per_gather = { value: 0, why };
    out.max_parallel_maintenance_workers = { value: 0, why };
  }

  out.wal_buffers = memory < 2 * GiB
    ? { value: formatPgSize(gigs * 7864 * KiB), why: '7864kB per GB below 2GB of memory' }
    : { value: '16MB', why: '16MB (one WAL segment) from 2GB of memory' };

  let maxWal: number;
  let walWhy: string;
  if (input.walDiskSize) {
    maxWal = roundUpToSegment(input.walDiskSize * 0.6);
    walWhy = `60% of the ${formatSize(input.walDiskSize)} WAL disk`;
  } else {
    // No dedicated WAL disk: timescaledb-tune's 1GB default, but never more than a
    // tenth of the free disk, so a nearly full disk is not filled by WAL alone.
    maxWal = Math.max(2 * WAL_SEGMENT, roundUpToSegment(Math.min(GiB, input.disk / 10)));
    walWhy = `1GB, at most 10% of ${formatSize(input.disk)} free disk`;
  }
  out.max_wal_size = { value: formatPgSize(maxWal), why: walWhy };
  out.min_wal_size = { value: formatPgSize(Math.max(2 * WAL_SEGMENT, maxWal / 2)), why: 'half of max_wal_size' };
  out.checkpoint_completion_target = { value: 0.9, why: 'spread checkpoint writes over 90% of the interval' };
  out.random_page_cost = { value: 1.1, why: 'SSD storage' };
  out.effective_io_concurrency = { value: 256, why: 'SSD storage' };

  const preload = ['pg_stat_statements', ...(input.timescaledb ? ['timescaledb'] : [])];
  out.shared_preload_libraries = {
    value: preload.join(','),
    why: input.timescaledb ? 'query statistics; TimescaleDB is installed' : 'query statistics; TimescaleDB is not installed',
  };
  if (input.timescaledb) {
    out['timescaledb.max_background_workers'] = { value: TIMESCALEDB_BACKGROUND_WORKERS, why: 'timescaledb-tune default' };
    out['timescaledb.telemetry_level'] = { value: 'off', why: 'servers send no usage reports' };
    // Hypertable queries lock every chunk they touch.
    const locks = gigs >= 32 ? 512 : gigs >= 16 ? 256 : gigs >= 8 ? 128 : 64;
    out.max_locks_per_transaction = { value: locks, why: 'timescaledb-tune: 64 below 8GB, doubling per memory tier' };
  }
  return out;
}

export interface RedisTuning {
  maxmemory: Tuned<number>;
  ioThreads: Tuned<number>;
}

export function tuneRedis(config: Config['redis'], memory: number, cpus: number): RedisTuning {
  const maxmemory: Tuned<number> =
    config.maxmemory === 'auto'
      ? { value: Math.floor(memory * config.memoryShare), why: `${config.memoryShare} of ${formatSize(memory)}` }
      : { value: config.maxmemory, why: 'redis.maxmemory' };
  // Redis documents threaded I/O as useful from 4 cores, leaving a core for the main thread.
  const ioThreads: Tuned<number> =
    cpus >= 4 ? { value: Math.min(8, Math.floor(cpus / 2)), why: 'half the CPUs from 4 CPUs, at most 8' } : { value: 1, why: 'fewer than 4 CPUs' };
  return { maxmemory, ioThreads };
}

export interface NatsTuning {
  maxMemoryStore: Tuned<number>;
  maxFileStore: Tuned<number>;
  maxConnections: Tuned<number>;
}

/** Room for a connection's buffers (pending writes are capped per connection). */
const NATS_BYTES_PER_CONNECTION = 64 * KiB;

export function tuneNats(config: Config['nats'], memory: number, disk: number): NatsTuning {
  const natsMemory = Math.floor(memory * config.memoryShare);
  return {
    maxMemoryStore:
      config.maxMemoryStore === 'auto'
        ? { value: natsMemory, why: `${config.memoryShare} of ${formatSize(memory)}` }
        : { value: config.maxMemoryStore, why: 'nats.maxMemoryStore' },
    maxFileStore:
      config.maxFileStore === 'auto'
        ? { value: Math.floor(disk * config.diskShare), why: `${config.diskShare} of ${formatSize(disk)} free disk` }
        : { value: config.maxFileStore, why: 'nats.maxFileStore' },
    maxConnections:
      config.maxConnections === 'auto'
        ? {
            value: Math.max(64, Math.min(65536, Math.floor(natsMemory / NATS_BYTES_PER_CONNECTION))),
            why: 'memory share / 64kB per connection, 64..65536',
          }
        : { value: config.maxConnections, why: 'nats.maxConnections' },
  };
}

export interface Tuning {
  resources: Resources;
  postgres: TunedSettings;
  redis: RedisTuning;
  nats: NatsTuning;
}

export function computeTuning(config: Config, resources: Resources, opts: { timescaledb: boolean }): Tuning {
  const pgTuned = tunePostgres({
    memory: Math.floor(resources.memory * config.postgres.memoryShare),
    cpus: resources.cpus,
    disk: resources.disk,
    timescaledb: opts.timescaledb,
    walDiskSize: config.postgres.walDiskSize === 'auto' ? undefined : config.postgres.walDiskSize,
  });
  for (const [key, value] of Object.entries(config.postgres.settings)) {
    pgTuned[key] = { value: typeof value === 'boolean' ? (value ? 'on' : 'off') : value, why: 'postgres.settings' };
  }
  return {
    resources,
    postgres: pgTuned,
    redis: tuneRedis(config.redis, resources.memory, resources.cpus),
    nats: tuneNats(config.nats, resources.memory, resources.disk),
  };
}
