/**
 * How a keyspace's values are stored: JSON checked by a schema, plain strings,
 * hashes of fields, or integer counters.
 */
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';
import type { z } from 'zod';

export class DecodeError extends DataplaneError {
  readonly code = 'DECODE';
  constructor(readonly key: string, reason: string) {
    super(`cached value at ${key} is invalid: ${reason}`, { hint: 'it is treated as a miss; find who writes this key outside its keyspace' });
  }
}

interface CodecBase<V> {
  kind: 'json' | 'string' | 'hash' | 'counter';
  /** For docs: what the value is. */
  describe: string;
  /** @internal */ _value?: V;
}

export interface StringStored<V> extends CodecBase<V> {
  kind: 'json' | 'string';
  encode(v: V): string;
  /** Throws DecodeError for a value that does not fit. */
  decode(raw: string, key: string): V;
}

export interface HashStored<V> extends CodecBase<V> {
  kind: 'hash';
  encode(v: V): Record<string, string>;
  decode(raw: Record<string, string>, key: string): V;
}

export interface CounterStored extends CodecBase<number> {
  kind: 'counter';
}

export type Codec<V> = StringStored<V> | HashStored<V> | (V extends number ? CounterStored : never);

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ');
}

/** JSON validated by a zod schema on the way in and on the way out. */
export function json<S extends z.ZodType>(schema: S, describe = 'JSON'): StringStored<z.output<S>> {
  return {
    kind: 'json',
    describe,
    encode(v) {
      const r = schema.safeParse(v);
      if (!r.success) throw new InvalidArgumentError(`value does not match its keyspace schema: ${issues(r.error)}`);
      return JSON.stringify(r.data);
    },
    decode(raw, key) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new DecodeError(key, 'not JSON');
      }
      const r = schema.safeParse(parsed);
      if (!r.success) throw new DecodeError(key, issues(r.error));
      return r.data;
    },
  };
}

export function string(describe = 'string'): StringStored<string> {
  return { kind: 'string', describe, encode: (v) => v, decode: (raw) => raw };
}

/** A Redis hash; the schema sees the fields as strings (use z.coerce for numbers). */
export function hash<S extends z.ZodType<Record<string, unknown>>>(schema: S, describe = 'hash'): HashStored<z.output<S>> {
  return {
    kind: 'hash',
    describe,
    encode(v) {
      const r = schema.safeParse(v);
      if (!r.success) throw new InvalidArgumentError(`value does not match its keyspace schema: ${issues(r.error)}`);
      return Object.fromEntries(Object.entries(r.data as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
    },
    decode(raw, key) {
      const r = schema.safeParse(raw);
      if (!r.success) throw new DecodeError(key, issues(r.error));
      return r.data;
    },
  };
}

export function counter(describe = 'integer counter'): CounterStored {
  return { kind: 'counter', describe };
}
