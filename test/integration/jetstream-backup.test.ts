/**
 * JetStream backup: a stream snapshot restored into an empty server gives the
 * identical stream (every message with its sequence, subject, headers and data, in
 * order, deleted sequences included) and its consumers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, type StoredMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { restoreStream, snapshotStream } from '../../src/backup/jetstream.js';
import { connectNats } from '../../src/nats/connection.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';

let source: EphemeralStack;
let empty: EphemeralStack;
const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-jsbackup-'));

beforeAll(async () => {
  [source, empty] = await Promise.all([startEphemeralStack({ services: ['nats'] }), startEphemeralStack({ services: ['nats'] })]);
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), empty?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function everything(stack: EphemeralStack, stream: string) {
  const nc = await connectNats({ access: stack.access, user: 'admin' });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const msgs: { seq: number; subject: string; data: string; headers: Record<string, string[]> }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      let m: StoredMsg | null = null;
      try {
        m = await jsm.streams.getMessage(stream, { seq });
      } catch {
        m = null; // deleted
      }
      if (!m) continue;
      const h: Record<string, string[]> = {};
      for (const [k, v] of m.header ?? []) h[k] = v;
      msgs.push({ seq: m.seq, subject: m.subject, data: m.string(), headers: h });
    }
    const consumers = (await jsm.consumers.list(stream).next()).map((c) => ({ name: c.name, filter: c.config.filter_subject, ack: c.config.ack_policy, delivered: c.delivered.stream_seq }));
    return { state: { messages: info.state.messages, first: info.state.first_seq, last: info.state.last_seq }, msgs, consumers };
  } finally {
    await nc.close();
  }
}

it('a stream snapshot restored into an empty server is identical, consumers included', { timeout: 120_000 }, async () => {
  const nc = await connectNats({ access: source.access, user: 'admin' });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
  const js = jetstream(nc);
  for (let i = 1; i <= 2000; i++) {
    const h = headers();
    h.set('Order-Id', String(i));
    if (i % 7 === 0) h.append('Tag', 'seventh');
    await js.publish(`orders.${i % 3 === 0 ? 'paid' : 'created'}`, JSON.stringify({ i, pad: 'x'.repeat(i % 50) }), { headers: h, msgID: `o-${i}` });
  }
  await jsm.streams.deleteMessage('ORDERS', 10);
  await jsm.consumers.add('ORDERS', { durable_name: 'billing', filter_subject: 'orders.paid', ack_policy: AckPolicy.Explicit });
  const c = await js.consumers.get('ORDERS', 'billing');
  const batch = await c.fetch({ max_messages: 25, expires: 2000 });
  for await (const m of batch) m.ack();
  await nc.flush();

  const snap = await snapshotStream(nc, 'ORDERS', dir);
  await nc.close();
  expect(snap.state.messages).toBe(1999);
  expect(snap.file.size).toBeGreaterThan(0);

  const target = await connectNats({ access: empty.access, user: 'admin' });
  const r = await restoreStream(target, snap, dir);
  await target.close();
  expect(r).toEqual({ messages: 1999, lastSeq: 2000 });

  const [before, after] = await Promise.all([everything(source, 'ORDERS'), everything(empty, 'ORDERS')]);
  expect(after.state).toEqual(before.state);
  expect(after.msgs.length).toBe(1999);
  expect(after.msgs).toEqual(before.msgs);
  expect(after.consumers).toEqual(before.consumers);
  expect(after.consumers[0]!.delivered).toBeGreaterThan(0);
});

it('a damaged snapshot is refused before anything reaches the server', async () => {
  const nc = await connectNats({ access: source.access, user: 'admin' });
  const snap = await snapshotStream(nc, 'ORDERS', path.join(dir, 'second'));
  await nc.close();
  const target = await connectNats({ access: empty.access, user: 'admin' });
  try {
    await expect(restoreStream(target, { ...snap, name: 'ORDERS2', file: { ...snap.file, sha256: '0'.repeat(64) } }, path.join(dir, 'second'))).rejects.toThrow(/ORDERS.snapshot does not match the manifest/);
    await expect((await jetstreamManager(target)).streams.info('ORDERS2')).rejects.toThrow('stream not found');
  } finally {
    await target.close();
  }
});
