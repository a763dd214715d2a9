/**
 * Redis keyspaces against a real server: naming, a TTL on every write, schema
 * checks on read, single-flight loads, stale-while-revalidate, and Sentinel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import declarations from '../../src/domain/index.js';
import { apiKeyByPrefix, orgSettings, requestsPerMinute, sourceByName } from '../../src/domain/keyspaces.js';
import { DecodeError, json, string } from '../../src/redis/codecs.js';
import { coalesceWrites, WRITES_PER_FLUSH } from '../../src/connect/redis-write-coalescing.js';
import { connectRedis } from '../../src/redis/connection.js';
import { cacheMarkdown } from '../../src/redis/docs.js';
import { defineKeyspace } from '../../src/redis/keyspace.js';
import { freePorts } from '../../src/lib/ports.js';
import { tlsFiles } from '../../src/tls/certificates.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { credential, redisClient } from '../helpers/connect.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let redis: Redis;
let admin: Redis;

beforeAll(async () => {
  // A small memory limit: the eviction test fills it.
  stack = await startEphemeralStack({ services: ['redis'], config: { redis: { maxmemory: '16mb' } } });
  redis = connectRedis({ access: stack.access });
  admin = await redisClient(credential(stack.credentials, 'redis', 'admin'));
});

/** Keys without a TTL outside persistent keyspaces. */
async function keysWithoutTtl(): Promise<string[]> {
  const without: string[] = [];
  for (const k of await admin.keys('app:*')) if (!k.startsWith('app:org-settings:') && (await pttl(k)) === -1) without.push(k); // -2: gone meanwhile
  return without;
}

afterAll(async () => {
  try {
    // Whatever this file's tests wrote (all of them, or the one run with -t): every key
    // has a TTL unless its keyspace is persistent.
    if (admin) expect(await keysWithoutTtl(), 'keys without a TTL').toEqual([]);
  } finally {
    redis?.disconnect();
    await admin?.quit();
    await stack.stop();
  }
});

const pttl = (key: string) => admin.pttl(key);

describe('naming and TTLs', () => {
  it('builds keys as <namespace>:<keyspace>:<parts>, encoding separators inside parts', () => {
    const ks = sourceByName.bind(redis);
    expect(ks.key({ orgId: 42, name: 'edge-1' })).toBe('app:source:42:edge-1');
    expect(ks.key({ orgId: 42, name: 'a:b c' })).toBe('app:source:42:a%3Ab%20c');
    expect(() => ks.key({ orgId: 1.5, name: 'x' })).toThrow(/integer/);
    expect(() => ks.key({ orgId: 1, name: '' })).toThrow(/non-empty/);
  });

  it('refuses a keyspace without a TTL policy or a reason to persist', () => {
    expect(() => defineKeyspace({ name: 'bad-ttl', description: '', key: {}, codec: string(), ttl: { ttl: 0 } })).toThrow(/positive/);
    expect(() => defineKeyspace({ name: 'bad-persist', description: '', key: {}, codec: string(), ttl: { persistent: ' ' } })).toThrow(/reason/);
  });

  it('every write path sets the TTL (with jitter); persistent keyspaces set none', async () => {
    const sources = sourceByName.bind(redis);
    await sources.set({ orgId: 1, name: 'a' }, { id: 1, kind: 'device', retired: false });
    await sources.mset([
      [{ orgId: 1, name: 'b' }, { id: 2, kind: 'device', retired: false }],
      [{ orgId: 1, name: 'c' }, { id: 3, kind: 'service', retired: true }],
    ]);
    await sources.getOrLoad({ orgId: 1, name: 'd' }, async () => ({ id: 4, kind: 'gateway', retired: false }));
    for (const n of ['a', 'b', 'c', 'd']) {
      const ttl = await pttl(`app:source:1:${n}`);
      expect(ttl, n).toBeGreaterThan(590_000);
      expect(ttl, n).toBeLessThanOrEqual(660_000); // 10m + 10% jitter
    }
    const rate = requestsPerMinute.bind(redis);
    expect(await rate.incr({ keyId: 7, minute: 100 })).toBe(1);
    expect(await rate.incr({ keyId: 7, minute: 100 }, 4)).toBe(5);
    expect(await pttl('app:rate:7:100')).toBeGreaterThan(100_000);
    const settings = orgSettings.bind(redis);
    await settings.set({ orgId: 1 }, { maxSources: 10, ingestEnabled: 'true' });
    expect(await pttl('app:org-settings:1')).toBe(-1);
    expect(await settings.get({ orgId: 1 })).toEqual({ maxSources: 10, ingestEnabled: 'true' });
  });

  it('a sweep of the keyspace finds no key without a TTL outside persistent keyspaces', async () => {
    await sourceByName.bind(redis).set({ orgId: 2, name: 'sweep' }, { id: 5, kind: 'device', retired: false });
    await requestsPerMinute.bind(redis).incr({ keyId: 8, minute: 1 });
    await orgSettings.bind(redis).set({ orgId: 2 }, { maxSources: 1, ingestEnabled: 'false' });
    // A key written around the keyspaces, as a bug would: the sweep must see it.
    await admin.set('app:stray', 'x');
    expect(await keysWithoutTtl()).toEqual(['app:stray']);
    await admin.del('app:stray');
  });
});

