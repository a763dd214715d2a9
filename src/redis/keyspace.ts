/**
 * Keyspaces: every kind of key is declared once, with its naming, value codec and
 * a mandatory TTL policy, and every write goes through the declaration.
 *
 * Naming convention: `<namespace>:<keyspace>:<part>:<part>...`, e.g.
 * `app:source:42:edge-1`. String parts are percent-encoded so a part can never
 * contain the separator.
 *
 *   export const sources = defineKeyspace({
 *     name: 'source', description: 'registry.sources by tenant and name',
 *     key: { orgId: 'int', name: 'string' },
 *     codec: json(z.object({ id: z.number(), kind: z.string() })),
 *     ttl: { ttl: '10m', jitter: 0.1 },
 *   });
 *   const cache = sources.bind(redis);               // namespace from redis.namespace ("app")
 *   const s = await cache.getOrLoad({ orgId: 42, name: 'edge-1' }, () => loadFromDb());
 */
import type { Redis } from 'ioredis';
import { InvalidArgumentError } from '../errors/index.js';
import { durationMs, type Duration } from '../lib/durations.js';
import { counter as metricCounter, histogram, hotCounter, hotObserver } from '../lib/metrics.js';
import { DecodeError, type Codec, type CounterStored, type HashStored, type StringStored } from './codecs.js';
import { waitForReplicas, type WaitOptions } from './replication.js';
import { msetPx } from './scripts.js';

const requests = metricCounter('dataplane_cache_requests_total', 'Keyspace operations by outcome', ['keyspace', 'op', 'result']);
const opDuration = histogram('dataplane_cache_op_duration_seconds', 'Round trip of keyspace reads and writes, as the caller waits for them', ['keyspace', 'op']);
const loadDuration = histogram('dataplane_cache_load_duration_seconds', 'Time of getOrLoad loaders (cache misses)', ['keyspace']);

export type PartType = 'string' | 'int';
export type Parts<K extends Record<string, PartType>> = { [P in keyof K]: K[P] extends 'int' ? number | bigint : string };

/** Every keyspace says how long its keys live, or why they live forever. */
export type TtlPolicy = { ttl: Duration; jitter?: number } | { persistent: string };

export interface KeyspaceSpec<K extends Record<string, PartType>, V> {
  /** Lower-case, digits and dashes; the second segment of every key. */
  name: string;
  description: string;
  key: K;
  codec: Codec<V>;
  ttl: TtlPolicy;
  /** After the TTL, serve the old value for this long while one caller reloads it. */
  staleWhileRevalidate?: Duration;
}

/** A keyspace of any key and value type, as lists of declarations hold them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKeyspace = Keyspace<any, any>;

export class Keyspace<K extends Record<string, PartType>, V> {
  constructor(readonly spec: KeyspaceSpec<K, V>) {
    if (!/^[a-z][a-z0-9-]{0,47}$/.test(spec.name)) throw new InvalidArgumentError(`keyspace name ${spec.name}: lower-case letters, digits and -`);
    if ('ttl' in spec.ttl) {
      const ms = durationMs(spec.ttl.ttl);
      if (ms < 1) throw new InvalidArgumentError(`keyspace ${spec.name}: ttl must be positive`);
      const j = spec.ttl.jitter ?? 0;
      if (j < 0 || j > 1) throw new InvalidArgumentError(`keyspace ${spec.name}: jitter is a fraction between 0 and 1`);
    } else if (!spec.ttl.persistent.trim()) {
      throw new InvalidArgumentError(`keyspace ${spec.name}: a persistent keyspace needs a reason`);
    }
    if (spec.staleWhileRevalidate !== undefined && !('ttl' in spec.ttl)) throw new InvalidArgumentError(`keyspace ${spec.name}: stale-while-revalidate needs a TTL`);
  }

  /** The documented key pattern, e.g. app:source:{orgId}:{name} */
  pattern(namespace = 'app'): string {
    return [namespace, this.spec.name, ...Object.keys(this.spec.key).map((p) => `{${p}}`)].join(':');
  }

  bind(redis: Redis, opts: BindOptions = {}): BoundKeyspace<K, V> {
    return new BoundKeyspace(this, redis, opts.namespace ?? 'app', opts);
  }
}

/** A keyspace, checked; an application lists its keyspaces in its declarations (defineDeclarations). */
export function defineKeyspace<K extends Record<string, PartType>, V>(spec: KeyspaceSpec<K, V>): Keyspace<K, V> {
  return new Keyspace(spec);
}

export interface BindOptions {
  /** First segment of every key (default "app"; the stack's is redis.namespace). */
  namespace?: string;
  /** A cached value failed its schema: it was treated as a miss. */
  onInvalid?: (e: DecodeError) => void;
  /**
   * A background reload (stale-while-revalidate) failed: the stale value keeps being
   * served until its window ends. Counted as getOrLoad/reload_failed either way.
   */
  onError?: (e: Error) => void;
}

