/**
 * A ready-made consumer: app.events.cache.invalidate events name keyspace entries,
 * and this deletes them from Redis. Write the event to the outbox in the
 * transaction that changes the data, and the cache follows the database.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { cacheInvalidate, cacheInvalidationConsumer } from '../domain/messaging.js';
import { runConsumer, type ConsumerRunner } from '../nats/consumer.js';
import { allKeyspaces, type Parts, type PartType } from '../redis/keyspace.js';

export async function runCacheInvalidation(opts: { nc: NatsConnection; redis: Redis; namespace?: string; onError?: (e: Error) => void }): Promise<ConsumerRunner> {
  return runConsumer({
    nc: opts.nc,
    stream: cacheInvalidationConsumer.stream,
    consumer: cacheInvalidationConsumer.name,
    subject: cacheInvalidate,
    ...(opts.onError ? { onError: opts.onError } : {}),
    handler: async (event) => {
      const ks = allKeyspaces().find((k) => k.spec.name === event.keyspace);
      // Unknown keyspace: fail, so the event ends in the dead-letter stream instead of vanishing.
      if (!ks) throw new Error(`no keyspace named ${event.keyspace}`);
      await ks.bind(opts.redis, opts.namespace ? { namespace: opts.namespace } : {}).delete(...(event.keys as Parts<Record<string, PartType>>[]));
    },
  });
}
