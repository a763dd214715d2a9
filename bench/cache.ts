/**
 * Cache: SET/GET throughput through a keyspace (ioredis) against redis-benchmark,
 * random keys on both sides, 64-byte values, over the plaintext loopback port and
 * over the TLS port `up` serves. The reference runs the same commands the keyspace
 * sends: SET with a PX TTL, GET, and -P 16 for the batched forms.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { coalesceWrites } from '../src/connect/redis-write-coalescing.js';
import { string } from '../src/redis/codecs.js';
import { defineKeyspace } from '../src/redis/keyspace.js';
import type { EphemeralStack } from '../src/testing.js';
import { interleave, redisBenchmark, series, watchCpu, type Comparison, type Series, type Side } from './harness.js';

const OPS = 200_000;
const KEYS = 1_000_000;
const VALUE = 'x'.repeat(64);
const TTL_MS = 3_600_000;
const CONNECTIONS = 50;

const benchKeys = defineKeyspace({ name: 'bench', description: 'benchmark values', key: { id: 'int' }, codec: string('64-byte string'), ttl: { ttl: '1h' } });


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

  // The options connectRedis uses (one socket write per turn), with the bench user.
  const clients = Array.from({ length: CONNECTIONS }, () => coalesceWrites(new Redis({ host: '127.0.0.1', port, username: 'bench', password: 'unused', enableReadyCheck: false })));
  const spaces = clients.map((c) => benchKeys.bind(c, { namespace: 'bench' }));
  // The secured path: TLS to the port `up` serves, verified against the stack's CA.
  const caFile = stack.credentials.find((c) => c.service === 'redis' && c.caFile)?.caFile;
  if (!caFile) throw new Error('the stack has no Redis CA file: TLS rows need one');
  const tlsPort = stack.config.redis.tlsPort;
  const tlsClient = coalesceWrites(new Redis({ host: '127.0.0.1', port: tlsPort, username: 'bench', password: 'unused', enableReadyCheck: false, tls: { ca: readFileSync(caFile), servername: 'localhost' } }));
  clients.push(tlsClient);
  const tlsShared = benchKeys.bind(tlsClient, { namespace: 'bench' });
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
    sharedMset: () => callers(CONNECTIONS, OPS / CONNECTIONS / 16, () => shared.mset(Array.from({ length: 16 }, () => [{ id: rnd() }, VALUE] as [{ id: number }, string]))),
    sharedMget: () => callers(CONNECTIONS, OPS / CONNECTIONS / 16, () => shared.mget(Array.from({ length: 16 }, () => ({ id: rnd() })))),
    tlsSet: () => callers(CONNECTIONS, OPS / CONNECTIONS, () => tlsShared.set({ id: rnd() }, VALUE)),
    tlsGet: () => callers(CONNECTIONS, OPS / CONNECTIONS, () => tlsShared.get({ id: rnd() })),
  };
  const reference = (pipeline: number, command: string[], tls = false) =>
    redisBenchmark([
      '-h', '127.0.0.1', '--user', 'bench', '-a', 'unused', '-c', String(CONNECTIONS), '-P', String(pipeline), '-r', String(KEYS), '-n', String(OPS),
      ...(tls ? ['-p', String(tlsPort), '--tls', '--cacert', caFile, '--sni', 'localhost'] : ['-p', String(port)]),
      ...command,
    ]);
  const refSet = (p: number, tls = false) => reference(p, ['SET', 'key:__rand_int__', VALUE, 'PX', String(TTL_MS)], tls);
  const refGet = (p: number, tls = false) => reference(p, ['GET', 'key:__rand_int__'], tls);

  const r = { refSet: series(), refGet: series(), sharedSet: series(), sharedGet: series(), connSet: series(), connGet: series(), refPSet: series(), refPGet: series(), mset: series(), mget: series(), refTlsSet: series(), refTlsGet: series(), tlsSet: series(), tlsGet: series(), sharedMset: series(), sharedMget: series() };
  const watch = () => watchCpu({ redis: redisPid }, 'redis-benchmark');
  const timedOps = (fn: () => Promise<unknown>, ops = OPS) => async () => {
    const t0 = performance.now();
    await fn();
    return ops / ((performance.now() - t0) / 1000);
  };
  // Every write starts from an empty database: both sides insert, neither overwrites.
  // The reads of a stage then find what the stage's last write left.
  const flush = () => admin.call('FLUSHDB', 'SYNC');
  const write = (label: string, into: Series, run: () => Promise<number> | number): Side => ({ label, into, run, watch, before: flush });
  const read = (label: string, into: Series, run: () => Promise<number> | number): Side => ({ label, into, run, watch });

  try {
    await interleave('cache', rounds, [
      [write('redis-benchmark SET', r.refSet, () => refSet(1)), write('keyspace set, shared connection', r.sharedSet, timedOps(ours.sharedSet!)), write('keyspace set, 50 connections', r.connSet, timedOps(ours.connSet!))],
      [read('redis-benchmark GET', r.refGet, () => refGet(1)), read('keyspace get, shared connection', r.sharedGet, timedOps(ours.sharedGet!)), read('keyspace get, 50 connections', r.connGet, timedOps(ours.connGet!))],
      [write('redis-benchmark SET -P 16', r.refPSet, () => refSet(16)), write('keyspace mset of 16, shared connection', r.sharedMset, timedOps(ours.sharedMset!)), write('keyspace mset of 16, 50 connections', r.mset, timedOps(ours.mset!))],
      [read('redis-benchmark GET -P 16', r.refPGet, () => refGet(16)), read('keyspace mget of 16, shared connection', r.sharedMget, timedOps(ours.sharedMget!)), read('keyspace mget of 16, 50 connections', r.mget, timedOps(ours.mget!))],
      [write('redis-benchmark SET, TLS', r.refTlsSet, () => refSet(1, true)), write('keyspace set, shared TLS connection', r.tlsSet, timedOps(ours.tlsSet!))],
      [read('redis-benchmark GET, TLS', r.refTlsGet, () => refGet(1, true)), read('keyspace get, shared TLS connection', r.tlsGet, timedOps(ours.tlsGet!))],
    ]);
  } finally {
    for (const c of clients) c.disconnect();
    await flush();
    await admin.config('SET', 'save', saved.save, 'auto-aof-rewrite-percentage', saved.aof);
    await admin.call('ACL', 'DELUSER', 'bench');
    admin.disconnect();
  }
  const side = (o: Series, ref: Series, security = 'plaintext, ACL user') => ({ oursRates: o.rates, refRates: ref.rates, oursCpu: o.cpu, refCpu: ref.cpu, unit: 'ops/s', security });
  return [
    { group: 'cache', ours: 'keyspace set, 50 callers on 1 connection', reference: 'redis-benchmark SET PX -c 50', ...side(r.sharedSet, r.refSet), target: 1.2 },
    { group: 'cache', ours: 'keyspace get, 50 callers on 1 connection', reference: 'redis-benchmark GET -c 50', ...side(r.sharedGet, r.refGet), target: 1.2 },
    { group: 'cache', ours: 'keyspace set, 50 connections', reference: 'redis-benchmark SET PX -c 50', ...side(r.connSet, r.refSet) },
    { group: 'cache', ours: 'keyspace get, 50 connections', reference: 'redis-benchmark GET -c 50', ...side(r.connGet, r.refGet) },
    { group: 'cache', ours: 'keyspace mset of 16, 50 callers on 1 connection', reference: 'redis-benchmark SET PX -c 50 -P 16', ...side(r.sharedMset, r.refPSet), target: 0.5 },
    { group: 'cache', ours: 'keyspace mget of 16, 50 callers on 1 connection', reference: 'redis-benchmark GET -c 50 -P 16', ...side(r.sharedMget, r.refPGet), target: 0.5 },
    { group: 'cache', ours: 'keyspace mset of 16, 50 connections', reference: 'redis-benchmark SET PX -c 50 -P 16', ...side(r.mset, r.refPSet) },
    { group: 'cache', ours: 'keyspace mget of 16, 50 connections', reference: 'redis-benchmark GET -c 50 -P 16', ...side(r.mget, r.refPGet) },
    { group: 'cache', ours: 'keyspace set, 50 callers on 1 connection', reference: 'redis-benchmark SET PX -c 50 --tls', ...side(r.tlsSet, r.refTlsSet, 'TLS, ACL user'), target: 1.2 },
    { group: 'cache', ours: 'keyspace get, 50 callers on 1 connection', reference: 'redis-benchmark GET -c 50 --tls', ...side(r.tlsGet, r.refTlsGet, 'TLS, ACL user'), target: 1.2 },
  ];
}
