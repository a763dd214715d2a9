/**
 * Redis figures the exporter cannot give in the ha topology, where it watches one
 * node while the primary moves: whether the primary (found through the sentinels)
 * answers, how many replicas follow it, and the sentinels' quorum.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import { withRedis } from '../servers/redis.js';

interface Sources {
  config: Config;
  access: () => Access;
  timeoutMs: number;
  memo: <T>(ttlMs: number, load: () => Promise<T>) => () => Promise<T | undefined>;
}

export function registerRedisMetrics(registry: Registry, src: Sources): void {
  const { config } = src;
  const ha = config.topology === 'ha';
  // One INFO replication of the primary per scrape, as the monitoring user.
  const primary = src.memo(1000, () =>
    withRedis(src.access(), 'monitor', src.timeoutMs, async (r) => {
      const info = await r.info('replication');
      return { online: [...info.matchAll(/^slave\d+:.*state=online/gm)].length };
    }),
  );
  new Gauge({
    name: 'dataplane_redis_primary_up',
    help: '1 when the Redis primary answers (in ha: the node the sentinels name)',
    registers: [registry],
    async collect() {
      this.set((await primary()) ? 1 : 0);
    },
  });
  if (!ha) return;
  new Gauge({
    name: 'dataplane_redis_replicas_online',
    help: 'ha: replicas connected to the primary and in sync (state online)',
    registers: [registry],
    async collect() {
      this.reset();
      const p = await primary();
      if (p) this.set(p.online);
    },
  });
  new Gauge({
    name: 'dataplane_redis_sentinel_quorum',
    help: 'ha: sentinels that must agree before a failover (redis.sentinel.quorum)',
    registers: [registry],
    collect() {
      this.set(config.redis.sentinel.quorum);
    },
  });
}
