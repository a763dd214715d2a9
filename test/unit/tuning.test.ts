import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolveResources } from '../../src/config/resources.js';
import { GiB, MiB } from '../../src/lib/sizes.js';
import { computeTuning, postgresMaxConnections, tuneNats, tunePostgres, tuneRedis } from '../../src/config/tuning.js';

const values = (t: ReturnType<typeof tunePostgres>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.value]));

describe('PostgreSQL formulas (timescaledb-tune v0.16)', () => {
  it('small machine: 1 CPU, 1GB', () => {
    const v = values(tunePostgres({ memory: 1 * GiB, cpus: 1, disk: 100 * GiB, timescaledb: false }));
    expect(v).toMatchObject({
      shared_buffers: '256MB',
      effective_cache_size: '768MB',
      maintenance_work_mem: '128MB',
      max_connections: 25,
      // 1GB * 128MB / 25 conns / round(1/2)=1 -> 5.12MB
      work_mem: '5242kB',
      max_worker_processes: 8,
      max_parallel_workers: 0,
      max_parallel_workers_per_gather: 0,
      wal_buffers: '7864kB',
      max_wal_size: '1GB',
      min_wal_size: '512MB',
      checkpoint_completion_target: 0.9,
      random_page_cost: 1.1,
      effective_io_concurrency: 256,
      shared_preload_libraries: 'pg_stat_statements',
    });
    // An array path: the setting's name contains a dot, which a string path would read as nesting.
    expect(v).not.toHaveProperty(['timescaledb.max_background_workers']);
    expect(Object.keys(v).filter((k) => k.startsWith('timescaledb.'))).toEqual([]);
  });

  it('medium machine: 4 CPUs, 8GB, TimescaleDB', () => {
    const v = values(tunePostgres({ memory: 8 * GiB, cpus: 4, disk: 100 * GiB, timescaledb: true }));
    expect(v).toMatchObject({
      shared_buffers: '2GB',
      effective_cache_size: '6GB',
      maintenance_work_mem: '1GB',
      max_connections: 100,
      // 8 * 128MB / 100 / round(4/2)=2 -> 5.12MB
      work_mem: '5242kB',
      max_worker_processes: 3 + 8 + 4,
      max_parallel_workers: 4,
      max_parallel_workers_per_gather: 2,
      wal_buffers: '16MB',
      shared_preload_libraries: 'pg_stat_statements,timescaledb',
      'timescaledb.max_background_workers': 8,
      max_locks_per_transaction: 128,
    });
  });

  it('large machine: 32 CPUs, 128GB caps maintenance_work_mem at 2047MB', () => {
    const v = values(tunePostgres({ memory: 128 * GiB, cpus: 32, disk: 1024 * GiB, timescaledb: false }));
    expect(v.shared_buffers).toBe('32GB');
    expect(v.effective_cache_size).toBe('96GB');
    expect(v.maintenance_work_mem).toBe('2047MB');
    expect(v.max_worker_processes).toBe(3 + 32);
    expect(v.max_parallel_maintenance_workers).toBe(4);
    // 128 * 128MB / 100 / 16 = 10.24MB
    expect(v.work_mem).toBe('10485kB');
  });

  it('memory tiers for max_connections', () => {
    expect([1, 3, 6, 16].map((g) => postgresMaxConnections(g * GiB))).toEqual([25, 50, 75, 100]);
  });

  it('sizes WAL from a dedicated disk (60%, whole segments) or keeps it small on a nearly full disk', () => {
    const dedicated = tunePostgres({ memory: 4 * GiB, cpus: 2, disk: 100 * GiB, timescaledb: false, walDiskSize: 9 * GiB });
    expect(dedicated.max_wal_size!.value).toBe('5536MB'); // 60% of 9GB = 5529.6MB, rounded up to a 16MB multiple
    const tight = tunePostgres({ memory: 4 * GiB, cpus: 2, disk: 300 * MiB, timescaledb: false });
    expect(tight.max_wal_size!.value).toBe('32MB');
    expect(tight.min_wal_size!.value).toBe('32MB');
  });
});

describe('Redis and NATS', () => {
  const config = parseConfig({});
  it('gives Redis its memory share, or the explicit maxmemory', () => {
    expect(tuneRedis(config.redis, 8 * GiB, 2).maxmemory.value).toBe(2 * GiB);
    expect(tuneRedis(parseConfig({ redis: { maxmemory: '100mb' } }).redis, 8 * GiB, 2).maxmemory.value).toBe(100 * MiB);
    expect(tuneRedis(config.redis, 8 * GiB, 8).ioThreads.value).toBe(4);
    expect(tuneRedis(config.redis, 8 * GiB, 2).ioThreads.value).toBe(1);
  });

  it('sizes JetStream stores and connections', () => {
    const t = tuneNats(config.nats, 4 * GiB, 100 * GiB);
    expect(t.maxMemoryStore.value).toBe(1 * GiB);
    expect(t.maxFileStore.value).toBe(50 * GiB);
    expect(t.maxConnections.value).toBe(16384);
    expect(tuneNats(config.nats, 64 * GiB, 100 * GiB).maxConnections.value).toBe(65536);
  });
});

describe('computeTuning', () => {
  it('applies memory shares and lets postgres.settings override any value', () => {
    const config = parseConfig({ resources: { memory: '8gb', cpus: 2, disk: '50gb' }, postgres: { settings: { shared_buffers: '1GB', jit: false } } });
    const t = computeTuning(config, resolveResources(config), { timescaledb: false });
    expect(t.resources).toMatchObject({ cpus: 2, memory: 8 * GiB, disk: 50 * GiB });
    expect(t.postgres.effective_cache_size!.value).toBe('3GB'); // 3/4 of the 4GB share
    expect(t.postgres.shared_buffers).toEqual({ value: '1GB', why: 'postgres.settings' });
    expect(t.postgres.jit!.value).toBe('off');
  });

  it('measures the machine when resources are auto', () => {
    const config = parseConfig({});
    const r = resolveResources(config, { cpus: 3, memory: 5 * GiB, disk: 7 * GiB });
    expect(r).toMatchObject({ cpus: 3, memory: 5 * GiB, disk: 7 * GiB, detected: { cpus: true, memory: true, disk: true } });
  });
});
