/**
 * The NATS library against a real JetStream server: acked publishing (sync and
 * windowed), de-duplication, typed subjects, reconciling declarations, the consumer
 * runner with dead letters, KV, reconnects, and the cache-invalidation worker.
 */
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sourceByName } from '../../src/domain/keyspaces.js';
import { cacheInvalidate } from '../../src/domain/messaging.js';
import { joinsTlsReads } from '../../src/connect/nats-tls-reads.js';
import { connectNats } from '../../src/nats/connection.js';
import { DLQ_HEADERS, dlqSubject, runConsumer } from '../../src/nats/consumer.js';
import { reconcile } from '../../src/nats/reconcile.js';
import { openKv } from '../../src/nats/kv.js';
import { AckFrames } from '../../src/nats/ack-frames.js';
import { Publisher, PublishError, type PubAck } from '../../src/nats/publisher.js';
import { PublishFrames } from '../../src/nats/publish-frames.js';
import { defineSubject, PayloadError } from '../../src/nats/subjects.js';
import { registry } from '../../src/lib/metrics.js';
import { connectRedis } from '../../src/redis/connection.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { pidOf } from '../helpers/clients.js';
import { waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let admin: NatsConnection;
let jsm: JetStreamManager;
let pub: Publisher;

const order = defineSubject({ name: 'app.orders.{orgId}', description: 'test', schema: z.object({ id: z.number().int(), fail: z.boolean().default(false) }) });

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['redis', 'nats'] });
  admin = await connectNats({ access: stack.access, user: 'admin' });
  jsm = await jetstreamManager(admin);
  await reconcile(jsm, {
    streams: [{ name: 'TEST', subjects: ['app.test.>'] }, { name: 'ORDERS', subjects: ['app.orders.*'] }, { name: 'DLQ', subjects: ['dlq.>'] }],
    consumers: [{ stream: 'ORDERS', name: 'billing', ackWait: '2s', maxDeliver: 3 }],
  });
  pub = new Publisher(admin);
});

afterAll(async () => {
  await pub?.close();
  await admin?.close();
  await stack.stop();
});

const count = async (stream: string) => (await jsm.streams.info(stream)).state.messages;

