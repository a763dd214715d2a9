/**
 * A key-value bucket for small shared state (feature flags, leader notes), with
 * values checked against a schema both ways.
 *
 *   const flags = await openKv(nc, 'flags', { schema: z.object({ on: z.boolean() }), ttl: '1h' });
 *   await flags.put('dark-mode', { on: true });
 *   (await flags.get('dark-mode'))?.on
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import { durationMs, type Duration } from '../lib/durations.js';
import { InvalidArgumentError } from '../errors/index.js';

export interface TypedKv<T> {
  readonly bucket: KV;
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T): Promise<number>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

export async function openKv<Z extends z.ZodType>(
  nc: NatsConnection,
  name: string,
  opts: { schema: Z; ttl?: Duration; history?: number },
): Promise<TypedKv<z.output<Z>>> {
  const bucket = await new Kvm(nc).create(name, {
    history: opts.history ?? 1,
    ...(opts.ttl !== undefined ? { ttl: durationMs(opts.ttl) } : {}),
  });
  const check = (v: unknown, key: string) => {
    const r = opts.schema.safeParse(v);
    if (!r.success) throw new InvalidArgumentError(`kv ${name}/${key}: ${r.error.issues.map((i) => i.message).join('; ')}`);
    return r.data as z.output<Z>;
  };
  return {
    bucket,
    async get(key) {
      const e = await bucket.get(key);
      if (!e || e.operation !== 'PUT') return undefined;
      return check(e.json(), key);
    },
    async put(key, value) {
      return bucket.put(key, JSON.stringify(check(value, key)));
    },
    async delete(key) {
      await bucket.delete(key);
    },
    async keys() {
      const out: string[] = [];
      for await (const k of await bucket.keys()) out.push(k);
      return out.sort();
    },
  };
}
