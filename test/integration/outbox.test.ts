/**
 * The outbox end to end: business rows and events committed together, a relay
 * killed with SIGKILL in the middle of a batch and restarted, and an idempotent
 * consumer that sees every event exactly once, in order per key.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { resolveAccess, type Access } from '../../src/connect/access.js';
import { connectNats } from '../../src/nats/connection.js';
import { runConsumer } from '../../src/nats/consumer.js';
import { reconcile } from '../../src/nats/reconcile.js';
import { defineSubject } from '../../src/nats/subjects.js';
import { msgIdOf, processOnce } from '../../src/outbox/inbox.js';
import { enqueue } from '../../src/outbox/outbox.js';
import { Publisher } from '../../src/nats/publisher.js';
import { OutboxRelay } from '../../src/outbox/relay.js';
import { outboxCounts } from '../../src/outbox/relay-log.js';
import { pruneMessaging } from '../../src/outbox/retention.js';
import { MaintenanceJob } from '../../src/stack/jobs/maintenance.js';
import { createLogger } from '../../src/lib/logger.js';
import { connectPostgres, type Database } from '../../src/postgres/database.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

const TOTAL = 3000;
const KEYS = 3;
const tagged = defineSubject({
  name: 'app.events.registry.tag_created.{orgId}',
  description: 'test event',
  schema: z.object({ tagId: z.number().int(), key: z.string(), n: z.number().int() }),
});

let project: Project;
let access: Access;
let owner: Database;
let rw: Database;
let admin: NatsConnection;
let jsm: JetStreamManager;
let org: number;

/** Rows of these keys the relay has published (behind its position and not held), in publishing order. */
async function publishedOf(keys: string[]): Promise<string[]> {
  const r = await owner.query<{ key: string; n: number }>(
    `select o.key, (o.payload->>'n')::int as n from messaging.outbox o, messaging.outbox_relay p
      where o.key = any($1) and (o.xid, o.id) <= (p.xid, p.last_id) and not exists (select from messaging.outbox_held h where h.id = o.id)
      order by o.xid, o.id`,
    [keys],
  );
  return r.rows.map((x) => `${x.key} ${x.n}`);
}

