/**
 * Metrics about the servers, gathered by the supervisor at scrape time and served
 * on its /metrics next to the library's own: NATS server and JetStream figures
 * (from the monitoring endpoint: nothing else exports them here), disk use of the
 * data areas, certificate expiry, outbox backlog, and supervision (up, restarts).
 * PostgreSQL and Redis server internals come from their Prometheus exporters.
 */
import { existsSync, lstatSync, readdirSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import type { StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import { withPg } from '../connect/postgres.js';
import { MONITOR_LOGIN } from '../secrets/postgres-roles.js';
import { certificateList, readCertificate } from '../tls/certificates.js';
import { scrapeTimeoutSec } from '../render/monitoring.js';
import { listBackups } from '../backup/catalog.js';
import { natsNodes } from '../config/topology.js';
import { fetchNatsStats, type NatsStats } from '../servers/nats-monitor.js';
import { registerBackupMetrics } from './backup-metrics.js';
import { registerPostgresHaMetrics } from './postgres-ha-metrics.js';
import { registerRedisMetrics } from './redis-metrics.js';

export interface ServerMetricsSources {
  config: Config;
  paths: StatePaths;
  /** The current access (secrets change with rotation). */
  access: () => Access;
  /** per managed process: 1 running, 0 otherwise, its restart count, and the cluster it is a node of ('' for none) */
  services: () => { name: string; up: boolean; restarts: number; cluster?: string }[];
}

/** One fetch shared by every gauge of a scrape; a failed fetch leaves the gauges empty. */
function memo<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T | undefined> {
  let at = 0;
  let value: Promise<T | undefined> | undefined;
  return () => {
    if (!value || Date.now() - at > ttlMs) {
      at = Date.now();
      value = load().catch(() => undefined);
    }
    return value;
  };
}

/** Bytes under a directory (files only, symlinks not followed). */
export function directoryBytes(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      continue; // vanished or unreadable: WAL segments come and go during the walk
    }
    for (const e of entries) {
      const p = path.join(d, e);
      try {
        const st = lstatSync(p);
        if (st.isDirectory()) stack.push(p);
        else if (st.isFile()) total += st.size;
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return total;
}

/** The data areas whose growth the disk alerts watch. */
export function dataAreas(config: Config, paths: StatePaths): { area: string; service: string; dir: string }[] {
  const areas: { area: string; service: string; dir: string }[] = [];
  if (config.postgres.enabled) {
    areas.push(
      { area: 'pg_data', service: 'postgres', dir: paths.pg.data },
      { area: 'pg_wal', service: 'postgres', dir: path.join(paths.pg.data, 'pg_wal') },
      { area: 'pg_wal_archive', service: 'postgres', dir: paths.pg.walArchive },
    );
  }
  if (config.redis.enabled) areas.push({ area: 'redis', service: 'redis', dir: paths.redis.dir });
  if (config.nats.enabled) areas.push({ area: 'jetstream', service: 'nats', dir: paths.nats.jetstream });
  areas.push({ area: 'backups', service: 'backup', dir: paths.backups });
  return areas;
}

/** `service` is the process instance (nats-2); `cluster` the kind of cluster it is a node of, only in ha. */
function processLabels(s: { name: string; cluster?: string }): Record<string, string> {
  return s.cluster ? { service: s.name, cluster: s.cluster } : { service: s.name };
}

export function createServerMetrics(src: ServerMetricsSources): Registry {
  const registry = new Registry();
  const { config, paths } = src;
  // Each source answers well within Prometheus's scrape timeout: one hung server must
  // not fail the whole scrape and blind every other figure here.
  const timeoutMs = Math.min(2000, scrapeTimeoutSec(config) * 400);
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[], collect: (this: Gauge<L>) => Promise<void> | void) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry], collect });

  g('dataplane_server_up', '1 while the supervisor sees the server running', ['service', 'cluster'], function () {
    this.reset();
    for (const s of src.services()) this.set(processLabels(s), s.up ? 1 : 0);
  });
  g('dataplane_server_restarts', 'Restarts of the server by the supervisor since it started', ['service', 'cluster'], function () {
    this.reset();
    for (const s of src.services()) this.set(processLabels(s), s.restarts);
  });

  // Disk: walking the directories costs I/O, so at most every 15 s.
  const disk = memo(15_000, async () =>
    dataAreas(config, paths)
      .filter((a) => existsSync(a.dir))
      .map((a) => {
        const fs = statfsSync(a.dir);
        return { labels: { area: a.area, service: a.service }, used: directoryBytes(a.dir), avail: fs.bavail * fs.bsize, size: fs.blocks * fs.bsize };
      }),
  );
  g('dataplane_disk_used_bytes', 'Bytes used by a data area (pg_data, pg_wal, jetstream, ...)', ['area', 'service'], async function () {
    this.reset();
    for (const d of (await disk()) ?? []) this.set(d.labels, d.used);
  });
  g('dataplane_filesystem_avail_bytes', 'Bytes available to unprivileged users on the filesystem holding the area', ['area', 'service'], async function () {
    this.reset();
    for (const d of (await disk()) ?? []) this.set(d.labels, d.avail);
  });
  g('dataplane_filesystem_size_bytes', 'Size of the filesystem holding the area', ['area', 'service'], async function () {
    this.reset();
    for (const d of (await disk()) ?? []) this.set(d.labels, d.size);
  });

  if (config.tls.enabled) {
    g('dataplane_tls_certificate_expiry_timestamp_seconds', 'When the certificate stops being valid (Unix time)', ['certificate'], function () {
      this.reset();
      for (const c of certificateList(config)) {
        try {
          this.set({ certificate: c.name }, readCertificate(c.file).notAfter.getTime() / 1000);
        } catch {
          /* not issued yet */
        }
      }
    });
  }

  if (config.postgres.enabled) {
    const backlog = memo(1000, () =>
      withPg(src.access(), { user: MONITOR_LOGIN, timeoutMs }, async (db) => {
        await db.query(`set statement_timeout = ${timeoutMs}`);
        const { rows } = await db.query<{ unpublished: string; oldest_age_seconds: number }>('SELECT * FROM messaging.outbox_backlog()');
        return rows[0]!;
      }),
    );
    g('dataplane_outbox_backlog', 'Outbox rows not yet published to JetStream', [], async function () {
      const b = await backlog();
      if (b) this.set(Number(b.unpublished));
    });
    g('dataplane_outbox_oldest_age_seconds', 'Age of the oldest unpublished outbox row (0 when none)', [], async function () {
      const b = await backlog();
      if (b) this.set(b.oldest_age_seconds);
    });
  }

  // Manifests list every stored file: read them at most once per disk interval, for both gauges.
  const backups = memo(15_000, async () => {
    const all = listBackups(paths);
    return { count: all.length, newest: all.at(-1)?.manifest.finishedAt };
  });
  g('dataplane_backup_last_success_timestamp_seconds', 'When the newest complete backup finished (Unix time); 0 when there is none', [], async function () {
    const b = await backups();
    if (b) this.set(b.newest ? Date.parse(b.newest) / 1000 : 0);
  });
  g('dataplane_backups', 'Complete backups kept in the backup area', [], async function () {
    const b = await backups();
    if (b) this.set(b.count);
  });

  registerBackupMetrics(registry, config, paths);

  // The first node that answers: in a cluster, one node down does not blind the figures.
  const nodes = config.nats.enabled ? natsNodes(config) : [];
  if (nodes.length) {
    registerNatsMetrics(
      registry,
      memo(1000, async () => {
        let last: unknown;
        for (const node of nodes) {
          try {
            return await fetchNatsStats(src.access(), node, timeoutMs);
          } catch (e) {
            last = e;
          }
        }
        throw last;
      }),
    );
  }
  if (config.redis.enabled) registerRedisMetrics(registry, { config, access: src.access, timeoutMs, memo });
  if (config.postgres.enabled && config.topology === 'ha') registerPostgresHaMetrics(registry, { config, access: src.access, timeoutMs, memo });
  return registry;
}