describe('publishing', () => {
  it('a TLS connection hands nats.js its reads joined per turn (the pinned nats.js still exposes its socket)', () => {
    expect(stack.access.config.tls.enabled).toBe(true);
    expect(joinsTlsReads(admin)).toBe(true);
  });

  it('waits for the ack, and drops a repeated message id', async () => {
    const first = await pub.publish('app.test.a', 'x', { msgId: 'm-1' });
    expect(first).toMatchObject({ stream: 'TEST', duplicate: false });
    const again = await pub.publish('app.test.a', 'x', { msgId: 'm-1' });
    expect(again).toEqual({ stream: 'TEST', seq: first.seq, duplicate: true });
    expect(await count('TEST')).toBe(1);
  });

  it('fails clearly when no stream captures the subject', async () => {
    await expect(pub.publish('nowhere.at.all', 'x')).rejects.toThrow(PublishError);
    await expect(pub.publish('nowhere.at.all', 'x')).rejects.toThrow(/no stream captures this subject/);
  });

  it('publishWith reports the ack or the refusal through its callbacks, once each', async () => {
    const outcome = (subject: string) =>
      new Promise<{ ack?: PubAck; error?: Error; calls: number }>((resolve) => {
        const seen: { ack?: PubAck; error?: Error; calls: number } = { calls: 0 };
        pub.publishWith(subject, 'x', { msgId: `with-${subject}` }, (ack) => ((seen.ack = ack), seen.calls++, setTimeout(() => resolve(seen), 50)), (error) => ((seen.error = error), seen.calls++, setTimeout(() => resolve(seen), 50)));
      });
    const ok = await outcome('app.test.with');
    expect(ok).toMatchObject({ ack: { stream: 'TEST', duplicate: false }, calls: 1 });
    expect(ok.error).toBeUndefined();
    const refused = await outcome('nowhere.with');
    expect(refused.calls).toBe(1);
    expect(refused.ack).toBeUndefined();
    expect(refused.error).toBeInstanceOf(PublishError);
    expect(refused.error!.message).toMatch(/no stream captures this subject/);
  });

  it('keeps at most `window` acks outstanding, resumes in bursts, and flushes them all', async () => {
    const windowed = new Publisher(admin, { window: 100 });
    const before = await count('TEST');
    let peak = 0;
    let waited = 0;
    let resumedWith = 0;
    for (let i = 0; i < 5000; i++) {
      const wait = windowed.publishAsync('app.test.bulk', `m${i}`);
      peak = Math.max(peak, windowed.inFlight);
      if (wait) {
        waited++;
        await wait;
        resumedWith = Math.max(resumedWith, windowed.inFlight);
      }
    }
    await windowed.flush();
    expect(peak).toBeLessThanOrEqual(100);
    expect(waited).toBeGreaterThan(0);
    // A blocked publisher goes on once a quarter of the window is free (at most 75 in flight),
    // so it waits once per burst of 25 or more, not once per ack.
    expect(resumedWith).toBeLessThanOrEqual(75);
    expect(waited).toBeLessThanOrEqual(Math.ceil(5000 / 25));
    // Failures are kept for flush(), not lost.
    windowed.publishAsync('no.stream.here', 'x');
    await expect(windowed.flush()).rejects.toThrow(/1 publish\(es\) failed: .*no stream captures/);
    expect(await count('TEST')).toBe(before + 5000);
    await windowed.close();
  });

  it('publishers sharing a connection each settle only their own acks, under a short reply token', async () => {
    // Every ack sent to any publisher's reply subject, as the server routes it.
    const replies: string[] = [];
    const spy = admin.subscribe('_INBOX.>', { callback: (_e, m) => void replies.push(m.subject) });
    await admin.flush();
    const [a, b] = [new Publisher(admin), new Publisher(admin)];
    const sent = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).publish(i % 2 ? 'app.test.from-a' : 'app.test.from-b', `n${i}`).then((ack) => ({ i, ack }))),
    );
    spy.unsubscribe();
    for (const { i, ack } of sent) {
      const stored = await jsm.streams.getMessage('TEST', { seq: ack.seq });
      expect(stored?.subject).toBe(i % 2 ? 'app.test.from-a' : 'app.test.from-b');
      expect(stored?.string()).toBe(`n${i}`);
    }
    // _INBOX.<8 characters>.<number>, as nats.go: the server's cost per ack grows with the reply subject.
    const tokens = new Set(replies.map((s) => s.split('.')[1]));
    expect(replies.length).toBe(200);
    expect(replies.every((s) => /^_INBOX\.[A-Za-z0-9_-]{8}\.\d+$/.test(s))).toBe(true);
    expect(tokens.size).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });

  it('builds its own PUB frames: the stored message is what was published, odd subjects go through nats.js', async () => {
    const frames = new PublishFrames(admin);
    expect(frames.direct).toBe(true); // the pinned nats.js has the protocol handler it expects
    const okBefore = Number((await registry.getSingleMetric('dataplane_nats_published_total')!.get()).values.find((v) => v.labels.outcome === 'ok')?.value ?? 0);
    const bytes = new Uint8Array([0, 1, 2, 13, 10, 255]);
    const a = await pub.publish('app.test.frames', bytes);
    const b = await pub.publish('app.test.frames', 'héllo\r\nPUB x 1\r\n');
    // Beyond ASCII the subject is nats.js's to encode; the message still arrives under it.
    const c = await pub.publish('app.test.främes', 'ü');
    const read = async (seq: number) => (await jsm.streams.getMessage('TEST', { seq }))!;
    expect(Array.from((await read(a.seq)).data)).toEqual(Array.from(bytes));
    expect((await read(b.seq)).string()).toBe('héllo\r\nPUB x 1\r\n');
    expect((await read(c.seq)).subject).toBe('app.test.främes');
    expect((await read(c.seq)).string()).toBe('ü');
    // A subject with a space would split the frame: nats.js refuses it, nothing is sent.
    await expect(pub.publish('app.test.two words', 'x')).rejects.toThrow(/subject/i);
    // Successful acks are counted when the registry is read.
    const okAfter = Number((await registry.getSingleMetric('dataplane_nats_published_total')!.get()).values.find((v) => v.labels.outcome === 'ok')?.value ?? 0);
    expect(okAfter - okBefore).toBe(3);
  });

  it('builds HPUB frames for a message id: stored with its header, a repeat dropped, other headers through nats.js', async () => {
    const id = `frames-${Date.now()}`;
    const viaNatsJs = vi.spyOn(admin, 'publish');
    const a = await pub.publish('app.test.frames', 'one', { msgId: id });
    const again = await pub.publish('app.test.frames', 'one', { msgId: id });
    const ours = () => viaNatsJs.mock.calls.filter((c) => c[0] === 'app.test.frames').length;
    expect(ours()).toBe(0);
    expect(again).toMatchObject({ duplicate: true, seq: a.seq });
    const stored = (await jsm.streams.getMessage('TEST', { seq: a.seq }))!;
    expect(stored.string()).toBe('one');
    expect(stored.header.get('Nats-Msg-Id')).toBe(id);
    // nats.js trims a value and encodes beyond ASCII: such ids take its path and arrive as it sends them.
    const odd = await pub.publish('app.test.frames', 'two', { msgId: ' ïd ' });
    expect((await jsm.streams.getMessage('TEST', { seq: odd.seq }))!.header.get('Nats-Msg-Id')).toBe('ïd');
    const both = await pub.publish('app.test.frames', 'three', { msgId: `${id}-h`, headers: { 'X-Trace': 't1' } });
    const withHeaders = (await jsm.streams.getMessage('TEST', { seq: both.seq }))!;
    expect([withHeaders.header.get('Nats-Msg-Id'), withHeaders.header.get('X-Trace')]).toEqual([`${id}-h`, 't1']);
    await expect(pub.publish('app.test.frames', 'x', { msgId: 'a\r\nb' })).rejects.toThrow(/\\r or \\n/);
    expect(ours()).toBe(2); // the id with CR LF was refused before reaching publish
    viaNatsJs.mockRestore();
  });

  it('never sends a payload that fails its subject schema', async () => {
    const before = await count('ORDERS');
    await expect(pub.emit(order, { orgId: 1 }, { id: 'not a number' } as never)).rejects.toThrow(PayloadError);
    expect(() => order.subject({ orgId: 'a.b' })).toThrow(/token/);
    const ack = await pub.emit(order, { orgId: 7 }, { id: 100 });
    expect(ack.stream).toBe('ORDERS');
    expect(await count('ORDERS')).toBe(before + 1);
    expect(order.filter).toBe('app.orders.*');
  });
});

