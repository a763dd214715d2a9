/**
 * Redis replication is asynchronous: a write the primary acknowledged can be lost if
 * the primary dies before a replica has it (a failover promotes that replica). WAIT
 * makes a write wait until `replicas` of them have it, for callers that need that.
 */
import type { Redis } from 'ioredis';
import { DataplaneError } from '../errors/index.js';

export class NotReplicatedError extends DataplaneError {
  readonly code = 'NOT_REPLICATED';
  constructor(
    readonly wanted: number,
    readonly acknowledged: number,
    timeoutMs: number,
  ) {
    super(`the write reached ${acknowledged} replica(s) within ${timeoutMs} ms, ${wanted} were asked for; it is on the primary and may be lost if the primary fails now`, {
      hint: 'a replica is down or behind: `dataplane status` shows each node and its link',
    });
  }
}

export interface WaitOptions {
  /** Replicas that must have the writes of this connection before the call returns. */
  replicas: number;
  /** How long to wait for them (default 1 s). */
  timeoutMs?: number;
}

/** Wait until `replicas` replicas have every write made so far on this connection. */
export async function waitForReplicas(redis: Redis, opts: WaitOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const acknowledged = Number(await redis.call('WAIT', opts.replicas, timeoutMs));
  if (acknowledged < opts.replicas) throw new NotReplicatedError(opts.replicas, acknowledged, timeoutMs);
}