function registerNatsMetrics(registry: Registry, stats: () => Promise<NatsStats | undefined>): void {
  const simple: [string, string, (s: NatsStats) => number][] = [
    ['nats_server_up', '1 when the monitoring endpoint answered', () => 1],
    ['nats_server_connections', 'Client connections open', (s) => s.connections],
    ['nats_server_max_connections', 'max_connections of the server', (s) => s.maxConnections],
    ['nats_server_total_connections', 'Connections accepted since start (a counter)', (s) => s.totalConnections],
    ['nats_server_subscriptions', 'Subscriptions', (s) => s.subscriptions],
    ['nats_server_slow_consumers', 'Slow consumers since start (a counter)', (s) => s.slowConsumers],
    ['nats_server_in_msgs', 'Messages received since start (a counter)', (s) => s.inMsgs],
    ['nats_server_out_msgs', 'Messages sent since start (a counter)', (s) => s.outMsgs],
    ['nats_server_in_bytes', 'Bytes received since start (a counter)', (s) => s.inBytes],
    ['nats_server_out_bytes', 'Bytes sent since start (a counter)', (s) => s.outBytes],
    ['nats_server_mem_bytes', 'Resident memory of nats-server', (s) => s.memoryBytes],
    ['nats_server_cpu_percent', 'CPU use of nats-server', (s) => s.cpuPercent],
    ['nats_jetstream_storage_bytes', 'JetStream file store used', (s) => s.jetstream.storageUsed],
    ['nats_jetstream_max_storage_bytes', 'JetStream file store limit', (s) => s.jetstream.storageLimit],
    ['nats_jetstream_memory_bytes', 'JetStream memory store used', (s) => s.jetstream.memoryUsed],
    ['nats_jetstream_max_memory_bytes', 'JetStream memory store limit', (s) => s.jetstream.memoryLimit],
    ['nats_jetstream_streams', 'Streams', (s) => s.jetstream.streams],
    ['nats_jetstream_consumers', 'Consumers', (s) => s.jetstream.consumers],
    ['nats_jetstream_messages', 'Messages stored in all streams', (s) => s.jetstream.messages],
    ['nats_jetstream_api_requests', 'JetStream API requests since start (a counter)', (s) => s.jetstream.apiTotal],
    ['nats_jetstream_api_errors', 'JetStream API errors since start (a counter)', (s) => s.jetstream.apiErrors],
  ];
  // The endpoint being down shows as nats_server_up 0; the other gauges then vanish.
  for (const [name, help, read] of simple) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.reset();
        const s = await stats();
        if (s) this.set(read(s));
        else if (name === 'nats_server_up') this.set(0);
      },
    });
  }
  const perStream: [string, string, (s: NatsStats['streams'][number]) => number][] = [
    ['nats_stream_messages', 'Messages in the stream', (s) => s.messages],
    ['nats_stream_bytes', 'Bytes in the stream', (s) => s.bytes],
    ['nats_stream_replicas_lagging', 'Replicas of the stream that are not current (a cluster node down or catching up)', (s) => s.replicasBehind],
  ];
  for (const [name, help, read] of perStream) {
    new Gauge({
      name,
      help,
      labelNames: ['account', 'stream'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of (await stats())?.streams ?? []) this.set({ account: s.account, stream: s.stream }, read(s));
      },
    });
  }
  const perConsumer: [string, string, (c: NatsStats['consumers'][number]) => number][] = [
    ['nats_consumer_num_pending', 'Messages not yet delivered to the consumer (its lag)', (c) => c.pending],
    ['nats_consumer_num_ack_pending', 'Delivered messages not yet acknowledged', (c) => c.ackPending],
    ['nats_consumer_num_redelivered', 'Messages delivered more than once and not yet acknowledged', (c) => c.redelivered],
    ['nats_consumer_num_waiting', 'Pull requests waiting', (c) => c.waiting],
  ];
  for (const [name, help, read] of perConsumer) {
    new Gauge({
      name,
      help,
      labelNames: ['account', 'stream', 'consumer'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const c of (await stats())?.consumers ?? []) this.set({ account: c.account, stream: c.stream, consumer: c.consumer }, read(c));
      },
    });
  }
}
