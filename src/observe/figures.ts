/**
 * The key figures of each server (connections, memory, storage, lag), read the way
 * an operator would: PostgreSQL as the pg_monitor login, Redis as the `monitor` ACL
 * user (INFO), NATS from its monitoring endpoint. /readyz and `dataplane status`
 * both show these, so the two never disagree.
 */
import { ProbeError } from '../errors/index.js';
import type { Config } from '../config/schema.js';
import { clientFor, withClient } from '../postgres/clients.js';
import type { Secrets } from '../secrets/store.js';
import { closeClient, redisClientAs } from '../servers/redis.js';
import { fetchNatsStats, natsMonitorUrl } from './nats-monitor.js';

export const MONITOR_LOGIN = 'app_monitor';

export interface PostgresFigures {
  connections: { used: number; max: number };
  /** largest replay lag of the streaming replicas, in seconds; null without replicas */
  replicationLagSeconds: number | null;
  replicas: number;
  databaseBytes: number;
}

export interface RedisFigures {
  role: string;
  memory: { used: number; max: number };
  clients: { connected: number; max: number };
  evictedKeys: number;
}

export interface NatsFigures {
  connections: { used: number; max: number };
  jetstream: { storageUsed: number; storageLimit: number; memoryUsed: number; memoryLimit: number };
  /** consumers with undelivered or unacknowledged messages */
  consumerLag: { stream: string; consumer: string; pending: number; ackPending: number }[];
}

export interface Figures {
  postgres?: PostgresFigures;
  redis?: RedisFigures;
  nats?: NatsFigures;
}

export async function postgresFigures(config: Config, secrets: Secrets, timeoutMs = 2000): Promise<PostgresFigures> {
  return withClient(clientFor(config, secrets, MONITOR_LOGIN, { timeoutMs }), async (db) => {
    const { rows } = await db.query<{ used: number; max: number; replicas: number; lag: number | null; dbsize: string }>(
      `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
              current_setting('max_connections')::int AS max,
              (SELECT count(*)::int FROM pg_stat_replication) AS replicas,
              (SELECT extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication) AS lag,
              pg_database_size(current_database())::text AS dbsize`,
    );
    const r = rows[0]!;
    return {
      connections: { used: r.used, max: r.max },
      replicas: r.replicas,
      replicationLagSeconds: r.replicas ? (r.lag ?? 0) : null,
      databaseBytes: Number(r.dbsize),
    };
  });
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export async function redisFigures(config: Config, secrets: Secrets, timeoutMs = 2000): Promise<RedisFigures> {
  const client = redisClientAs(config, secrets, 'monitor', timeoutMs);
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info();
    const maxclients = (await client.config('GET', 'maxclients')) as string[];
    const num = (f: string) => Number(infoField(info, f) ?? 0);
    return {
      role: infoField(info, 'role') ?? 'unknown',
      memory: { used: num('used_memory'), max: num('maxmemory') },
      clients: { connected: num('connected_clients'), max: Number(maxclients[1] ?? 0) },
      evictedKeys: num('evicted_keys'),
    };
  } finally {
    await closeClient(client);
  }
}

export async function natsFigures(config: Config, timeoutMs = 2000): Promise<NatsFigures> {
  const url = natsMonitorUrl(config);
  if (!url) throw new ProbeError('nats.monitorPort is 0: no monitoring endpoint to read');
  const s = await fetchNatsStats(url, timeoutMs);
  return {
    connections: { used: s.connections, max: s.maxConnections },
    jetstream: {
      storageUsed: s.jetstream.storageUsed,
      storageLimit: s.jetstream.storageLimit,
      memoryUsed: s.jetstream.memoryUsed,
      memoryLimit: s.jetstream.memoryLimit,
    },
    consumerLag: s.consumers
      .filter((c) => c.pending > 0 || c.ackPending > 0)
      .map((c) => ({ stream: c.stream, consumer: c.consumer, pending: c.pending, ackPending: c.ackPending })),
  };
}

/** Figures of one server; a failure becomes the reason instead of an exception. */
export async function figuresFor(
  service: 'postgres' | 'redis' | 'nats',
  config: Config,
  secrets: Secrets,
  timeoutMs = 2000,
): Promise<{ figures?: PostgresFigures | RedisFigures | NatsFigures; error?: string }> {
  try {
    if (service === 'postgres') return { figures: await postgresFigures(config, secrets, timeoutMs) };
    if (service === 'redis') return { figures: await redisFigures(config, secrets, timeoutMs) };
    return { figures: await natsFigures(config, timeoutMs) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
