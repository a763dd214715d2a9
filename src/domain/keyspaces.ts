/**
 * The reference domain's cache keyspaces (docs/cache.md is generated from these).
 * Each mirrors a query of docs/schema.md whose answer changes rarely.
 */
import { z } from 'zod';
import { counter, hash, json } from '../redis/codecs.js';
import { defineKeyspace } from '../redis/keyspace.js';

export const sourceByName = defineKeyspace({
  name: 'source',
  description: 'registry.sources by tenant and name: ingest resolves source names to ids',
  key: { orgId: 'int', name: 'string' },
  codec: json(z.object({ id: z.number().int(), kind: z.enum(['device', 'service', 'gateway']), retired: z.boolean() }), 'JSON {id, kind, retired}'),
  ttl: { ttl: '10m', jitter: 0.1 },
});

export const metricByName = defineKeyspace({
  name: 'metric',
  description: 'registry.metrics by name: the shared catalog, read on every ingest batch',
  key: { name: 'string' },
  codec: json(z.object({ id: z.number().int(), unit: z.string(), kind: z.enum(['gauge', 'counter', 'histogram']) }), 'JSON {id, unit, kind}'),
  ttl: { ttl: '1h', jitter: 0.1 },
  staleWhileRevalidate: '5m',
});

export const apiKeyByPrefix = defineKeyspace({
  name: 'api-key',
  description: 'API-key sign-in (iam.authenticate_api_key) by prefix; dropped by the iam.api_key.revoked event',
  key: { prefix: 'string' },
  codec: json(z.object({ orgId: z.number().int(), keyId: z.number().int(), keyHash: z.string().regex(/^[0-9a-f]{64}$/) }), 'JSON {orgId, keyId, keyHash}'),
  ttl: { ttl: '5m', jitter: 0.2 },
});

export const requestsPerMinute = defineKeyspace({
  name: 'rate',
  description: 'requests per API key per minute, for rate limiting',
  key: { keyId: 'int', minute: 'int' },
  codec: counter(),
  ttl: { ttl: '2m' },
});

export const orgSettings = defineKeyspace({
  name: 'org-settings',
  description: 'per-tenant settings (feature flags, limits) read on every request',
  key: { orgId: 'int' },
  codec: hash(z.object({ maxSources: z.coerce.number().int().positive(), ingestEnabled: z.enum(['true', 'false']) }), 'hash {maxSources, ingestEnabled}'),
  ttl: { persistent: 'written by administrators and replaced by the iam.org.settings_changed event; there is nothing to reload it from' },
});
