/**
 * The reference application's declarations: what `up` reconciles and runs when the
 * configuration's `declarations` is "builtin". An application points `declarations`
 * at its own module with the same shape.
 */
import { defineDeclarations } from '../stack/declarations.js';
import { apiKeyByPrefix, metricByName, orgSettings, requestsPerMinute, sourceByName } from './keyspaces.js';
import { cacheInvalidationConsumer, deadLetters, eventsStream } from './messaging.js';

export default defineDeclarations({
  streams: [eventsStream, deadLetters],
  consumers: [cacheInvalidationConsumer],
  keyspaces: [apiKeyByPrefix, metricByName, orgSettings, requestsPerMinute, sourceByName],
  cacheInvalidation: cacheInvalidationConsumer,
});