/** Socket writes (calls into the socket's _write/_writev) that `burst` causes on `client`. */
async function socketWrites(client: Redis, burst: () => Promise<unknown>): Promise<number> {
  const stream = (client as unknown as { stream: { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void } }).stream;
  const { _write, _writev } = stream;
  let writes = 0;
  stream._write = (...a) => (writes++, _write.apply(stream, a));
  if (_writev) stream._writev = (...a) => (writes++, _writev.apply(stream, a));
  try {
    await burst();
  } finally {
    stream._write = _write;
    if (_writev) stream._writev = _writev;
  }
  return writes;
}

describe('few socket writes per turn', () => {
  const groups = Math.ceil(50 / WRITES_PER_FLUSH);
  const burst = (client: Redis, tag: string) => {
    const ks = sourceByName.bind(client);
    // 50 callers issue their commands in the same turn, as concurrent requests do.
    return Promise.all(Array.from({ length: 50 }, (_, i) => ks.set({ orgId: 9, name: `${tag}-${i}` }, { id: i, kind: 'device', retired: false })));
  };

  it('the shared connection sends the commands of one turn in groups of WRITES_PER_FLUSH, on every socket it connects with', async () => {
    // A TLS socket holds the later groups while the first is written, so it may make fewer writes.
    expect(await socketWrites(redis, () => burst(redis, 'a'))).toBeLessThanOrEqual(groups);
    const back = await sourceByName.bind(redis).mget(Array.from({ length: 50 }, (_, i) => ({ orgId: 9, name: `a-${i}` })));
    expect(back.map((v) => v?.id)).toEqual(Array.from({ length: 50 }, (_, i) => i));

    // A new socket after a reconnect is corked as well.
    const before = (redis as unknown as { stream: object }).stream;
    redis.disconnect(true);
    await waitFor('the shared connection to reconnect', () => (redis.status === 'ready' && (redis as unknown as { stream: object }).stream !== before) || undefined, 10_000, 50);
    expect(await socketWrites(redis, () => burst(redis, 'b'))).toBeLessThanOrEqual(groups);
    expect((await sourceByName.bind(redis).get({ orgId: 9, name: 'b-49' }))?.id).toBe(49);
  });

  it('on a plain TCP socket, where ioredis alone writes command by command', async () => {
    // TLS sockets already buffer writes made while one is under way; plain TCP sends each at once.
    const c = credential(stack.credentials, 'redis', 'app');
    const plainTcp = () => new Redis({ host: '127.0.0.1', port: stack.config.redis.port, username: c.user, password: c.password, enableReadyCheck: false, lazyConnect: true });
    const plain = plainTcp();
    const corked = coalesceWrites(plainTcp());
    try {
      await Promise.all([plain.connect(), corked.connect()]);
      expect(await socketWrites(plain, () => burst(plain, 'c'))).toBeGreaterThan(10);
      expect(await socketWrites(corked, () => burst(corked, 'd'))).toBe(groups);
      expect((await sourceByName.bind(plain).get({ orgId: 9, name: 'd-49' }))?.id).toBe(49);
    } finally {
      plain.disconnect();
      corked.disconnect();
    }
  });
});

describe('eviction', () => {
  it('filling memory evicts cache keys (they have a TTL), never a persistent keyspace\'s', async () => {
    const settings = orgSettings.bind(redis);
    for (let org = 1000; org < 1100; org++) await settings.set({ orgId: org }, { maxSources: org, ingestEnabled: 'true' });
    const filler = defineKeyspace({ name: 'filler', description: 'test', key: { id: 'int' }, codec: string(), ttl: { ttl: '1h' } }).bind(redis);
    const big = 'x'.repeat(16 * 1024);
    const evicted = async () => Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))![1]);
    const before = await evicted();
    // About twice the memory limit in cache values: Redis must evict to take them.
    for (let i = 0; i < 2048 && (await evicted()) === before; i += 64) {
      await filler.mset(Array.from({ length: 64 }, (_, j) => [{ id: i + j }, big] as [{ id: number }, string]));
    }
    expect(await evicted()).toBeGreaterThan(before);
    const kept = await Promise.all(Array.from({ length: 100 }, (_, k) => settings.get({ orgId: 1000 + k })));
    expect(kept.filter((v) => v === undefined)).toHaveLength(0);
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'volatile-lfu']);
    // Room again for the other tests of this file.
    const fillerKeys = await admin.keys('app:filler:*');
    for (let i = 0; i < fillerKeys.length; i += 500) await admin.del(...fillerKeys.slice(i, i + 500));
  });
});

