/**
 * The reference domain's JetStream streams, consumers and event subjects, declared
 * in code; `dataplane up` reconciles the server with them.
 */
import { z } from 'zod';
import { defineConsumer, defineStream } from '../nats/declarations.js';
import { defineSubject } from '../nats/subjects.js';

/** Domain events, published from the PostgreSQL outbox. */
export const eventsStream = defineStream({
  name: 'EVENTS',
  description: 'domain events published from messaging.outbox',
  subjects: ['app.events.>'],
  storage: 'file',
  maxAge: '7d',
  duplicateWindow: '2m',
});

/** Messages consumers gave up on, with why in their headers. */
export const deadLetters = defineStream({
  name: 'DLQ',
  description: 'dead letters: dlq.<stream>.<consumer>, headers Dataplane-Dlq-*',
  subjects: ['dlq.>'],
  storage: 'file',
  maxAge: '14d',
  duplicateWindow: '10m',
});

export const cacheInvalidate = defineSubject({
  name: 'app.events.cache.invalidate',
  description: 'drop these cache entries (keyspace name and key parts)',
  schema: z.object({
    keyspace: z.string().min(1),
    keys: z.array(z.record(z.string(), z.union([z.string(), z.number()]))).min(1),
  }),
});

export const cacheInvalidationConsumer = defineConsumer({
  stream: 'EVENTS',
  name: 'cache-invalidation',
  description: 'deletes Redis keyspace entries named by app.events.cache.invalidate',
  filterSubject: 'app.events.cache.invalidate',
  ackWait: '30s',
  maxDeliver: 5,
  backoff: ['1s', '5s', '30s'],
});
