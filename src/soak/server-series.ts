/**
 * What the servers themselves report over a soak run, read each bucket with the same
 * figures as `dataplane status`: WAL written per second and database size (PostgreSQL),
 * memory used (Redis), JetStream storage (NATS). A server that does not answer during a
 * fault leaves a gap, not a zero.
 */
import type { Access } from '../connect/access.js';
import { driverOf, figuresOf } from '../servers/index.js';
import type { NatsFigures, PostgresFigures, RedisFigures } from '../servers/types.js';

export interface ServerSample {
  /** seconds since the start */
  t: number;
  /** bytes per second of WAL since the previous sample */
  walBytesPerSec?: number;
  databaseBytes?: number;
  redisMemoryBytes?: number;
  jetstreamStorageBytes?: number;
}

export class ServerSampler {
  readonly samples: ServerSample[] = [];
  private lastWal: { t: number; bytes: number } | undefined;

  constructor(private readonly access: Access) {}

  private async figures<F>(server: 'postgres' | 'redis' | 'nats'): Promise<F | undefined> {
    if (!this.access.config[server].enabled) return undefined;
    return (await figuresOf(driverOf(server)!, this.access, 2000)).figures as F | undefined;
  }

  async sample(t: number): Promise<ServerSample> {
    const [pg, redis, nats] = await Promise.all([this.figures<PostgresFigures>('postgres'), this.figures<RedisFigures>('redis'), this.figures<NatsFigures>('nats')]);
    const s: ServerSample = { t: Math.round(t * 10) / 10 };
    if (pg) {
      s.databaseBytes = pg.databaseBytes;
      const wal = pg.walPositionBytes;
      // A position that went back (a restore, a new cluster) gives no rate for that interval.
      if (wal !== null && this.lastWal && wal >= this.lastWal.bytes && t > this.lastWal.t) s.walBytesPerSec = Math.round((wal - this.lastWal.bytes) / (t - this.lastWal.t));
      if (wal !== null) this.lastWal = { t, bytes: wal };
    }
    if (redis) s.redisMemoryBytes = redis.memory.used;
    if (nats) s.jetstreamStorageBytes = nats.jetstream.storageUsed;
    this.samples.push(s);
    return s;
  }
}
