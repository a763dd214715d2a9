/**
 * The public library surface. Internals stay reachable to tests by path but are
 * not advertised here.
 */
export { loadConfig, parseConfig, type LoadOptions, type LoadedConfig, type RuntimeEnvironment } from './config/load.js';
export { resolveAccess, type Access, type ConnectionErrorHook, type ResolveOptions } from './connect/access.js';
export type { Config, ConfigInput, ServiceName } from './config/schema.js';
export { SERVICES } from './config/schema.js';
export { statePaths, type StatePaths } from './config/paths.js';
export { resolveResources, detectMachine, type Resources, type Machine } from './config/resources.js';
export { computeTuning, type Tuning } from './config/tuning.js';
export { Supervisor, type SupervisorOptions, type ServiceSnapshot } from './stack/supervisor.js';
export { stackStatus, type StackStatus, type ServiceStatus } from './stack/status.js';
export { stopStack } from './stack/control.js';
export { credentialsFor, type Credential } from './connect/credentials.js';
export { createLogger, type Logger } from './lib/logger.js';
export { startHealthServer, type ComponentHealth, type Readiness } from './observe/health.js';
export * from './errors/index.js';

// Client library
export { connectPostgres, Database, RetriesExhaustedError, type PostgresOptions, type QueryOptions, type Tx, type TransactionOptions } from './postgres/database.js';
export { createIngestor, Ingestor, IngestError, type IngestOptions, type IngestStats, type IngestValue } from './postgres/ingest.js';
export { connectRedis, type RedisConnectOptions } from './redis/connection.js';
export { defineKeyspace, Keyspace, BoundKeyspace, type KeyspaceSpec, type TtlPolicy, type Parts, type AnyKeyspace } from './redis/keyspace.js';
export { durationMs, type Duration } from './lib/durations.js';
export { json, string, hash, counter, DecodeError, type Codec } from './redis/codecs.js';
export { waitForReplicas, NotReplicatedError, type WaitOptions } from './redis/replication.js';
export { connectNats, inboxFor, type NatsConnectOptions } from './nats/connection.js';
export { Publisher, PublishError, PublishFailuresError, type PubAck, type PublishOptions, type PublisherOptions } from './nats/publisher.js';
export { defineSubject, Subject, PayloadError, type SubjectSpec, type SubjectParams } from './nats/subjects.js';
export { defineStream, defineConsumer, type StreamSpec, type ConsumerSpec } from './nats/declarations.js';
export { reconcile, type ReconcileReport, type Drift } from './nats/reconcile.js';
export { runConsumer, dlqSubject, DLQ_HEADERS, type ConsumerRunner, type ConsumerRunnerOptions } from './nats/consumer.js';
export { openKv, type TypedKv } from './nats/kv.js';
export { enqueue, enqueueRaw, type Enqueued, type EnqueueOptions } from './outbox/outbox.js';
export { OutboxRelay, type RelayOptions } from './outbox/relay.js';
export { processOnce, msgIdOf } from './outbox/inbox.js';
export { runCacheInvalidation, cacheInvalidate, cacheInvalidationConsumer, type CacheInvalidationOptions } from './outbox/invalidation.js';
export { defineDeclarations, loadDeclarations, type Declarations } from './stack/declarations.js';
export { registry as metricsRegistry } from './lib/metrics.js';
