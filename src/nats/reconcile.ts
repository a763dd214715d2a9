/**
 * Make the server's streams and consumers match the declarations: create what is
 * missing, update what can change in place, and report (never force) what cannot,
 * such as a stream's storage type: changing it would mean deleting its messages.
 */
import type { ConsumerConfig, JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { consumerConfig, streamConfig, type ConsumerSpec, type ReplicaPolicy, type StreamSpec } from './declarations.js';

/**
 * Fields nats-server 2.9 can change on a live stream / consumer. The replica count is
 * one: in a cluster the server copies the stream to the new peers (R1 -> R3 when a
 * single-server stack becomes ha).
 */
const STREAM_EDITABLE = ['subjects', 'description', 'max_age', 'max_bytes', 'max_msgs', 'max_msg_size', 'duplicate_window', 'discard', 'num_replicas'] as const;
const STREAM_FIXED = ['storage', 'retention'] as const;
const CONSUMER_EDITABLE = ['description', 'ack_wait', 'max_deliver', 'backoff', 'max_ack_pending'] as const;
const CONSUMER_FIXED = ['deliver_policy', 'ack_policy', 'filter_subject'] as const;

export interface Drift {
  /** stream name, or stream/consumer */
  name: string;
  field: string;
  declared: unknown;
  actual: unknown;
}

export interface ReconcileReport {
  created: string[];
  updated: { name: string; fields: string[] }[];
  unchanged: string[];
  drift: Drift[];
}

/** The server leaves out empty values: '' and missing are the same. */
const same = (a: unknown, b: unknown) => JSON.stringify(a === '' ? null : (a ?? null)) === JSON.stringify(b === '' ? null : (b ?? null));

/** The JetStream API's answer for a stream or consumer that does not exist (and only that). */
export function isNotFound(e: unknown): boolean {
  return /not found/i.test((e as Error).message) || (e as { code?: number | string }).code === 404;
}

/** `policy`: the replicas of streams that do not declare their own, and the nodes there are (default R1 on one server). */
export async function reconcile(jsm: JetStreamManager, decl: { streams: readonly StreamSpec[]; consumers: readonly ConsumerSpec[] }, policy?: ReplicaPolicy): Promise<ReconcileReport> {
  const report: ReconcileReport = { created: [], updated: [], unchanged: [], drift: [] };
  for (const s of decl.streams) {
    const want = streamConfig(s, policy);
    let have: StreamConfig | undefined;
    try {
      have = (await jsm.streams.info(s.name)).config;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!have) {
      await jsm.streams.add(want);
      report.created.push(s.name);
      continue;
    }
    for (const f of STREAM_FIXED) {
      if (!same(want[f], have[f])) report.drift.push({ name: s.name, field: f, declared: want[f], actual: have[f] });
    }
    const changed = STREAM_EDITABLE.filter((f) => !same(want[f], have![f]));
    if (changed.length) {
      const next = { ...have };
      for (const f of changed) (next as Record<string, unknown>)[f] = want[f];
      await jsm.streams.update(s.name, next);
      report.updated.push({ name: s.name, fields: changed });
    } else report.unchanged.push(s.name);
  }
  for (const c of decl.consumers) {
    const id = `${c.stream}/${c.name}`;
    const want = consumerConfig(c);
    let have: ConsumerConfig | undefined;
    try {
      have = (await jsm.consumers.info(c.stream, c.name)).config;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!have) {
      await jsm.consumers.add(c.stream, want);
      report.created.push(id);
      continue;
    }
    for (const f of CONSUMER_FIXED) {
      if (!same(want[f], have[f])) report.drift.push({ name: id, field: f, declared: want[f], actual: have[f] });
    }
    const changed = CONSUMER_EDITABLE.filter((f) => !same(want[f], have![f]));
    if (changed.length) {
      const next: Partial<ConsumerConfig> = { ...have };
      for (const f of changed) (next as Record<string, unknown>)[f] = want[f];
      await jsm.consumers.update(c.stream, c.name, next);
      report.updated.push({ name: id, fields: changed });
    } else report.unchanged.push(id);
  }
  return report;
}
