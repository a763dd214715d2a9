/**
 * Cache: SET/GET throughput through a keyspace (ioredis) against redis-benchmark,
 * random keys on both sides, 64-byte values, over the plaintext loopback port (no
 * TLS on either side). The reference runs the same commands the keyspace sends:
 * SET with a PX TTL, GET, and -P 16 for the batched forms.
 */
import { Redis } from 'ioredis';
import { string } from '../src/redis/codecs.js';
import { defineKeyspace } from '../src/redis/keyspace.js';
import type { EphemeralStack } from '../src/testing.js';
import { describeCpu, progress, redisBenchmark, watchCpu, type Comparison, type Cpu } from './harness.js';

const OPS = 200_000;
const KEYS = 1_000_000;
const VALUE = 'x'.repeat(64);
const TTL_MS = 3_600_000;
const CONNECTIONS = 50;

const benchKeys = defineKeyspace({ name: 'bench', description: 'benchmark values', key: { id: 'int' }, codec: string('64-byte string'), ttl: { ttl: '1h' } });

interface Series {
  rates: number[];
  cpu: Cpu[];
}
const series = (): Series => ({ rates: [], cpu: [] });

export async function benchCache({ stack, rounds }: { stack: EphemeralStack; rounds: number }): Promise<Comparison[]> {
  const port = stack.config.redis.port;
  const redisPid = stack.supervisor.snapshot().find((s) => s.name === 'redis')!.pid!;
  const admin = new Redis({ host: stack.redis!.admin.host, port, username: 'admin', password: stack.redis!.admin.password });
  // A password-less benchmark user exists only on this throwaway stack: no secret on a command line.
  await admin.call('ACL', 'SETUSER', 'bench', 'on', 'nopass', '~*', '&*', '+@all', '-@dangerous');
  // AOF (everysec) stays as configured; RDB snapshots and AOF rewrites fork a second busy
  // process at arbitrary moments, so they are held off during the runs and restored after.
  const saved = { save: (await admin.config('GET', 'save'))[1] as string, aof: (await admin.config('GET', 'auto-aof-rewrite-percentage'))[1] as string };
  await admin.config('SET', 'save', '', 'auto-aof-rewrite-percentage', '0');

  // The options connectRedis uses (auto-pipelining on), with the bench user.
  const clients = Array.from({ length: CONNECTIONS }, () => new Redis({ host: '127.0.0.1', port, username: 'bench', password: 'unused', enableReadyCheck: false, enableAutoPipelining: true }));
  const spaces = clients.map((c) => benchKeys.bind(c, { namespace: 'bench' }));
  // How an application process uses the library: one connection shared by concurrent callers.
  const shared = spaces[0]!;
  const rnd = () => Math.floor(Math.random() * KEYS);

  /** Each caller issues `per` operations one after another; callers run concurrently. */
  const callers = (n: number, per: number, op: (i: number) => Promise<unknown>) => Promise.all(Array.from({ length: n }, async (_, c) => {
    for (let i = 0; i < per; i++) await op(c);
  }));
  const ours: Record<string, () => Promise<unknown>> = {
    sharedSet: () => callers(CONNECTIONS, OPS / CONNECTIONS, () => shared.set({ id: rnd() }, VALUE)),
    sharedGet: () => callers(CONNECTIONS, OPS / CONNECTIONS, () => shared.get({ id: rnd() })),
    connSet: () => callers(CONNECTIONS, OPS / CONNECTIONS, (c) => spaces[c]!.set({ id: rnd() }, VALUE)),
    connGet: () => callers(CONNECTIONS, OPS / CONNECTIONS, (c) => spaces[c]!.get({ id: rnd() })),
    mset: () => callers(CONNECTIONS, OPS / CONNECTIONS / 16, (c) => spaces[c]!.mset(Array.from({ length: 16 }, () => [{ id: rnd() }, VALUE] as [{ id: number }, string]))),
    mget: () => callers(CONNECTIONS, OPS / CONNECTIONS / 16, (c) => spaces[c]!.mget(Array.from({ length: 16 }, () => ({ id: rnd() })))),
  };
  const reference = (pipeline: number, command: string[]) =>
    redisBenchmark(['-h', '127.0.0.1', '-p', String(port), '--user', 'bench', '-a', 'unused', '-c', String(CONNECTIONS), '-P', String(pipeline), '-r', String(KEYS), '-n', String(OPS), ...command]);
  const refSet = (p: number) => reference(p, ['SET', 'key:__rand_int__', VALUE, 'PX', String(TTL_MS)]);
  const refGet = (p: number) => reference(p, ['GET', 'key:__rand_int__']);

  const r = { refSet: series(), refGet: series(), sharedSet: series(), sharedGet: series(), connSet: series(), connGet: series(), refPSet: series(), refPGet: series(), mset: series(), mget: series() };
  const run = async (into: Series, fn: () => Promise<number> | number) => {
    const stop = watchCpu({ redis: redisPid }, 'redis-benchmark');
    into.rates.push(await fn());
    into.cpu.push(stop());
  };
  const timedOps = (fn: () => Promise<unknown>, ops = OPS) => async () => {
    const t0 = performance.now();
    await fn();
    return ops / ((performance.now() - t0) / 1000);
  };
  // Every write phase starts from an empty database: both sides insert, neither overwrites.
  const flush = () => admin.call('FLUSHDB', 'SYNC');

  try {
    for (let round = 1; round <= rounds; round++) {
      progress(`cache round ${round}/${rounds}`);
      await flush();
      await run(r.refSet, () => refSet(1));
      await run(r.refGet, () => refGet(1));
      await flush();
      await run(r.sharedSet, timedOps(ours.sharedSet!));
      await run(r.sharedGet, timedOps(ours.sharedGet!));
      await flush();
      await run(r.connSet, timedOps(ours.connSet!));
      await run(r.connGet, timedOps(ours.connGet!));
      await flush();
      await run(r.refPSet, () => refSet(16));
      await run(r.refPGet, () => refGet(16));
      await flush();
      await run(r.mset, timedOps(ours.mset!));
      await run(r.mget, timedOps(ours.mget!));
      const last = (s: Series) => Math.round(s.rates.at(-1)!).toLocaleString('en-US');
      progress(`  set/get: redis-benchmark ${last(r.refSet)}/${last(r.refGet)}, shared connection ${last(r.sharedSet)}/${last(r.sharedGet)}, 50 connections ${last(r.connSet)}/${last(r.connGet)}`);
      progress(`  -P 16: redis-benchmark ${last(r.refPSet)}/${last(r.refPGet)}, mset/mget of 16 ${last(r.mset)}/${last(r.mget)} (${describeCpu(r.mset.cpu.slice(-1))})`);
    }
  } finally {
    for (const c of clients) c.disconnect();
    await flush();
    await admin.config('SET', 'save', saved.save, 'auto-aof-rewrite-percentage', saved.aof);
    await admin.call('ACL', 'DELUSER', 'bench');
    admin.disconnect();
  }
  const side = (o: Series, ref: Series) => ({ oursRates: o.rates, refRates: ref.rates, oursCpu: o.cpu, refCpu: ref.cpu, unit: 'ops/s' });
  return [
    { group: 'cache', ours: 'keyspace set, 50 callers on 1 connection', reference: 'redis-benchmark SET PX -c 50', ...side(r.sharedSet, r.refSet), target: 1.2 },
    { group: 'cache', ours: 'keyspace get, 50 callers on 1 connection', reference: 'redis-benchmark GET -c 50', ...side(r.sharedGet, r.refGet), target: 1.2 },
    { group: 'cache', ours: 'keyspace set, 50 connections', reference: 'redis-benchmark SET PX -c 50', ...side(r.connSet, r.refSet) },
    { group: 'cache', ours: 'keyspace get, 50 connections', reference: 'redis-benchmark GET -c 50', ...side(r.connGet, r.refGet) },
    { group: 'cache', ours: 'keyspace mset of 16, 50 connections', reference: 'redis-benchmark SET PX -c 50 -P 16', ...side(r.mset, r.refPSet), target: 0.5 },
    { group: 'cache', ours: 'keyspace mget of 16, 50 connections', reference: 'redis-benchmark GET -c 50 -P 16', ...side(r.mget, r.refPGet), target: 0.5 },
  ];
}
