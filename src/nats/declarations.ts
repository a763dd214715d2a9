/**
 * Streams and consumers declared in code. `dataplane up` (and `streams reconcile`)
 * make the server match the ones the application's declarations list.
 *
 *   export const events = defineStream({ name: 'EVENTS', subjects: ['app.events.>'], maxAge: '7d' });
 *   export const invalidations = defineConsumer({ stream: 'EVENTS', name: 'cache-invalidation',
 *     filterSubject: 'app.events.cache.invalidate', maxDeliver: 5, backoff: ['1s', '5s', '30s'] });
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { InvalidArgumentError } from '../errors/index.js';
import { durationMs, type Duration } from '../lib/durations.js';

export interface StreamSpec {
  name: string;
  subjects: string[];
  description?: string;
  storage?: 'file' | 'memory';
  retention?: 'limits' | 'interest' | 'workqueue';
  maxAge?: Duration;
  maxBytes?: number;
  maxMsgs?: number;
  maxMsgSize?: number;
  /** Window in which a repeated Nats-Msg-Id is dropped (default 2m). */
  duplicateWindow?: Duration;
  replicas?: number;
  discard?: 'old' | 'new';
}

export interface ConsumerSpec {
  stream: string;
  /** Durable name. */
  name: string;
  description?: string;
  filterSubject?: string;
  ackWait?: Duration;
  /** Deliveries before the consumer runner dead-letters a message. */
  maxDeliver?: number;
  /**
   * Redelivery delays after each failed delivery: the consumer runner naks with them.
   * Not sent to the server: nats-server would take its first step as the ack wait (a
   * handler slower than 1 s would get its message twice) and report that as drift.
   */
  backoff?: Duration[];
  maxAckPending?: number;
  deliverPolicy?: 'all' | 'new' | 'last';
}

/** A stream, checked; an application lists its streams in its declarations (defineDeclarations). */
export function defineStream(spec: StreamSpec): StreamSpec {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(spec.name)) throw new InvalidArgumentError(`stream name ${spec.name}: letters, digits, _ and -`);
  return spec;
}

/** A durable consumer, checked; listed in the application's declarations next to its stream. */
export function defineConsumer(spec: ConsumerSpec): ConsumerSpec {
  const id = `${spec.stream}/${spec.name}`;
  if (spec.backoff && spec.maxDeliver !== undefined && spec.maxDeliver <= spec.backoff.length) {
    throw new InvalidArgumentError(`consumer ${id}: maxDeliver must be larger than the number of backoff steps`);
  }
  return spec;
}

/** How many copies a stream gets: its own `replicas`, else the topology's default, never more than the nodes. */
export interface ReplicaPolicy {
  replicas: number;
  nodes: number;
}

export function streamConfig(s: StreamSpec, policy: ReplicaPolicy = { replicas: 1, nodes: 1 }): Partial<StreamConfig> & { name: string } {
  return {
    name: s.name,
    subjects: s.subjects,
    description: s.description ?? '',
    storage: s.storage === 'memory' ? StorageType.Memory : StorageType.File,
    retention: s.retention === 'interest' ? RetentionPolicy.Interest : s.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    max_age: s.maxAge === undefined ? 0 : nanos(durationMs(s.maxAge)),
    max_bytes: s.maxBytes ?? -1,
    max_msgs: s.maxMsgs ?? -1,
    max_msg_size: s.maxMsgSize ?? -1,
    duplicate_window: nanos(durationMs(s.duplicateWindow ?? '2m')),
    num_replicas: Math.min(s.replicas ?? policy.replicas, policy.nodes),
    discard: s.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
  };
}

export function consumerConfig(c: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: c.name,
    description: c.description ?? '',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: c.deliverPolicy === 'new' ? DeliverPolicy.New : c.deliverPolicy === 'last' ? DeliverPolicy.Last : DeliverPolicy.All,
    ...(c.filterSubject ? { filter_subject: c.filterSubject } : {}),
    ack_wait: nanos(durationMs(c.ackWait ?? '30s')),
    max_deliver: c.maxDeliver ?? -1,
    max_ack_pending: c.maxAckPending ?? 1000,
  };
}
