/**
 * A ready-made consumer: app.events.cache.invalidate events name keyspace entries,
 * and this deletes them from Redis. Write the event to the outbox in the
 * transaction that changes the data, and the cache follows the database.
 *
 * The subject is the library's; the stream that captures it and the consumer are
 * the application's (its declarations), made with `cacheInvalidationConsumer`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { InvalidArgumentError } from '../errors/index.js';
import { runConsumer, type ConsumerRunner } from '../nats/consumer.js';
import { defineConsumer, type ConsumerSpec } from '../nats/declarations.js';
import { defineSubject } from '../nats/subjects.js';
import type { AnyKeyspace, Parts, PartType } from '../redis/keyspace.js';

export const cacheInvalidate = defineSubject({
  name: 'app.events.cache.invalidate',
  description: 'drop these cache entries (keyspace name and key parts)',
  schema: z.object({
    keyspace: z.string().min(1),
    keys: z.array(z.record(z.string(), z.union([z.string(), z.number()]))).min(1),
  }),
});

/** The durable consumer of cache invalidations on `stream` (a stream that captures app.events.cache.invalidate). */
export function cacheInvalidationConsumer(stream: string, name = 'cache-invalidation'): ConsumerSpec {
  return defineConsumer({
    stream,
    name,
    description: 'deletes Redis keyspace entries named by app.events.cache.invalidate',
    filterSubject: cacheInvalidate.spec.name,
    ackWait: '30s',
    maxDeliver: 5,
    backoff: ['1s', '5s', '30s'],
  });
}

export interface CacheInvalidationOptions {
  nc: NatsConnection;
  redis: Redis;
  /** The keyspaces events may name (the application's declarations). */
  keyspaces: readonly AnyKeyspace[];
  consumer: ConsumerSpec;
  namespace?: string;
  onError?: (e: Error) => void;
}

export async function runCacheInvalidation(opts: CacheInvalidationOptions): Promise<ConsumerRunner> {
  const byName = new Map(opts.keyspaces.map((k) => [k.spec.name, k]));
  return runConsumer({
    nc: opts.nc,
    stream: opts.consumer.stream,
    consumer: opts.consumer.name,
    subject: cacheInvalidate,
    ...(opts.consumer.backoff ? { backoff: opts.consumer.backoff } : {}),
    ...(opts.onError ? { onError: opts.onError } : {}),
    handler: async (event) => {
      const ks = byName.get(event.keyspace);
      // Unknown keyspace: fail, so the event ends in the dead-letter stream instead of vanishing.
      if (!ks) throw new InvalidArgumentError(`no keyspace named ${event.keyspace}`);
      await ks.bind(opts.redis, opts.namespace ? { namespace: opts.namespace } : {}).delete(...(event.keys as Parts<Record<string, PartType>>[]));
    },
  });
}
