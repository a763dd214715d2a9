/**
 * Typed subjects: a subject pattern with named tokens and the schema of its
 * payload. Publishers cannot send a payload that fails the schema; consumers get
 * the decoded, validated value or a DecodeError.
 *
 *   export const orderCreated = defineSubject({
 *     name: 'app.orders.{orgId}.created',
 *     description: 'an order was placed',
 *     schema: z.object({ orderId: z.string(), total: z.number() }),
 *   });
 *   orderCreated.subject({ orgId: 42 })  // "app.orders.42.created"
 *   orderCreated.filter                  // "app.orders.*.created"
 */
import type { z } from 'zod';
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';

export class PayloadError extends DataplaneError {
  readonly code = 'PAYLOAD_INVALID';
  constructor(readonly subject: string, reason: string) {
    super(`payload of ${subject} is invalid: ${reason}`);
  }
}

type Tokens<S extends string> = S extends `${string}{${infer T}}${infer Rest}` ? T | Tokens<Rest> : never;
export type SubjectParams<S extends string> = [Tokens<S>] extends [never] ? Record<string, never> : Record<Tokens<S>, string | number>;

export interface SubjectSpec<S extends string, Z extends z.ZodType> {
  name: S;
  description: string;
  schema: Z;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Subject<S extends string, Z extends z.ZodType> {
  readonly filter: string;

  constructor(readonly spec: SubjectSpec<S, Z>) {
    this.filter = spec.name.replace(/\{[^}]+\}/g, '*');
  }

  subject(params: SubjectParams<S>): string {
    return this.spec.name.replace(/\{([^}]+)\}/g, (_, t: string) => {
      const v = String((params as Record<string, unknown>)[t]);
      if (!TOKEN.test(v)) throw new InvalidArgumentError(`subject token ${t}="${v}" must be letters, digits, _ or -`);
      return v;
    });
  }

  encode(payload: z.input<Z>): Uint8Array {
    const r = this.spec.schema.safeParse(payload);
    if (!r.success) throw new PayloadError(this.spec.name, r.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; '));
    return encoder.encode(JSON.stringify(r.data));
  }

  decode(data: Uint8Array): z.output<Z> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(data));
    } catch {
      throw new PayloadError(this.spec.name, 'not JSON');
    }
    const r = this.spec.schema.safeParse(parsed);
    if (!r.success) throw new PayloadError(this.spec.name, r.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; '));
    return r.data;
  }
}

export function defineSubject<S extends string, Z extends z.ZodType>(spec: SubjectSpec<S, Z>): Subject<S, Z> {
  return new Subject(spec);
}
