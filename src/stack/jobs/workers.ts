/**
 * Work the supervisor runs next to the servers: reconciling the declared JetStream
 * streams and consumers, the outbox relay, and the cache-invalidation consumer.
 * The same pieces are importable for services that embed them instead.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { applyPendingStreamRestore } from '../../backup/streams.js';
import { statePaths } from '../../config/paths.js';
import { natsNodes } from '../../config/topology.js';
import type { Access } from '../../connect/access.js';
import { natsConnect, natsEndpoint } from '../../connect/nats.js';
import { closeRedis } from '../../connect/redis.js';
import type { Logger } from '../../lib/logger.js';
import { connectNats } from '../../nats/connection.js';
import type { ConsumerRunner } from '../../nats/consumer.js';
import { reconcile, type ReconcileReport } from '../../nats/reconcile.js';
import { runCacheInvalidation } from '../../outbox/invalidation.js';
import { OutboxRelay } from '../../outbox/relay.js';
import { connectPostgres } from '../../postgres/database.js';
import { connectRedis } from '../../redis/connection.js';
import type { Declarations } from '../declarations.js';
import type { Job } from './job.js';

/** Make JetStream match the declarations; drift is reported, never forced. */
export async function reconcileStreams(access: Access, declarations: Declarations): Promise<ReconcileReport> {
  const nc = await natsConnect(natsEndpoint(access, 'admin'), { name: 'dataplane-reconcile', reconnect: false, timeoutMs: 10_000 });
  try {
    const { config } = access;
    const nodes = natsNodes(config).length;
    return await reconcile(await jetstreamManager(nc), { streams: declarations.streams, consumers: declarations.consumers }, { replicas: config.topology === 'ha' ? config.nats.cluster.replicas : 1, nodes });
  } finally {
    await nc.close();
  }
}

export class WorkersJob implements Job {
  readonly name = 'workers';
  private relay: OutboxRelay | undefined;
  private invalidation: ConsumerRunner | undefined;
  private readonly closers: (() => Promise<unknown> | void)[] = [];

  constructor(
    private readonly access: Access,
    private readonly declarations: Declarations,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const { access, logger, declarations } = this;
    const { config } = access;
    try {
      if (config.nats.enabled) {
        // A restore left streams to bring back: before the declarations create them empty.
        const restored = await applyPendingStreamRestore(access, statePaths(config));
        if (restored) logger.info(`restored JetStream streams ${restored.streams.join(', ')} from backup ${restored.label}`);
        const report = await reconcileStreams(access, declarations);
        if (report.created.length || report.updated.length) {
          logger.info(`JetStream: created ${report.created.join(', ') || 'nothing'}; updated ${report.updated.map((u) => `${u.name} (${u.fields.join(', ')})`).join(', ') || 'nothing'}`);
        }
        for (const d of report.drift) {
          logger.warn(`JetStream drift on ${d.name}: ${d.field} is ${JSON.stringify(d.actual)} but declared ${JSON.stringify(d.declared)}; not changed (it would lose data)`);
        }
      }
      let nc: NatsConnection | undefined;
      const nats = async () => {
        if (!nc) {
          nc = await connectNats({ access, user: 'admin', name: 'dataplane-workers' });
          const c = nc;
          this.closers.push(() => c.drain().catch(() => c.close()));
        }
        return nc;
      };
      if (config.workers.outboxRelay && config.postgres.enabled && config.nats.enabled) {
        const db = connectPostgres({ access, user: 'app_rw', name: 'outbox-relay', max: 3 });
        this.closers.push(() => db.close());
        this.relay = new OutboxRelay({
          db,
          nc: await nats(),
          batchSize: config.workers.outboxBatchSize,
          pollIntervalMs: config.workers.outboxPollIntervalMs,
          onError: (e) => logger.error(`outbox relay: ${e.message}`),
        });
        this.relay.start();
      }
      const invalidation = declarations.cacheInvalidation;
      if (invalidation && config.workers.cacheInvalidation && config.redis.enabled && config.nats.enabled) {
        const redis: Redis = connectRedis({ access });
        this.closers.push(() => closeRedis(redis));
        this.invalidation = await runCacheInvalidation({
          nc: await nats(),
          redis,
          keyspaces: declarations.keyspaces,
          consumer: invalidation,
          namespace: config.redis.namespace,
          onError: (e) => logger.warn(`cache invalidation: ${e.message}`),
        });
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.relay?.stop().catch((e: Error) => this.logger.error(`stopping the outbox relay: ${e.message}`));
    this.relay = undefined;
    await this.invalidation?.stop().catch((e: Error) => this.logger.error(`stopping cache invalidation: ${e.message}`));
    this.invalidation = undefined;
    for (const close of this.closers.reverse()) await Promise.resolve(close()).catch((e: Error) => this.logger.warn(`closing a worker connection: ${e.message}`));
    this.closers.length = 0;
  }
}