describe('values', () => {
  it('refuses to write a value that fails the schema', async () => {
    const keys = apiKeyByPrefix.bind(redis);
    await expect(keys.set({ prefix: 'dpk_1' }, { orgId: 1, keyId: 2, keyHash: 'not-hex' })).rejects.toThrow(/keyHash/);
  });

  it('treats a cached value that fails its schema as a miss, reports it, and reloads it', async () => {
    const reported: DecodeError[] = [];
    const keys = apiKeyByPrefix.bind(redis, { onInvalid: (e) => reported.push(e) });
    await admin.set('app:api-key:dpk_bad', JSON.stringify({ orgId: 'one', keyId: 2 }), 'PX', 60_000);
    await admin.set('app:api-key:dpk_notjson', '{oops', 'PX', 60_000);
    expect(await keys.get({ prefix: 'dpk_bad' })).toBeUndefined();
    expect(await keys.mget([{ prefix: 'dpk_bad' }, { prefix: 'dpk_notjson' }, { prefix: 'dpk_none' }])).toEqual([undefined, undefined, undefined]);
    expect(reported.map((e) => e.key)).toEqual(['app:api-key:dpk_bad', 'app:api-key:dpk_bad', 'app:api-key:dpk_notjson']);
    const good = { orgId: 1, keyId: 2, keyHash: 'a'.repeat(64) };
    expect(await keys.getOrLoad({ prefix: 'dpk_bad' }, async () => good)).toEqual(good);
    expect(await keys.get({ prefix: 'dpk_bad' })).toEqual(good);
  });
});

describe('getOrLoad', () => {
  it('loads once for 100 concurrent callers', async () => {
    const ks = defineKeyspace({ name: 'single-flight', description: 'test', key: { id: 'int' }, codec: json(z.object({ n: z.number() })), ttl: { ttl: '1m' } }).bind(redis);
    let loads = 0;
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        ks.getOrLoad({ id: 1 }, async () => {
          loads++;
          await new Promise((r) => setTimeout(r, 50));
          return { n: 42 };
        }),
      ),
    );
    expect(loads).toBe(1);
    expect(results.every((r) => r.n === 42)).toBe(true);
    // Cached now: no more loads.
    await ks.getOrLoad({ id: 1 }, async () => ({ n: loads++ }));
    expect(loads).toBe(1);
  });

  it('serves a stale value while one background load refreshes it', async () => {
    const ks = defineKeyspace({ name: 'swr', description: 'test', key: { id: 'int' }, codec: json(z.object({ v: z.number() })), ttl: { ttl: 200 }, staleWhileRevalidate: '5s' }).bind(redis);
    let version = 1;
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 100));
      return { v: version };
    };
    expect(await ks.getOrLoad({ id: 1 }, load)).toEqual({ v: 1 });
    version = 2;
    await new Promise((r) => setTimeout(r, 300)); // past the TTL, inside the stale window
    const served = await Promise.all(Array.from({ length: 10 }, () => ks.getOrLoad({ id: 1 }, load)));
    expect(served.every((s) => s.v === 1)).toBe(true); // nobody waited for the reload
    await waitFor('the background refresh', async () => ((await ks.get({ id: 1 }))?.v === 2 ? true : undefined), 3000);
    expect(loads).toBe(2);
  });
});

describe('Sentinel', () => {
  let sentinel: ChildProcess;
  let dir: string;

  afterAll(async () => {
    if (sentinel?.pid) {
      sentinel.kill('SIGTERM');
      await expectAllGone([sentinel.pid]);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the library finds the master through Sentinel and works there, over TLS to both', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-sentinel-'));
    const [port] = (await freePorts(1)) as [number];
    const adminCred = credential(stack.credentials, 'redis', 'admin');
    const tls = tlsFiles(stack.config);
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        // TLS only: the library must speak it to the sentinel and to the master it names.
        'port 0',
        `tls-port ${port}`,
        `tls-cert-file ${tls.servers.redis.certFile}`,
        `tls-key-file ${tls.servers.redis.keyFile}`,
        `tls-ca-cert-file ${tls.caFile}`,
        'tls-auth-clients no',
        'tls-replication yes',
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor primary 127.0.0.1 ${stack.config.redis.tlsPort} 1`,
        'sentinel auth-user primary admin',
        `sentinel auth-pass primary ${adminCred.password}`,
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    sentinel = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
    const viaSentinel = connectRedis({ access: stack.access, sentinel: { masterName: 'primary', hosts: [`127.0.0.1:${port}`] } });
    try {
      const ks = sourceByName.bind(viaSentinel);
      await waitFor('sentinel to answer', async () => (await viaSentinel.ping()) === 'PONG' || undefined, 10_000);
      await ks.set({ orgId: 9, name: 'via-sentinel' }, { id: 9, kind: 'device', retired: false });
      expect(await sourceByName.bind(redis).get({ orgId: 9, name: 'via-sentinel' })).toEqual({ id: 9, kind: 'device', retired: false });
      expect(readFileSync(conf, 'utf8')).toMatch(/sentinel monitor primary 127\.0\.0\.1/);
    } finally {
      viaSentinel.disconnect();
    }
  });
});

it('docs/cache.md lists every keyspace of the reference declarations and is up to date', () => {
  const committed = readFileSync(new URL('../../docs/cache.md', import.meta.url), 'utf8');
  expect(committed, 'run: dataplane cache keyspaces --markdown > docs/cache.md').toBe(cacheMarkdown(declarations.keyspaces));
});