export class BoundKeyspace<K extends Record<string, PartType>, V> {
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly parts: [string, PartType][];
  private readonly prefix: string;
  private readonly counters = new Map<string, (n?: number) => void>();
  private readonly timers = new Map<string, (seconds: number) => void>();
  private readonly ttlMs: number | undefined;
  private readonly jitter: number;
  private readonly swrMs: number;
  private readonly name: string;

  constructor(
    readonly keyspace: Keyspace<K, V>,
    readonly redis: Redis,
    readonly namespace: string,
    private readonly hooks: Pick<BindOptions, 'onInvalid' | 'onError'> = {},
  ) {
    const ttl = keyspace.spec.ttl;
    this.ttlMs = 'ttl' in ttl ? durationMs(ttl.ttl) : undefined;
    this.jitter = 'ttl' in ttl ? (ttl.jitter ?? 0) : 0;
    this.swrMs = keyspace.spec.staleWhileRevalidate === undefined ? 0 : durationMs(keyspace.spec.staleWhileRevalidate);
    this.name = keyspace.spec.name;
    this.parts = Object.entries(keyspace.spec.key);
    this.prefix = `${namespace}:${this.name}`;
  }

  key(parts: Parts<K>): string {
    let k = this.prefix;
    for (const [p, type] of this.parts) {
      const v = (parts as Record<string, unknown>)[p];
      if (type === 'int') {
        if (!(typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v)))) throw new InvalidArgumentError(`${this.name}.${p} must be an integer, got ${String(v)}`);
        k += `:${v}`;
      } else {
        if (typeof v !== 'string' || !v) throw new InvalidArgumentError(`${this.name}.${p} must be a non-empty string`);
        k += `:${encodeURIComponent(v)}`;
      }
    }
    return k;
  }

  /** Milliseconds a write lives: TTL plus jitter, plus the stale window. Undefined: persistent. */
  private writeTtl(): number | undefined {
    if (this.ttlMs === undefined) return undefined;
    return Math.round(this.ttlMs * (1 + Math.random() * this.jitter)) + this.swrMs;
  }

  /** Label children bound once: hashing labels on every call costs more than the command. */
  private count(op: string, result: string, n = 1): void {
    const id = `${op}|${result}`;
    let c = this.counters.get(id);
    if (!c) this.counters.set(id, (c = hotCounter(requests, { keyspace: this.name, op, result })));
    c(n);
  }

  private observe(op: string, startedAt: number): void {
    let h = this.timers.get(op);
    if (!h) this.timers.set(op, (h = hotObserver(opDuration, { keyspace: this.name, op })));
    h((performance.now() - startedAt) / 1000);
  }

  private decode(key: string, raw: string | Record<string, string> | null): V | undefined {
    const codec = this.keyspace.spec.codec;
    if (raw === null || (typeof raw === 'object' && !Object.keys(raw).length)) return undefined;
    try {
      if (codec.kind === 'counter') {
        const n = Number(raw);
        if (!Number.isSafeInteger(n)) throw new DecodeError(key, 'not an integer');
        return n as V;
      }
      return codec.kind === 'hash'
        ? (codec as HashStored<V>).decode(raw as Record<string, string>, key)
        : (codec as StringStored<V>).decode(raw as string, key);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      // Never returned, always reported; the caller sees a miss and may reload.
      this.count('get', 'invalid');
      this.hooks.onInvalid?.(e);
      return undefined;
    }
  }

  async get(parts: Parts<K>): Promise<V | undefined> {
    const t0 = performance.now();
    const key = this.key(parts);
    const raw = this.keyspace.spec.codec.kind === 'hash' ? await this.redis.hgetall(key) : await this.redis.get(key);
    const v = this.decode(key, raw);
    if (v !== undefined) this.count('get', 'hit');
    else if (raw === null || (typeof raw === 'object' && !Object.keys(raw).length)) this.count('get', 'miss');
    this.observe('get', t0);
    return v;
  }

  async mget(list: Parts<K>[]): Promise<(V | undefined)[]> {
    if (!list.length) return [];
    const t0 = performance.now();
    const keys = list.map((p) => this.key(p));
    let raws: (string | Record<string, string> | null)[];
    if (this.keyspace.spec.codec.kind === 'hash') {
      const p = this.redis.pipeline();
      for (const k of keys) p.hgetall(k);
      raws = ((await p.exec()) ?? []).map(([err, v]) => {
        if (err) throw err;
        return v as Record<string, string>;
      });
    } else raws = await this.redis.mget(keys);
    let hits = 0;
    const values = raws.map((raw, i) => {
      const v = this.decode(keys[i]!, raw);
      if (v !== undefined) hits++;
      return v;
    });
    // One increment per outcome, not per key: batched reads are where this cost shows.
    if (hits) this.count('mget', 'hit', hits);
    if (values.length - hits) this.count('mget', 'miss', values.length - hits);
    this.observe('mget', t0);
    return values;
  }

  /** `wait`: return only once that many replicas have the write (WAIT); NotReplicatedError otherwise. */
  async set(parts: Parts<K>, value: V, opts: { wait?: WaitOptions } = {}): Promise<void> {
    const t0 = performance.now();
    const key = this.key(parts);
    const codec = this.keyspace.spec.codec;
    const ttl = this.writeTtl();
    if (codec.kind === 'hash') {
      const m = this.redis.multi().del(key).hset(key, (codec as HashStored<V>).encode(value));
      if (ttl !== undefined) m.pexpire(key, ttl);
      await m.exec();
    } else {
      const raw = codec.kind === 'counter' ? String(value) : (codec as StringStored<V>).encode(value);
      if (ttl === undefined) await this.redis.set(key, raw);
      else await this.redis.set(key, raw, 'PX', ttl);
    }
    if (opts.wait) await waitForReplicas(this.redis, opts.wait);
    this.count('set', 'ok');
    this.observe('set', t0);
  }

  async mset(entries: [Parts<K>, V][]): Promise<void> {
    if (!entries.length) return;
    const t0 = performance.now();
    const codec = this.keyspace.spec.codec;
    if (codec.kind !== 'hash' && this.ttlMs !== undefined) {
      // One command for the whole batch: SET ... PX for each key in a script, instead
      // of a command object per key (what made batched writes client-bound).
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const [parts, value] of entries) {
        keys.push(this.key(parts));
        args.push(codec.kind === 'counter' ? String(value) : (codec as StringStored<V>).encode(value));
      }
      for (let i = 0; i < entries.length; i++) args.push(this.writeTtl()!);
      await msetPx(this.redis, keys, args);
      this.count('mset', 'ok');
      this.observe('mset', t0);
      return;
    }
    const p = this.redis.pipeline();
    for (const [parts, value] of entries) {
      const key = this.key(parts);
      const ttl = this.writeTtl();
      if (codec.kind === 'hash') {
        p.del(key).hset(key, (codec as HashStored<V>).encode(value));
        if (ttl !== undefined) p.pexpire(key, ttl);
      } else {
        const raw = codec.kind === 'counter' ? String(value) : (codec as StringStored<V>).encode(value);
        if (ttl === undefined) p.set(key, raw);
        else p.set(key, raw, 'PX', ttl);
      }
    }
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
    this.count('mset', 'ok');
    this.observe('mset', t0);
  }

  async delete(...list: Parts<K>[]): Promise<number> {
    if (!list.length) return 0;
    const n = await this.redis.del(...list.map((p) => this.key(p)));
    this.count('delete', 'ok');
    return n;
  }

  /** Counter keyspaces: add `by`; the TTL starts with the key's first increment. */
  async incr(parts: Parts<K>, by = 1): Promise<number> {
    if (this.keyspace.spec.codec.kind !== 'counter') throw new InvalidArgumentError(`${this.name} is not a counter keyspace`);
    const key = this.key(parts);
    const p = this.redis.multi().incrby(key, by);
    const ttl = this.writeTtl();
    if (ttl !== undefined) p.pexpire(key, ttl, 'NX');
    const res = (await p.exec()) ?? [];
    if (res[0]?.[0]) throw res[0][0];
    this.count('incr', 'ok');
    return Number(res[0]?.[1]);
  }

  /**
   * The cached value, or `load()`'s result, cached. Concurrent callers for one key
   * share one load. With staleWhileRevalidate, a value past its TTL is still served
   * while a single background load replaces it.
   */
  async getOrLoad(parts: Parts<K>, load: () => Promise<V>): Promise<V> {
    const key = this.key(parts);
    const pending = this.inflight.get(key);
    if (pending) {
      this.count('getOrLoad', 'joined');
      return pending;
    }
    const isHash = this.keyspace.spec.codec.kind === 'hash';
    let raw: string | Record<string, string> | null;
    let pttl = -1;
    if (this.swrMs) {
      const res = (await this.redis.pipeline()[isHash ? 'hgetall' : 'get'](key).pttl(key).exec()) ?? [];
      raw = res[0]?.[1] as string | Record<string, string> | null;
      pttl = Number(res[1]?.[1]);
    } else raw = isHash ? await this.redis.hgetall(key) : await this.redis.get(key);
    const cached = this.decode(key, raw);
    if (cached !== undefined) {
      if (this.swrMs && pttl >= 0 && pttl < this.swrMs) {
        this.count('getOrLoad', 'stale');
        if (!this.inflight.has(key)) {
          void this.loadOnce(key, parts, load).catch((e: Error) => {
            // Nobody awaits a background reload: its failure is counted and reported here.
            this.count('getOrLoad', 'reload_failed');
            this.hooks.onError?.(e);
          });
        }
      } else this.count('getOrLoad', 'hit');
      return cached;
    }
    this.count('getOrLoad', 'miss');
    return this.loadOnce(key, parts, load);
  }

  private loadOnce(key: string, parts: Parts<K>, load: () => Promise<V>): Promise<V> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const stop = loadDuration.startTimer({ keyspace: this.name });
    const p = (async () => {
      try {
        const v = await load();
        await this.set(parts, v);
        return v;
      } finally {
        stop();
        this.inflight.delete(key);
      }
    })();
    this.inflight.set(key, p);
    return p;
  }
}

export type { Codec, CounterStored };