function relay(): { child: ChildProcess; output: () => string } {
  const child = project.spawn(['outbox', 'relay']);
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

beforeAll(async () => {
  project = await tempProject({ workers: { outboxRelay: false, outboxBatchSize: 1000 } });
  const up = await project.run(['up', '--detach']);
  if (up.code !== 0) throw new Error(up.stderr);
  access = resolveAccess(loadConfig({ file: `${project.dir}/dataplane.config.yaml` }));
  owner = connectPostgres({ access, user: 'app_owner' });
  rw = connectPostgres({ access, user: 'app_rw' });
  await owner.query('create table public.effects (message_id text primary key, key text not null, n int not null, at timestamptz not null default now())');
  await owner.query('grant select, insert on public.effects to dp_messaging_rw');
  await owner.query('grant usage on schema public to dp_messaging_rw');
  org = Number((await rw.query<{ id: string }>("select iam.create_organization('outbox', 'Outbox') as id")).rows[0]!.id);
  admin = await connectNats({ access, user: 'admin' });
  jsm = await jetstreamManager(admin);
  await reconcile(jsm, { streams: [], consumers: [{ stream: 'EVENTS', name: 'effects', filterSubject: 'app.events.registry.>', ackWait: '10s', maxDeliver: 10 }] });
});

afterAll(async () => {
  await admin?.close();
  await owner?.close();
  await rw?.close();
  await project.cleanup();
});

describe('outbox', () => {
  it('writes the business row and its event in one transaction, or neither', async () => {
    await expect(
      rw.withTenant(org, async (tx) => {
        const t = await tx.query<{ id: string }>("insert into registry.tags (org_id, key, value) values ($1, 'rollback', 'x') returning id", [org]);
        await enqueue(tx, tagged, { orgId: org }, { tagId: Number(t.rows[0]!.id), key: 'k', n: 0 });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await owner.query<{ n: number }>('select count(*)::int as n from messaging.outbox')).rows[0]!.n).toBe(0);
    expect((await owner.query<{ n: number }>("select count(*)::int as n from registry.tags where key = 'rollback'")).rows[0]!.n).toBe(0);
    await expect(rw.withTenant(org, (tx) => enqueue(tx, tagged, { orgId: org }, { tagId: 1, key: 'k', n: 'x' } as never))).rejects.toThrow(/invalid/);
  });

  it('delivers every event exactly once, in order per key, across a relay killed mid-batch', async () => {
    // 3000 business rows and events, n counting up per key.
    for (let i = 0; i < TOTAL; i += 100) {
      await rw.withTenant(org, async (tx) => {
        for (let j = i; j < i + 100; j++) {
          const key = `k${j % KEYS}`;
          const t = await tx.query<{ id: string }>("insert into registry.tags (org_id, key, value) values ($1, 'seq', $2) returning id", [org, String(j)]);
          await enqueue(tx, tagged, { orgId: org }, { tagId: Number(t.rows[0]!.id), key, n: Math.floor(j / KEYS) }, { key });
        }
      });
    }

    // Kill the first relay as soon as JetStream holds some of its batch, before it can mark the rows.
    const first = relay();
    const streamCount = async () => (await jsm.streams.info('EVENTS')).state.messages;
    await waitFor('the first relay to publish', async () => ((await streamCount()) > 0 ? true : undefined), 20_000, 5);
    first.child.kill('SIGKILL');
    await expectAllGone([first.child.pid!]);
    const recorded = (await outboxCounts(owner)).published;
    const inStream = await streamCount();
    expect(recorded, 'killed after publishing and before moving its position: a crash mid-batch').toBeLessThan(inStream);

    // A new relay finishes the job; JetStream drops what the first one already published.
    const second = relay();
    await waitFor('every row to be published', async () => ((await outboxCounts(owner)).pending === 0 ? true : undefined), 60_000, 100);
    second.child.kill('SIGTERM');
    await expectAllGone([second.child.pid!]);
    expect(await streamCount()).toBe(TOTAL);

    // An idempotent consumer: effect and inbox record commit together.
    const app = await connectNats({ access, user: 'admin' });
    const seen = new Map<string, number[]>();
    const runner = await runConsumer({
      nc: app,
      stream: 'EVENTS',
      consumer: 'effects',
      subject: tagged,
      concurrency: 1,
      handler: async (e, msg) => {
        await processOnce(rw, 'effects', msgIdOf(msg), (tx) => tx.query('insert into public.effects (message_id, key, n) values ($1, $2, $3)', [msgIdOf(msg), e.key, e.n]));
        seen.set(e.key, [...(seen.get(e.key) ?? []), e.n]);
      },
    });
    try {
      await waitFor('every event to be consumed', async () => {
        const c = await jsm.consumers.info('EVENTS', 'effects');
        return c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
      }, 60_000, 100);
    } finally {
      await runner.stop();
      await app.close();
    }
    const effects = await owner.query<{ n: number; keys: number }>('select count(*)::int as n, count(distinct key)::int as keys from public.effects');
    expect(effects.rows[0]).toEqual({ n: TOTAL, keys: KEYS });
    expect((await owner.query<{ n: number }>("select count(*)::int as n from messaging.inbox where consumer = 'effects'")).rows[0]!.n).toBe(TOTAL);
    for (const [key, ns] of seen) {
      expect(ns, key).toEqual(Array.from({ length: TOTAL / KEYS }, (_, i) => i));
    }
    expect(first.output() + second.output()).not.toMatch(/outbox row\(s\) failed/);
  });

  it('a redelivered message has no second effect', async () => {
    const id = 'redelivered-1';
    const once = await processOnce(rw, 'effects', id, (tx) => tx.query("insert into public.effects (message_id, key, n) values ($1, 'r', 0)", [id]));
    const twice = await processOnce(rw, 'effects', id, (tx) => tx.query("insert into public.effects (message_id, key, n) values ($1, 'r', 1)", [id]));
    expect([once.processed, twice.processed]).toEqual([true, false]);
  });

  it('`outbox status` reports the backlog', async () => {
    // One event nobody relays (the supervisor's relay is off in this project).
    await rw.withTenant(org, (tx) => enqueue(tx, tagged, { orgId: org }, { tagId: 0, key: 'backlog', n: 0 }, { key: 'backlog' }));
    const total = (await owner.query<{ n: number }>('select count(*)::int as n from messaging.outbox')).rows[0]!.n;
    const r = await project.run(['outbox', 'status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    // Everything before was published by the relays above; the new event is the one pending.
    expect(JSON.parse(r.stdout)).toEqual({ pending: 1, published: total - 1, held: 0, failing: 0, lastError: null, oldestPendingSeconds: expect.any(Number) });
    expect((await owner.query('select unpublished::int from messaging.outbox_backlog()')).rows[0]).toEqual({ unpublished: 1 });
  });

  it('publishes the stored JSON as it is: numbers keep every digit', async () => {
    // 2^64 + 1 and a decimal with more digits than a double holds: a JSON.parse/stringify round trip changes both.
    const exact = '{"big": 18446744073709551617, "fine": 0.10000000000000000000000001}';
    await rw.query("insert into messaging.outbox (subject, payload, key) values ('app.events.order.exact', $1::jsonb, 'exact')", [exact]);
    const relay = new OutboxRelay({ db: rw, nc: admin, batchSize: 10, pollIntervalMs: 50 });
    relay.start();
    try {
      await waitFor('the event to be published', async () => ((await publishedOf(['exact'])).length ? true : undefined), 20_000, 50);
      const inStream = await jsm.streams.getMessage('EVENTS', { last_by_subj: 'app.events.order.exact' });
      expect(new TextDecoder().decode(inStream!.data)).toBe(exact);
    } finally {
      await relay.stop();
      await owner.query("delete from messaging.outbox where key = 'exact'");
    }
  });

  it('an event that cannot be published holds back its key\'s later events, across batches in flight; other keys go on; once it can be, they follow in order', async () => {
    await owner.query("delete from messaging.outbox where key = 'backlog'");
    // Two keys, three events each, in id order [held 0, free 0], [held 1, free 1], [held 2, free 2]
    // (batches of 2): `held 1` goes to a subject no stream captures.
    for (let n = 0; n < 3; n++) {
      for (const [subject, key] of [[n === 1 ? 'nostream.order' : 'app.events.order.held', 'held'], ['app.events.order.free', 'free']]) {
        await rw.query('insert into messaging.outbox (subject, payload, key) values ($1, $2::jsonb, $3)', [subject, JSON.stringify({ n }), key]);
      }
    }
    const errors: string[] = [];
    const relay = new OutboxRelay({ db: rw, nc: admin, batchSize: 2, pollIntervalMs: 50, onError: (e) => errors.push(e.message) });
    relay.start();
    try {
      await waitFor('the free key to be published', async () => ((await publishedOf(['free'])).length === 3 ? true : undefined), 20_000, 50);
      // More rounds over the held rows: the held key's third event must never overtake its second.
      await waitFor('the failing event to be tried again', async () => (errors.length >= 3 ? true : undefined), 20_000, 50);
      expect(await publishedOf(['held', 'free'])).toEqual(['held 0', 'free 0', 'free 1', 'free 2']);
      expect(errors[0]).toBe('publish to nostream.order failed: no stream captures this subject (503 no responders) (1 outbox row(s) failed; their keys are held)');
      const inStream = await jsm.streams.getMessage('EVENTS', { last_by_subj: 'app.events.order.held' });
      expect(JSON.parse(new TextDecoder().decode(inStream!.data)).n).toBe(0);
      expect(await outboxCounts(owner)).toMatchObject({ held: 2, failing: 1, lastError: expect.stringMatching(/no stream captures/) });
    } finally {
      await relay.stop();
    }

    // A stream for the subject now: a new relay (held keys read back from the table) publishes
    // `held 1`, then `held 2`, and nothing stays held.
    await jsm.streams.add({ name: 'NOSTREAM', subjects: ['nostream.>'] });
    const again = new OutboxRelay({ db: rw, nc: admin, batchSize: 2, pollIntervalMs: 50 });
    again.start();
    try {
      await waitFor('the held events to be published', async () => ((await outboxCounts(owner)).held === 0 ? true : undefined), 20_000, 50);
      expect(await publishedOf(['held'])).toEqual(['held 0', 'held 1', 'held 2']);
      const [one, two] = [await jsm.streams.getMessage('NOSTREAM', { last_by_subj: 'nostream.order' }), await jsm.streams.getMessage('EVENTS', { last_by_subj: 'app.events.order.held' })];
      expect([JSON.parse(one!.string()).n, JSON.parse(two!.string()).n]).toEqual([1, 2]);
      expect(one!.time.getTime()).toBeLessThanOrEqual(two!.time.getTime());
    } finally {
      await again.stop();
      await jsm.streams.delete('NOSTREAM');
      await owner.query('delete from messaging.outbox where key = any($1)', [['held', 'free']]);
    }
  });

  it('a key held for long with many rows does not keep another key\'s held rows back; each key\'s rows go out in order, a chunk at a time', async () => {
    const rows: [string, string, number][] = [['nostreama.order', 'a', 0]];
    for (let n = 1; n < 8; n++) rows.push(['app.events.order.a', 'a', n]);
    rows.push(['nostreamb.order', 'b', 0], ['app.events.order.b', 'b', 1]);
    for (const [subject, key, n] of rows) await rw.query('insert into messaging.outbox (subject, payload, key) values ($1, $2::jsonb, $3)', [subject, JSON.stringify({ n }), key]);
    const relay = new OutboxRelay({ db: rw, nc: admin, batchSize: 4, pollIntervalMs: 50, retryRows: 3 });
    relay.start();
    try {
      await waitFor('both keys to be held', async () => ((await outboxCounts(owner)).held === 10 ? true : undefined), 20_000, 50);
      // b's subject gets a stream: b goes out although a, with more held rows than a retry reads, is still stuck.
      await jsm.streams.add({ name: 'NOSTREAMB', subjects: ['nostreamb.>'] });
      await waitFor('key b to be published', async () => ((await publishedOf(['b'])).length === 2 ? true : undefined), 20_000, 50);
      expect(await outboxCounts(owner)).toMatchObject({ held: 8, failing: 1 });
      await jsm.streams.add({ name: 'NOSTREAMA', subjects: ['nostreama.>'] });
      await waitFor('key a to be published', async () => ((await outboxCounts(owner)).held === 0 ? true : undefined), 20_000, 50);
      expect(await publishedOf(['a'])).toEqual(Array.from({ length: 8 }, (_, n) => `a ${n}`));
      const inStream = await jsm.streams.getMessage('EVENTS', { last_by_subj: 'app.events.order.a' });
      expect(JSON.parse(inStream!.string()).n).toBe(7);
    } finally {
      await relay.stop();
      await jsm.streams.delete('NOSTREAMA').catch(() => {});
      await jsm.streams.delete('NOSTREAMB').catch(() => {});
      await owner.query('delete from messaging.outbox where key = any($1)', [['a', 'b']]);
    }
  });

  it('a publish without an answer moves nothing: the relay stops at that row and starts again from its position', async () => {
    // A plain subscriber takes the subject and never answers: no ack, no "no responders".
    const silent = admin.subscribe('stall.order');
    await admin.flush();
    await rw.query(`insert into messaging.outbox (subject, payload, key) values ('stall.order', '{"n": 0}', 'stall'), ('app.events.order.after', '{"n": 0}', 'after')`);
    const before = (await owner.query('select xid::text, last_id from messaging.outbox_relay')).rows[0];
    const errors: string[] = [];
    const publisher = new Publisher(admin, { timeoutMs: 300 });
    const relay = new OutboxRelay({ db: rw, nc: admin, publisher, batchSize: 1, pollIntervalMs: 50, onError: (e) => errors.push(e.message) });
    relay.start();
    try {
      await waitFor('two attempts without an answer', async () => (errors.filter((e) => /no ack within 300 ms/.test(e)).length >= 2 ? true : undefined), 20_000, 50);
      expect((await owner.query('select xid::text, last_id from messaging.outbox_relay')).rows[0]).toEqual(before);
      expect(await outboxCounts(owner)).toMatchObject({ pending: 2, held: 0 });
      // Without the subscriber, JetStream's "no responders" is an answer: that key is held, the next goes on.
      silent.unsubscribe();
      await waitFor('the next key to be published', async () => ((await publishedOf(['after'])).length === 1 ? true : undefined), 20_000, 50);
      expect(await outboxCounts(owner)).toMatchObject({ pending: 1, held: 1, failing: 1 });
    } finally {
      await relay.stop();
      await publisher.close();
      await owner.query("delete from messaging.outbox where key = any($1)", [['stall', 'after']]);
    }
  });

  it('an event of a transaction still open when a later one of its key commits is published first: the relay waits for it', async () => {
    const open = await rw.pool.connect();
    const relay = new OutboxRelay({ db: rw, nc: admin, batchSize: 10, pollIntervalMs: 50 });
    try {
      await open.query('begin');
      await open.query(`insert into messaging.outbox (subject, payload, key) values ('app.events.order.late', '{"n": 0}', 'late')`);
      // Written after it and committed before it: an id-ordered relay would publish this one first.
      await rw.query(`insert into messaging.outbox (subject, payload, key) values ('app.events.order.late', '{"n": 1}', 'late')`);
      relay.start();
      await waitFor('the relay to lead', async () => (relay.stats.leader ? true : undefined), 20_000, 20);
      await new Promise((ok) => setTimeout(ok, 1000));
      expect(await publishedOf(['late'])).toEqual([]);
      await open.query('commit');
      await waitFor('both events to be published', async () => ((await publishedOf(['late'])).length === 2 ? true : undefined), 20_000, 50);
      expect(await publishedOf(['late'])).toEqual(['late 0', 'late 1']);
      const last = await jsm.streams.getMessage('EVENTS', { last_by_subj: 'app.events.order.late' });
      expect(JSON.parse(new TextDecoder().decode(last!.data)).n).toBe(1);
    } finally {
      await open.query('rollback').catch(() => {});
      open.release();
      await relay.stop();
      await owner.query("delete from messaging.outbox where key = 'late'");
    }
  });
});

describe('outbox and inbox retention', () => {
  /** Inserts one outbox row in its own transaction (so in log order), `daysOld` days old. */
  async function row(key: string, daysOld: number, subject = 'app.events.order.retention'): Promise<void> {
    await rw.query(`insert into messaging.outbox (subject, payload, key, created_at) values ($1, '{"n": 0}', $2, now() - make_interval(days => $3))`, [subject, key, daysOld]);
  }
  const keysLeft = async (): Promise<string[]> =>
    (await owner.query<{ key: string }>("select key from messaging.outbox where key like 'ret-%' order by xid, id")).rows.map((r) => r.key);
  /** Rows the relay has not reached yet (held rows are behind it). */
  const afterPosition = async (): Promise<number> =>
    Number((await owner.query<{ n: string }>('select count(*) as n from messaging.outbox o, messaging.outbox_relay r where (o.xid, o.id) > (r.xid, r.last_id)')).rows[0]!.n);
  /** Runs a relay until every row is behind its position (published or held). */
  async function relayToTheEnd(): Promise<void> {
    const relay = new OutboxRelay({ db: rw, nc: admin, batchSize: 100, pollIntervalMs: 50 });
    relay.start();
    try {
      await waitFor('the relay to reach the end of the outbox', async () => ((await afterPosition()) === 0 ? true : undefined), 20_000, 50);
    } finally {
      await relay.stop();
    }
  }
  const prune = async (outboxKeep: string | null, inboxKeep: string | null, maxRows = 10_000) =>
    (await owner.query<{ outbox_deleted: number; inbox_deleted: number }>('select * from messaging.prune($1, $2, $3)', [outboxKeep, inboxKeep, maxRows])).rows[0]!;

  it('messaging.prune deletes published rows past the keep, in log order up to the first young one; never held rows or rows after the position', async () => {
    // everything earlier tests left is old and published (or held) too
    await owner.query("update messaging.outbox set created_at = now() - interval '20 days'");
    await row('ret-old-1', 10);
    await row('ret-old-2', 10);
    await row('ret-held', 10, 'nostream.retention');
    await row('ret-held', 10);
    await row('ret-young', 1);
    await row('ret-old-3', 10);
    await relayToTheEnd();
    await row('ret-after', 10); // after the position: not published yet
    const heldBefore = (await outboxCounts(owner)).held;
    expect(heldBefore).toBeGreaterThanOrEqual(2);

    expect(await prune(null, null)).toEqual({ outbox_deleted: 0, inbox_deleted: 0 });
    expect(await prune('7 days', null, 1)).toEqual({ outbox_deleted: 1, inbox_deleted: 0 });
    let deleted = 1;
    for (let r = await prune('7 days', null, 1); r.outbox_deleted; r = await prune('7 days', null, 1)) deleted += r.outbox_deleted;
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect((await prune('7 days', null)).outbox_deleted).toBe(0);
    // ret-old-3 waits behind ret-young; held rows and the row after the position stay
    expect(await keysLeft()).toEqual(['ret-held', 'ret-held', 'ret-young', 'ret-old-3', 'ret-after']);
    expect((await outboxCounts(owner)).held).toBe(heldBefore);
    expect(await afterPosition()).toBe(1);
    // a shorter keep reaches past the young row
    expect((await prune('12 hours', null)).outbox_deleted).toBe(2);
    expect(await keysLeft()).toEqual(['ret-held', 'ret-held', 'ret-after']);
    await expect(prune('-1 day', null)).rejects.toThrow(/cannot be negative/);
    await expect(prune('1 day', null, 0)).rejects.toThrow(/at least 1/);
  });

  it('messaging.prune deletes inbox entries past the keep; only the owner may call it', async () => {
    await owner.query(
      `insert into messaging.inbox (consumer, message_id, processed_at)
       select 'retention', 'old-' || g, now() - interval '40 days' from generate_series(1, 5) g
       union all select 'retention', 'new-' || g, now() - interval '1 day' from generate_series(1, 3) g`,
    );
    expect(await prune(null, '30 days', 2)).toEqual({ outbox_deleted: 0, inbox_deleted: 2 });
    // pruneMessaging calls again while a call comes back full; 0 days keeps the outbox whole
    expect(await pruneMessaging(owner, { outboxKeepDays: 0, inboxKeepDays: 30 }, 1)).toEqual({ outbox: 0, inbox: 3 });
    const left = await owner.query<{ message_id: string }>("select message_id from messaging.inbox where consumer = 'retention' order by 1");
    expect(left.rows.map((r) => r.message_id)).toEqual(['new-1', 'new-2', 'new-3']);
    await expect(rw.query("select * from messaging.prune('1 day', '1 day')")).rejects.toThrow(/permission denied/);
  });

  it("the supervisor's maintenance job prunes with the configured keeps and logs what it deleted", async () => {
    await owner.query("update messaging.outbox set created_at = now() - interval '20 days'");
    await row('ret-job-old', 8);
    await row('ret-job-young', 6);
    await relayToTheEnd();
    await owner.query(
      `insert into messaging.inbox (consumer, message_id, processed_at) values ('retention', 'job-old', now() - interval '31 days'), ('retention', 'job-new', now() - interval '29 days')`,
    );
    const due = Number(
      (
        await owner.query<{ n: string }>(
          `select count(*) as n from messaging.outbox o, messaging.outbox_relay r
            where (o.xid, o.id) <= (r.xid, r.last_id) and o.created_at < now() - interval '7 days'
              and not exists (select from messaging.outbox_held h where h.id = o.id)`,
        )
      ).rows[0]!.n,
    );
    expect(due).toBeGreaterThanOrEqual(1);
    const lines: string[] = [];
    const job = new MaintenanceJob(() => access, () => true, createLogger({ console: (line) => lines.push(line) }));
    expect(access.config.postgres).toMatchObject({ outboxKeepDays: 7, inboxKeepDays: 30 });
    job.start();
    await job.stop(); // waits for the run that start() began
    expect(lines.join('\n')).toContain(`messaging retention: ${due} outbox rows and 1 inbox entries deleted`);
    expect(lines.join('\n')).not.toMatch(/failed/);
    expect((await keysLeft()).filter((k) => k !== 'ret-held')).toEqual(['ret-job-young']);
    const inbox = await owner.query<{ message_id: string }>("select message_id from messaging.inbox where consumer = 'retention' and message_id like 'job-%'");
    expect(inbox.rows.map((r) => r.message_id)).toEqual(['job-new']);
  });
});
