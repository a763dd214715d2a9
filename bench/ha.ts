/**
 * The ha topology's data paths against the reference tools, in the same run:
 *
 * - JetStream publish to an R3 stream on a 3-node cluster, the library against the Go
 *   reference client (natsbench-go), and the same against an R1 stream on the same
 *   cluster: what replication costs each client.
 * - Redis SET/GET through the library's Sentinel connection (TLS) against
 *   redis-benchmark on the primary it found (TLS).
 *
 * The NATS cluster is a throwaway one started here without authentication, as the
 * single-server messaging benchmark does: the Go tool takes credentials only on its
 * command line, and no secret goes there. The Redis side runs on an ephemeral ha stack
 * (the rendered configs, TLS, ACL users, three sentinels); redis-benchmark logs in as a
 * password-less user that exists on that throwaway primary only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { freePortBlock } from '../src/lib/ports.js';
import { isAlive } from '../src/lib/process.js';
import { Publisher } from '../src/nats/publisher.js';
import { string } from '../src/redis/codecs.js';
import { connectRedis } from '../src/redis/connection.js';
import { defineKeyspace } from '../src/redis/keyspace.js';
import { primaryAddress } from '../src/servers/sentinel.js';
import { startEphemeralStack } from '../src/testing.js';
import { interleave, progress, redisBenchmark, watchCpu, type Comparison, type Cpu, type Side } from './harness.js';
import { ensureGoClient, goBench } from './messaging.js';

const ASYNC = 200_000;
const SYNC = 5_000;
const payload = new Uint8Array(128).fill(97);

interface Series {
  rates: number[];
  cpu: Cpu[];
}
const series = (): Series => ({ rates: [], cpu: [] });

/** Three nats-server processes joined by routes, JetStream on each; no auth, loopback only. */
async function startCluster(dir: string): Promise<{ urls: Record<string, string>; pids: Record<string, number>; procs: ChildProcess[] }> {
  const client = await freePortBlock(3);
  const routes = await freePortBlock(3);
  const procs: ChildProcess[] = [];
  for (let k = 0; k < 3; k++) {
    const store = path.join(dir, `n${k + 1}`);
    mkdirSync(store, { recursive: true });
    const conf = path.join(dir, `n${k + 1}.conf`);
    writeFileSync(
      conf,
      [
        `server_name: bench-${k + 1}`,
        `listen: 127.0.0.1:${client + k}`,
        `jetstream { store_dir: ${JSON.stringify(store)} }`,
        `cluster { name: bench, listen: 127.0.0.1:${routes + k}, routes: [${[0, 1, 2].filter((j) => j !== k).map((j) => `nats-route://127.0.0.1:${routes + j}`).join(', ')}] }`,
      ].join('\n'),
    );
    procs.push(spawn('nats-server', ['-c', conf], { stdio: 'ignore' }));
  }
  const urls = Object.fromEntries([0, 1, 2].map((k) => [`bench-${k + 1}`, `nats://127.0.0.1:${client + k}`]));
  return { urls, pids: Object.fromEntries(procs.map((p, k) => [`nats-${k + 1}`, p.pid!])), procs };
}