describe('reconciling declarations', () => {
  it('creates, updates in place, and reports drift without touching data', async () => {
    const spec = { name: 'RECON', subjects: ['app.recon.>'], maxAge: '1h' as const };
    expect((await reconcile(jsm, { streams: [spec], consumers: [{ stream: 'RECON', name: 'c1', maxDeliver: 3 }] })).created).toEqual(['RECON', 'RECON/c1']);
    await pub.publish('app.recon.x', '1');
    const again = await reconcile(jsm, { streams: [spec], consumers: [{ stream: 'RECON', name: 'c1', maxDeliver: 3 }] });
    expect(again).toMatchObject({ created: [], updated: [], unchanged: ['RECON', 'RECON/c1'], drift: [] });
    const changed = await reconcile(jsm, {
      streams: [{ ...spec, maxAge: '2h', storage: 'memory' }],
      consumers: [{ stream: 'RECON', name: 'c1', maxDeliver: 5, deliverPolicy: 'new' }],
    });
    expect(changed.updated).toEqual([
      { name: 'RECON', fields: ['max_age'] },
      { name: 'RECON/c1', fields: ['max_deliver'] },
    ]);
    expect(changed.drift.map((d) => [d.name, d.field])).toEqual([
      ['RECON', 'storage'],
      ['RECON/c1', 'deliver_policy'],
    ]);
    const info = await jsm.streams.info('RECON');
    expect([info.config.storage, info.state.messages]).toEqual(['file', 1]);
  });

  it('a consumer with backoff keeps its declared ack wait, and a second reconcile changes nothing', async () => {
    const spec = { name: 'RECON2', subjects: ['app.recon2.>'] };
    const consumer = { stream: 'RECON2', name: 'slow', ackWait: '30s' as const, maxDeliver: 5, backoff: ['1s', '5s', '30s'] as const };
    const decl = { streams: [spec], consumers: [{ ...consumer, backoff: [...consumer.backoff] }] };
    expect((await reconcile(jsm, decl)).created).toEqual(['RECON2', 'RECON2/slow']);
    // nats-server would have made a server-side backoff's first step (1 s) the ack wait.
    expect((await jsm.consumers.info('RECON2', 'slow')).config.ack_wait).toBe(30_000_000_000);
    expect(await reconcile(jsm, decl)).toMatchObject({ created: [], updated: [], unchanged: ['RECON2', 'RECON2/slow'], drift: [] });
  });
});

