// Load from the application's namespace, through the library, on the inventory's
// addresses: PostgreSQL commits (synchronous replication), Redis writes confirmed by
// WAIT on one replica, NATS publishes acknowledged by an R3 stream. Every acknowledged
// id is kept; <dir>/progress.json shows the counts as they go. When <dir>/stop exists
// the writers stop and every acknowledged id is read back; the result goes to
// <dir>/result.json. Usage: node deploy-load.mjs <config file> <dir>
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectNats, connectPostgres, connectRedis, loadConfig, resolveAccess } from '../../dist/index.js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';

const [configFile, dir] = process.argv.slice(2);
const access = resolveAccess(loadConfig({ file: configFile }));
const STREAM = 'DEPLOY_LOAD';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stopped = () => existsSync(path.join(dir, 'stop'));

const db = connectPostgres({ access, user: access.config.postgres.owner, max: 4 });
await db.query('create table if not exists deploy_ledger (id bigint primary key, at timestamptz not null default now())');
const redis = connectRedis({ access, user: 'admin' });
const nc = await connectNats({ access, user: 'admin', name: 'deploy-load' });
const jsm = await jetstreamManager(nc, { timeout: 5000 });
await jsm.streams.add({ name: STREAM, subjects: ['deploy.load'], num_replicas: 3 }).catch(async (e) => {
  if (!/already in use/.test(e.message)) throw e;
});
const js = jetstream(nc, { timeout: 5000 });

// per writer: acknowledged ids with when each was sent and acknowledged (epoch ms) and,
// for NATS, the stream sequence the acknowledgement named; failures with their ids, so a
// loss can be told apart from a failed write that was stored after all.
const ledgers = { postgres: [], redis: [], nats: [] };
const failures = { postgres: 0, redis: 0, nats: 0 };
const failed = { postgres: [], redis: [], nats: [] };
const lastError = {};

async function writer(name, write) {
  for (let id = 1; !stopped(); id++) {
    const sent = Date.now();
    try {
      const ack = await write(id);
      ledgers[name].push({ id, sent, acked: Date.now(), seq: ack?.seq, ...(ack?.duplicate ? { duplicate: true } : {}) });
    } catch (e) {
      failures[name]++;
      failed[name].push({ id, sent, at: Date.now(), error: e.message });
      lastError[name] = e.message;
      if (failures[name] <= 40) process.stderr.write(`${new Date().toISOString()} ${name} #${id}: ${e.message}\n`);
      await sleep(200);
    }
    await sleep(20);
  }
}

const progress = setInterval(() => {
  const out = {};
  for (const [k, l] of Object.entries(ledgers)) out[k] = { acked: l.length, lastSent: l.at(-1)?.sent ?? 0, failures: failures[k], lastError: lastError[k] };
  writeFileSync(path.join(dir, 'progress.json'), JSON.stringify(out));
}, 500);

await Promise.all([
  writer('postgres', (id) => db.transaction((tx) => tx.query('insert into deploy_ledger (id) values ($1)', [id]))),
  writer('redis', async (id) => {
    await redis.set(`deploy:load:${id}`, String(id));
    const copies = await redis.wait(1, 2000);
    if (copies < 1) throw new Error(`WAIT: on ${copies} replicas`);
  }),
  writer('nats', (id) => js.publish('deploy.load', String(id), { msgID: `load-${id}` })),
]);
clearInterval(progress);

// Read back what was acknowledged, through the same addresses.
const ids = (name) => ledgers[name].map((x) => x.id);
const present = {};
const pg = await db.query('select id from deploy_ledger where id = any($1::bigint[])', [ids('postgres')], { idempotent: true });
present.postgres = new Set(pg.rows.map((r) => Number(r.id)));
present.redis = new Set();
for (let i = 0; i < ids('redis').length; i += 500) {
  const batch = ids('redis').slice(i, i + 500);
  const values = await redis.mget(batch.map((id) => `deploy:load:${id}`));
  values.forEach((v, k) => v === String(batch[k]) && present.redis.add(batch[k]));
}
present.nats = new Set();
const natsSeqOf = new Map();
// Read the stream to its last sequence, one message by sequence at a time: what the
// stream holds, not what a consumer delivered (an ordered consumer once skipped a
// sequence that a get then found, stored at its acknowledged sequence). A cluster that
// has just healed may answer nothing for a while (a leader election, a follower
// catching up): a read that fails starts again from the next sequence until the
// deadline, so a stall is reported as a stall (readBack below), never as loss.
const natsRead = { streamMessages: null, lastSeq: null, readUpTo: 0, restarts: 0, errors: [], empty: [] };
const streamState = async () => {
  try {
    const { state } = await jsm.streams.info(STREAM);
    natsRead.streamMessages = state.messages;
    natsRead.lastSeq = state.last_seq;
  } catch (e) {
    natsRead.errors.push(`info: ${e.message}`);
  }
  return natsRead.lastSeq ?? 0;
};
const readDeadline = Date.now() + 90_000;
for (let last = await streamState(); Date.now() < readDeadline; last = await streamState()) {
  if (natsRead.lastSeq !== null && natsRead.readUpTo >= last) break;
  try {
    while (natsRead.readUpTo < last) {
      const seq = natsRead.readUpTo + 1;
      const m = await jsm.streams.getMessage(STREAM, { seq });
      if (m) {
        present.nats.add(Number(m.string()));
        natsSeqOf.set(Number(m.string()), seq);
      } else if (natsRead.empty.length < 20) natsRead.empty.push(seq);
      natsRead.readUpTo = seq;
    }
  } catch (e) {
    natsRead.errors.push(`read from ${natsRead.readUpTo + 1}: ${e.message}`);
    await sleep(1000);
  }
  natsRead.restarts++;
}
const result = {};
for (const name of Object.keys(ledgers)) {
  result[name] = { acked: ledgers[name].length, failures: failures[name], lost: ids(name).filter((id) => !present[name].has(id)), ledger: ledgers[name].map((x) => [x.sent, x.acked]) };
}
result.nats.readBack = natsRead;
// What a loss looks like: where each missing id was acknowledged, what the stream holds
// at that sequence now, and where the failed writes ended up.
const holds = async (seq) => {
  try {
    const m = await jsm.streams.getMessage(STREAM, { seq });
    return m ? { seq, payload: m.string(), time: m.time?.toISOString?.() } : { seq, payload: null };
  } catch (e) {
    return { seq, error: e.message };
  }
};
const byId = new Map(ledgers.nats.map((x) => [x.id, x]));
result.nats.lostDetail = [];
for (const id of result.nats.lost.slice(0, 20)) {
  const x = byId.get(id);
  result.nats.lostDetail.push({ id, sent: x.sent, acked: x.acked, ackSeq: x.seq, now: x.seq ? await holds(x.seq) : null });
}
result.nats.failedDetail = failed.nats.slice(0, 40).map((f) => ({ ...f, storedAtSeq: natsSeqOf.get(f.id) ?? null }));
const seqMismatch = ledgers.nats.filter((x) => natsSeqOf.has(x.id) && natsSeqOf.get(x.id) !== x.seq);
result.nats.duplicateAcks = ledgers.nats.filter((x) => x.duplicate).map((x) => x.id);
result.nats.ackSeqMismatches = { count: seqMismatch.length, first: seqMismatch.slice(0, 10).map((x) => ({ id: x.id, ackSeq: x.seq, readSeq: natsSeqOf.get(x.id) })) };
writeFileSync(path.join(dir, 'result.json'), JSON.stringify(result));
await db.close();
redis.disconnect();
await nc.close();
