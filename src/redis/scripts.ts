/**
 * Lua scripts the keyspaces run on the server: one command for a whole batch
 * instead of a command object per key (what made batched writes client-bound).
 */
import type { Redis } from 'ioredis';

type WithMsetPx = Redis & { dataplaneMsetPx?: (n: number, ...keysAndArgs: (string | number)[]) => Promise<unknown> };

/** SET key value PX ttl for every key given; KEYS are the keys, ARGV the values then the TTLs. */
const MSET_PX = `local n = #KEYS
for i = 1, n do redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[n + i]) end
return n`;

/** SET ... PX for each key: `keys`, then `args` = the values followed by the TTLs in ms. */
export function msetPx(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
  const r = redis as WithMsetPx;
  // ioredis sends EVALSHA and falls back to EVAL once per connection.
  if (!r.dataplaneMsetPx) redis.defineCommand('dataplaneMsetPx', { lua: MSET_PX });
  return r.dataplaneMsetPx!(keys.length, ...keys, ...args);
}