describe('consumer runner', () => {
  it('acks successes, retries failures with backoff, and dead-letters after maxDeliver with the reason', async () => {
    const app = await connectNats({ access: stack.access, user: 'app' }); // least privilege
    const terminated: string[] = [];
    const advisories = admin.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.billing', {
      callback: (_e, m) => void terminated.push((m.json() as { reason?: string }).reason ?? ''),
    });
    const attempts = new Map<number, number>();
    const runner = await runConsumer({
      nc: app,
      stream: 'ORDERS',
      consumer: 'billing',
      subject: order,
      backoff: ['50ms'],
      concurrency: 4,
      handler: async (o) => {
        attempts.set(o.id, (attempts.get(o.id) ?? 0) + 1);
        if (o.fail) throw new Error(`order ${o.id} cannot be billed`);
      },
    });
    try {
      await pub.emit(order, { orgId: 1 }, { id: 1 });
      await pub.emit(order, { orgId: 1 }, { id: 2, fail: true });
      await pub.publish('app.orders.1', '{"id": "garbage"}'); // fails the schema: no retries
      await waitFor('two dead letters', async () => ((await count('DLQ')) === 2 ? true : undefined), 15_000);
      await waitFor('the consumer to settle', async () => {
        const c = await jsm.consumers.info('ORDERS', 'billing');
        return c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
      });
      expect(Object.fromEntries(attempts)).toEqual({ 1: 1, 2: 3, 100: 1 });
      expect(runner.stats(), JSON.stringify(runner.stats())).toMatchObject({ acked: 2, deadLettered: 2 });

      const failed = await jsm.streams.getMessage('DLQ', { seq: 1 });
      const invalid = await jsm.streams.getMessage('DLQ', { seq: 2 });
      const [gaveUp, bad] = JSON.parse(failed!.string()).id === 2 ? [failed!, invalid!] : [invalid!, failed!];
      expect(gaveUp.subject).toBe(dlqSubject('ORDERS', 'billing'));
      expect(gaveUp.header.get(DLQ_HEADERS.reason)).toBe('failed 3 times; last error: order 2 cannot be billed');
      expect(gaveUp.header.get(DLQ_HEADERS.deliveries)).toBe('3');
      expect(gaveUp.header.get(DLQ_HEADERS.subject)).toBe('app.orders.1');
      expect(gaveUp.header.get(DLQ_HEADERS.stream)).toBe('ORDERS');
      expect(bad.header.get(DLQ_HEADERS.reason)).toMatch(/^payload of app\.orders\.\{orgId\} is invalid: id: /);
      expect(bad.header.get(DLQ_HEADERS.deliveries)).toBe('1');
      expect(bad.string()).toBe('{"id": "garbage"}');
      // Order 2 came back twice; the acks (counted per batch) of orders 1 and 100.
      const value = async (name: string, labels: Record<string, string>) =>
        (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
      expect(await value('dataplane_nats_redeliveries_total', { consumer: 'ORDERS/billing' })).toBe(2);
      expect(await value('dataplane_nats_consumed_total', { consumer: 'ORDERS/billing', outcome: 'acked' })).toBe(2);
      // The server's advisory names the reason as well.
      await waitFor('two termination advisories', () => (terminated.length === 2 ? true : undefined), 5_000, 50);
      expect(terminated).toContain('failed 3 times; last error: order 2 cannot be billed');
    } finally {
      advisories.unsubscribe();
      await runner.stop();
      await app.close();
    }
  });

  it('acks a batch of messages in one frame, each once, as nats.js would one by one', async () => {
    await jsm.streams.add({ name: 'ACKS', subjects: ['app.acks.>'] });
    await jsm.consumers.add('ACKS', { durable_name: 'framed', ack_policy: 'explicit' as never, ack_wait: 60_000_000_000 });
    const sent = Array.from({ length: 300 }, (_, i) => pub.publishAsync('app.acks.x', `m${i}`));
    expect(sent.every((w) => w === undefined)).toBe(true);
    await pub.flush();
    const consumer = await jetstream(admin).consumers.get('ACKS', 'framed');
    const msgs: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: 300, expires: 5000 })) if (msgs.push(m) === 300) break;
    expect(msgs.length).toBe(300);
    const frames = new AckFrames(admin);
    expect(frames.direct).toBe(true); // the pinned nats.js has the protocol handler and message bytes it expects
    const viaNatsJs = vi.spyOn(admin, 'publish');
    const protocol = (admin as unknown as { protocol: { outMsgs: number } }).protocol;
    const before = protocol.outMsgs;
    try {
      frames.ack(msgs);
      frames.ack(msgs.slice(0, 10)); // acked already: nothing more is sent
      msgs[0]!.ack();
      expect(protocol.outMsgs - before).toBe(300);
      expect(viaNatsJs).not.toHaveBeenCalled();
    } finally {
      viaNatsJs.mockRestore();
    }
    await waitFor('the server to hold every message acked', async () => {
      const c = await jsm.consumers.info('ACKS', 'framed');
      return c.num_ack_pending === 0 && c.ack_floor.stream_seq === 300 ? true : undefined;
    });
    await jsm.streams.delete('ACKS');
  });
});

