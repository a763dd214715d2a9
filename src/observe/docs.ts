/**
 * docs/metrics.md: every metric dataplane itself exposes, generated from the
 * registries so the reference cannot drift from the code (a test compares them).
 */
import type { Registry } from 'prom-client';
import { parseConfig } from '../config/load.js';
import { statePaths } from '../config/paths.js';
import { registry as libraryRegistry } from '../lib/metrics.js';
// Loaded for the metrics they register.
import '../nats/consumer.js';
import '../nats/publisher.js';
import '../outbox/relay.js';
import '../postgres/database.js';
import '../postgres/ingest.js';
import '../redis/connection.js';
import '../redis/keyspace.js';
import { createServerMetrics } from './server-metrics.js';

interface MetricInfo {
  name: string;
  type: string;
  help: string;
  labelNames: readonly string[];
}

function infoOf(r: Registry): MetricInfo[] {
  // getMetricsAsArray reads definitions without running any collect function.
  return (r.getMetricsAsArray() as unknown as MetricInfo[])
    .filter((m) => m.name.startsWith('dataplane_') || m.name.startsWith('nats_'))
    .map((m) => ({ name: m.name, type: m.type, help: m.help, labelNames: m.labelNames ?? [] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function table(metrics: MetricInfo[]): string[] {
  return [
    '| metric | type | labels | meaning |',
    '| --- | --- | --- | --- |',
    ...metrics.map((m) => `| \`${m.name}\` | ${m.type} | ${m.labelNames.map((l) => `\`${l}\``).join(', ') || '—'} | ${m.help.replace(/\|/g, '\\|')} |`),
  ];
}

export function metricsMarkdown(): string {
  // Every optional source on, so every metric is listed once.
  const config = parseConfig({ stateDir: '/var/lib/dataplane', tls: { enabled: true }, topology: 'ha', backup: { offsite: { destination: '/mnt/backup' } } }, '/');
  const server = createServerMetrics({ config, paths: statePaths(config), access: () => ({ config, secrets: {} }), services: () => [] });
  return [
    '# Metrics',
    '',
    '<!-- Generated from the code by `dataplane metrics --markdown`; a test fails when this file is stale. -->',
    '',
    'Where they come from and who scrapes them is in [observability.md](observability.md).',
    '',
    '## Client library (every process that uses it)',
    '',
    'Exposed by the process that runs the library: the supervisor (outbox relay, cache invalidation) and',
    'every application service that serves `metricsRegistry` (or embeds `startHealthServer`).',
    'Process metrics (`process_*`, `nodejs_*`) come from prom-client\'s defaults.',
    '',
    ...table(infoOf(libraryRegistry)),
    '',
    '## Servers (the supervisor\'s /metrics)',
    '',
    'Read by the supervisor at scrape time: supervision, disk per data area, certificates, outbox',
    'backlog, and NATS server and JetStream figures from nats-server\'s monitoring endpoint.',
    'PostgreSQL, Redis and host figures come from their exporters (`pg_*`, `redis_*`, `node_*`),',
    'plus `dataplane_replication_*` from the PostgreSQL exporter\'s extra query.',
    '',
    ...table(infoOf(server)),
    '',
  ].join('\n');
}