/** A stream of `replicas` replicas, once the cluster has elected its JetStream meta leader. */
async function addStream(jsm: JetStreamManager, name: string, subject: string, replicas: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await jsm.streams.add({ name, subjects: [subject], num_replicas: replicas });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`could not create ${name} on the benchmark cluster: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function nodeAsync(nc: NatsConnection, jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  await jsm.streams.purge(stream);
  const p = new Publisher(nc, { window: 4000 });
  const t0 = performance.now();
  for (let i = 0; i < ASYNC; i++) {
    const wait = p.publishAsync(subject, payload);
    if (wait) await wait;
  }
  await p.flush();
  const rate = ASYNC / ((performance.now() - t0) / 1000);
  await p.close();
  return rate;
}

async function nodeSync(nc: NatsConnection, subject: string): Promise<number> {
  const p = new Publisher(nc);
  const t0 = performance.now();
  for (let i = 0; i < SYNC; i++) await p.publish(subject, payload);
  const rate = SYNC / ((performance.now() - t0) / 1000);
  await p.close();
  return rate;
}

export async function benchHaMessaging({ rounds }: { rounds: number }): Promise<Comparison[]> {
  ensureGoClient();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-habench-'));
  const cluster = await startCluster(dir);
  const conns: NatsConnection[] = [];
  const open = async (url: string) => {
    for (let i = 0; i < 100; i++) {
      const nc = await connect({ servers: url, noAsyncTraces: true }).catch(() => undefined);
      if (nc) {
        conns.push(nc);
        return nc;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the benchmark NATS cluster did not start (${url})`);
  };
  try {
    const admin = await open(cluster.urls['bench-1']!);
    // No account check: until the cluster elects its meta leader, JetStream requests time out.
    const jsm = await jetstreamManager(admin, { checkAPI: false });
    await addStream(jsm, 'BENCH_R3', 'bench.r3', 3);
    await addStream(jsm, 'BENCH_R1', 'bench.r1', 1);
    // Both clients publish through the node that leads the stream, for R3 and for R1 alike, so the
    // R3/R1 ratio is the cost of replication and not of an extra hop to a leader elsewhere.
    const leaderUrl = async (stream: string) => cluster.urls[(await jsm.streams.info(stream)).cluster?.leader ?? 'bench-1']!;
    const url3 = await leaderUrl('BENCH_R3');
    const url1 = await leaderUrl('BENCH_R1');
    const [nc3, nc1] = [await open(url3), await open(url1)];
    progress(`ha messaging: R3 leader ${url3}, R1 on ${url1}`);
    const names = ['goAsync3', 'nodeAsync3', 'goAsync1', 'nodeAsync1', 'goSync3', 'nodeSync3', 'goSync1', 'nodeSync1'] as const;
    const r = Object.fromEntries(names.map((n) => [n, series()])) as Record<(typeof names)[number], Series>;
    const watch = () => watchCpu(cluster.pids, 'natsbench-go');
    const go = (mode: string, msgs: number, stream: string, subject: string) => () => goBench(stream === 'BENCH_R3' ? url3 : url1, ['-mode', mode, '-msgs', String(msgs), '-size', '128', '-stream', stream, '-subject', subject, ...(mode === 'pub-async' ? ['-purge'] : [])]);
    const step = (label: string, into: Series, run: () => Promise<number> | number): Side => ({ label, into, run, watch });
    await interleave('ha messaging', rounds, [
      [step('natsbench-go pub-async R3', r.goAsync3, go('pub-async', ASYNC, 'BENCH_R3', 'bench.r3')), step('publishAsync R3', r.nodeAsync3, () => nodeAsync(nc3, jsm, 'BENCH_R3', 'bench.r3'))],
      [step('natsbench-go pub-async R1', r.goAsync1, go('pub-async', ASYNC, 'BENCH_R1', 'bench.r1')), step('publishAsync R1', r.nodeAsync1, () => nodeAsync(nc1, jsm, 'BENCH_R1', 'bench.r1'))],
      [step('natsbench-go pub-sync R3', r.goSync3, go('pub-sync', SYNC, 'BENCH_R3', 'bench.r3')), step('publish R3', r.nodeSync3, () => nodeSync(nc3, 'bench.r3'))],
      [step('natsbench-go pub-sync R1', r.goSync1, go('pub-sync', SYNC, 'BENCH_R1', 'bench.r1')), step('publish R1', r.nodeSync1, () => nodeSync(nc1, 'bench.r1'))],
    ]);
    const side = (o: Series, ref: Series) => ({ oursRates: o.rates, refRates: ref.rates, oursCpu: o.cpu, refCpu: ref.cpu, unit: 'msgs/s', security: 'plaintext, no auth' });
    return [
      { group: 'ha messaging', ours: 'Publisher.publishAsync to R3, window 4000', reference: 'natsbench-go pub-async to R3, window 4000', ...side(r.nodeAsync3, r.goAsync3), target: 0.5 },
      { group: 'ha messaging', ours: 'Publisher.publishAsync to R3', reference: 'Publisher.publishAsync to R1, same cluster', ...side(r.nodeAsync3, r.nodeAsync1) },
      { group: 'ha messaging', ours: 'natsbench-go pub-async to R3', reference: 'natsbench-go pub-async to R1, same cluster', ...side(r.goAsync3, r.goAsync1) },
      { group: 'ha messaging', ours: 'Publisher.publish to R3 (await each ack)', reference: 'natsbench-go pub-sync to R3', ...side(r.nodeSync3, r.goSync3), target: 0.8 },
      { group: 'ha messaging', ours: 'Publisher.publish to R3', reference: 'Publisher.publish to R1, same cluster', ...side(r.nodeSync3, r.nodeSync1) },
    ];
  } finally {
    for (const nc of conns) await nc.close();
    // Later nodes first, by the PIDs started here.
    for (const p of [...cluster.procs].reverse()) {
      if (p.pid && isAlive(p.pid)) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const OPS = 200_000;
const KEYS = 1_000_000;
const VALUE = 'x'.repeat(64);
const TTL_MS = 3_600_000;
const CALLERS = 50;
const benchKeys = defineKeyspace({ name: 'bench', description: 'benchmark values', key: { id: 'int' }, codec: string('64-byte string'), ttl: { ttl: '1h' } });

export async function benchHaCache({ rounds }: { rounds: number }): Promise<Comparison[]> {
  const stack = await startEphemeralStack({ services: ['redis'], config: { topology: 'ha', resources: { memory: '4gb' } } });
  let redis: Redis | undefined;
  let admin: Redis | undefined;
  try {
    // The library as an application uses it: through the sentinels, TLS, one shared connection.
    redis = connectRedis({ access: stack.access });
    await redis.ping();
    // redis-benchmark goes straight to the node the sentinels name.
    const primary = await primaryAddress(stack.access);
    const host = primary.slice(0, primary.lastIndexOf(':'));
    const port = Number(primary.slice(primary.lastIndexOf(':') + 1));
    progress(`ha cache: the sentinels name ${primary} as primary`);
    const caFile = stack.redis!.caFile!;
    admin = connectRedis({ access: stack.access, user: 'admin' });
    // A password-less user on this throwaway primary only: no secret on redis-benchmark's command line.
    await admin.call('ACL', 'SETUSER', 'bench', 'on', 'nopass', '~*', '&*', '+@all', '-@dangerous');
    const saved = { save: (await admin.config('GET', 'save'))[1] as string, aof: (await admin.config('GET', 'auto-aof-rewrite-percentage'))[1] as string };
    await admin.config('SET', 'save', '', 'auto-aof-rewrite-percentage', '0');
    const ks = benchKeys.bind(redis);
    const rnd = () => Math.floor(Math.random() * KEYS);
    const callers = (op: () => Promise<unknown>) =>
      Promise.all(
        Array.from({ length: CALLERS }, async () => {
          for (let i = 0; i < OPS / CALLERS; i++) await op();
        }),
      );
    const timed = (fn: () => Promise<unknown>) => async () => {
      const t0 = performance.now();
      await fn();
      return OPS / ((performance.now() - t0) / 1000);
    };
    const reference = (command: string[]) => () =>
      redisBenchmark(['-h', host, '-p', String(port), '--tls', '--cacert', caFile, '--user', 'bench', '-a', 'unused', '-c', String(CALLERS), '-r', String(KEYS), '-n', String(OPS), ...command]);
    const servers: Record<string, number> = {};
    for (const s of stack.supervisor.snapshot()) if (s.pid && s.name.startsWith('redis')) servers[s.name] = s.pid;
    const r = { refSet: series(), refGet: series(), set: series(), get: series() };
    const watch = () => watchCpu(servers, 'redis-benchmark');
    const flush = () => admin!.call('FLUSHDB', 'SYNC');
    try {
      await interleave('ha cache', rounds, [
        [
          { label: 'redis-benchmark SET, TLS', into: r.refSet, watch, before: flush, run: reference(['SET', 'app:bench:__rand_int__', VALUE, 'PX', String(TTL_MS)]) },
          { label: 'keyspace set through Sentinel', into: r.set, watch, before: flush, run: timed(() => callers(() => ks.set({ id: rnd() }, VALUE))) },
        ],
        [
          { label: 'redis-benchmark GET, TLS', into: r.refGet, watch, run: reference(['GET', 'app:bench:__rand_int__']) },
          { label: 'keyspace get through Sentinel', into: r.get, watch, run: timed(() => callers(() => ks.get({ id: rnd() }))) },
        ],
      ]);
    } finally {
      await flush();
      await admin.config('SET', 'save', saved.save, 'auto-aof-rewrite-percentage', saved.aof);
      await admin.call('ACL', 'DELUSER', 'bench');
    }
    const side = (o: Series, ref: Series) => ({ oursRates: o.rates, refRates: ref.rates, oursCpu: o.cpu, refCpu: ref.cpu, unit: 'ops/s', security: 'TLS, ACL user' });
    return [
      { group: 'ha cache', ours: 'keyspace set through Sentinel, TLS, 50 callers on 1 connection', reference: 'redis-benchmark SET PX -c 50 --tls, on the primary', ...side(r.set, r.refSet) },
      { group: 'ha cache', ours: 'keyspace get through Sentinel, TLS, 50 callers on 1 connection', reference: 'redis-benchmark GET -c 50 --tls, on the primary', ...side(r.get, r.refGet) },
    ];
  } finally {
    redis?.disconnect();
    admin?.disconnect();
    await stack.stop();
  }
}