describe('KV', () => {
  it('stores small shared state, checked against a schema', async () => {
    const flags = await openKv(admin, 'flags', { schema: z.object({ on: z.boolean() }) });
    await flags.put('dark-mode', { on: true });
    expect(await flags.get('dark-mode')).toEqual({ on: true });
    await expect(flags.put('bad', { on: 'yes' } as never)).rejects.toThrow(/kv flags\/bad/);
    await flags.delete('dark-mode');
    expect(await flags.get('dark-mode')).toBeUndefined();
    expect(await flags.keys()).toEqual([]);
  });
});

describe('resilience', () => {
  it('a client reconnects after nats-server is killed and keeps publishing', async () => {
    const nc = await connectNats({ access: stack.access, user: 'admin' });
    const p = new Publisher(nc, { timeoutMs: 2000 });
    try {
      await p.publish('app.test.reconnect', 'before');
      process.kill(pidOf({ stateDir: stack.stateDir } as never, 'nats'), 'SIGKILL');
      await waitFor('publishing to work again', async () => (await p.publish('app.test.reconnect', 'after').then(() => true).catch(() => undefined)), 15_000, 200);
      // The new TLS socket has its reads joined too (connect/nats-tls-reads.ts).
      expect(joinsTlsReads(nc)).toBe(true);
    } finally {
      await p.close();
      await nc.close();
    }
  });
});

describe('cache invalidation worker', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = connectRedis({ access: stack.access });
  });
  afterAll(() => redis.disconnect());

  it('deletes the cache entries an event names', async () => {
    const sources = sourceByName.bind(redis);
    await sources.set({ orgId: 5, name: 'edge' }, { id: 1, kind: 'device', retired: false });
    await sources.set({ orgId: 5, name: 'keep' }, { id: 2, kind: 'device', retired: false });
    await pub.emit(cacheInvalidate, {}, { keyspace: 'source', keys: [{ orgId: 5, name: 'edge' }] });
    await waitFor('the entry to go', async () => ((await sources.get({ orgId: 5, name: 'edge' })) === undefined ? true : undefined), 10_000);
    expect(await sources.get({ orgId: 5, name: 'keep' })).toBeDefined();
  });
});
