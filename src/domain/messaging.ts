/**
 * The reference domain's JetStream streams, consumers and event subjects, declared
 * in code; `dataplane up` reconciles the server with them.
 */
import { defineStream } from '../nats/declarations.js';
import { cacheInvalidationConsumer as cacheInvalidationConsumerOf } from '../outbox/invalidation.js';

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

/** app.events.cache.invalidate events (the library's subject) delete the keyspace entries they name. */
export { cacheInvalidate } from '../outbox/invalidation.js';

export const cacheInvalidationConsumer = cacheInvalidationConsumerOf(eventsStream.name);
