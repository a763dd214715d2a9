/** The value types of the configuration: sizes, ports, addresses, identifiers, durations, with their error messages. */
import { z } from 'zod';
import { parseSize } from '../lib/sizes.js';

export const AUTO = 'auto' as const;

/** A byte size: "512mb", "2GB" or a number of bytes. */
export function size(example = '512mb') {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const n = parseSize(value);
    if (n === undefined) {
      ctx.issues.push({ code: 'custom', message: `expected a size like ${example}`, input: value });
      return z.NEVER;
    }
    return n;
  });
}

/** "auto" (computed from the machine) or an explicit size. */
export function autoOrSize(example = '512mb') {
  return z.union([z.number(), z.string()]).transform((value, ctx): number | typeof AUTO => {
    if (value === AUTO) return AUTO;
    const n = parseSize(value);
    if (n === undefined) {
      ctx.issues.push({ code: 'custom', message: `expected "auto" or a size like ${example}`, input: value });
      return z.NEVER;
    }
    return n;
  });
}

export function autoOrInt(min: number, max: number) {
  return z.union([z.literal(AUTO), z.int().min(min).max(max)], {
    error: `expected "auto" or a whole number from ${min} to ${max}`,
  });
}

export const port = () => z.int({ error: 'expected a TCP port number (1-65535)' }).min(1).max(65535);

export const host = z.union([z.ipv4(), z.ipv6(), z.literal('localhost')], {
  error: 'expected an IP address such as 127.0.0.1 or ::1',
});

export const network = z.union([z.cidrv4(), z.cidrv6()], {
  error: 'expected a network such as 127.0.0.1/32, 10.0.0.0/8 or ::1/128',
});

/** SQL identifiers are restricted so they never need quoting anywhere. */
export const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case identifier: letters, digits and _, at most 63 characters');

/** A PostgreSQL duration setting: "30s", "5min", "0" (no limit). */
export const pgDuration = z
  .string()
  .regex(/^(0|\d+\s*(ms|s|min|h|d))$/, 'expected a duration like 500ms, 30s, 5min, 1h or 0 (no limit)');

/** NATS subject with optional wildcards. */
export const natsSubject = z
  .string()
  .regex(/^([A-Za-z0-9_$-]+|\*|>)(\.([A-Za-z0-9_$-]+|\*|>))*$/, 'expected a NATS subject such as orders.> or orders.*.created')
  .refine((s) => !s.includes('>') || s.endsWith('>'), 'the > wildcard may only end a subject');

export const share = z.number({ error: 'expected a fraction between 0 and 1' }).gt(0).max(1);

/** Raw server directives: names and values are checked so nothing can inject extra lines. */
export const rawSettings = z.record(
  z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'expected a setting name such as work_mem or hz'),
  z.union([z.string().regex(/^[^\r\n]*$/, 'a value must fit on one line'), z.number(), z.boolean()]),
);
