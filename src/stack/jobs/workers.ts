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
import { ServerStartError } from '../../errors/index.js';
import type { Logger } from '../../lib/logger.js';
import { connectNats } from '../../nats/connection.js';
import type { ConsumerRunner } from '../../nats/consumer.js';
import { reconcile, type ReconcileReport } from '../../nats/reconcile.js';
import { runCacheInvalidation } from '../../outbox/invalidation.js';
import { OutboxRelay } from '../../outbox/relay.js';
import { connectPostgres } from '../../postgres/database.js';
import { connectRedis } from '../../redis/connection.js';
import { describeMetaGroup } from '../../servers/nats-monitor.js';
import type { Declarations } from '../declarations.js';
import type { Job } from './job.js';

/**
 * What a JetStream cluster answers while it forms: right after its nodes start (or come back
 * from a crash of all of them) requests time out or find too few peers for R3 until the nodes
 * agree on a meta leader and know each other, a matter of seconds (the Raft election timeout).
 */
const FORMING = /timeout|timed out|no suitable peers|temporarily unavailable|jetstream (is )?not enabled/i;

/**
 * Make JetStream match the declarations; drift is reported, never forced. In a cluster,
 * answers of a cluster still forming are waited out until `supervisor.startTimeoutMs`.
 */
export async function reconcileStreams(access: Access, declarations: Declarations, opts: { onWait?: (reason: string) => void } = {}): Promise<ReconcileReport> {
  const { config } = access;
  const nodes = natsNodes(config).length;
  const deadline = Date.now() + config.supervisor.startTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await natsConnect(natsEndpoint(access, 'admin'), { name: 'dataplane-reconcile', reconnect: false, timeoutMs: 10_000 });
      try {
        return await reconcile(await jetstreamManager(nc), { streams: declarations.streams, consumers: declarations.consumers }, { replicas: config.topology === 'ha' ? config.nats.cluster.replicas : 1, nodes });
      } finally {
        await nc.close();
      }
    } catch (e) {
      const reason = (e as Error).message;
      if (nodes < 2 || !FORMING.test(reason)) throw e;
      if (Date.now() > deadline) {
        // The meta leader's view of its peers says which one placement leaves out, and why.
        const seen = await describeMetaGroup(access, natsNodes(config)).catch((d: Error) => `not asked: ${d.message}`);
        throw new ServerStartError('nats', `the cluster did not accept the declared streams within ${config.supervisor.startTimeoutMs} ms: ${reason} (every node must be up: \`dataplane status\`); as the nodes see the JetStream group: ${seen}`, '', statePaths(config).log('nats'), e);
      }
      if (attempt === 1) opts.onWait?.(reason);
      await new Promise((r) => setTimeout(r, 500));
    }
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
        const report = await reconcileStreams(access, declarations, { onWait: (reason) => logger.info(`JetStream cluster still forming (${reason}); waiting for it before reconciling streams`) });
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
