/**
 * Redis in the ha topology under faults: a primary, two replicas replicating over TLS,
 * three sentinels. Keyspace writes and reads go on through the library's Sentinel
 * connection while the primary is killed with SIGKILL; they resume through the new
 * primary without restarting anything. The time to the first write after the kill and
 * the acknowledged writes lost to asynchronous replication are measured and reported.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../src/redis/codecs.js';
import { connectRedis } from '../../src/redis/connection.js';
import { defineKeyspace } from '../../src/redis/keyspace.js';
import { NotReplicatedError } from '../../src/redis/replication.js';
import { recordedPrimary } from '../../src/servers/sentinel.js';
import { statePaths } from '../../src/config/paths.js';
import type { RedisFigures } from '../../src/servers/types.js';
import { stackStatus } from '../../src/stack/status.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let redis: Redis;

const counters = defineKeyspace({ name: 'ha', description: 'failover test values', key: { id: 'int' }, codec: json(z.object({ n: z.number() })), ttl: { ttl: '1h' } });

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['redis'], config: { topology: 'ha' } });
  redis = connectRedis({ access: stack.access });
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const pidOf = (instance: string) => stack.supervisor.snapshot().find((s) => s.name === instance)!.pid!;

async function roles(): Promise<Record<string, RedisFigures>> {
  const st = await stackStatus(stack.config);
  return Object.fromEntries(st.services.filter((s) => s.service === 'redis' && s.figures).map((s) => [s.name, s.figures as RedisFigures]));
}

describe('ha topology: Redis with replicas and Sentinel', () => {
  it('runs a primary, two replicas in sync over TLS, and three sentinels', async () => {
    expect(stack.supervisor.snapshot().map((s) => [s.name, s.state])).toEqual([
      ['redis', 'running'],
      ['redis-2', 'running'],
      ['redis-3', 'running'],
      ['sentinel-1', 'running'],
      ['sentinel-2', 'running'],
      ['sentinel-3', 'running'],
    ]);
    await waitFor('both replicas linked', async () => {
      const r = await roles();
      return r['redis-2']?.replication && 'linkUp' in r['redis-2'].replication && r['redis-2'].replication.linkUp && r['redis-3']?.replication && 'linkUp' in r['redis-3'].replication && r['redis-3'].replication.linkUp ? r : undefined;
    }, 20_000, 250);
    const r = await roles();
    expect(r.redis!.role).toBe('master');
    expect(r.redis!.replication).toMatchObject({ replicas: 2 });
    // WAIT, for the writes that must be on a replica before the caller goes on.
    const ks = counters.bind(redis);
    await ks.set({ id: 0 }, { n: 0 }, { wait: { replicas: 2, timeoutMs: 2000 } });
    await expect(ks.set({ id: 0 }, { n: 1 }, { wait: { replicas: 3, timeoutMs: 200 } })).rejects.toThrow(NotReplicatedError);
  });

  it('the primary killed under load: writes resume through the new primary, the old one rejoins as a replica', { timeout: 180_000 }, async () => {
    const ks = counters.bind(redis);
    const acked: number[] = [];
    let failures = 0;
    let stop = false;
    let killedAt = 0;
    let firstWriteAfterKill = 0;
    const writer = (async () => {
      for (let i = 1; !stop; i++) {
        // Only a write sent after the kill proves a new primary: one already answered may resolve just after it.
        const sentAt = performance.now();
        try {
          await ks.set({ id: i }, { n: i });
          acked.push(i);
          if (killedAt && sentAt > killedAt && !firstWriteAfterKill) firstWriteAfterKill = performance.now();
          // Reads too: a keyspace works for both across the failover.
          if (i % 10 === 0) await ks.get({ id: i - 5 });
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor('writes before the fault', () => (acked.length >= 200 ? true : undefined), 30_000, 50);
    const killedPid = pidOf('redis');
    process.kill(killedPid, 'SIGKILL');
    killedAt = performance.now();
    await waitFor('a write through the new primary', () => (firstWriteAfterKill ? true : undefined), 60_000, 50);
    const resumeMs = firstWriteAfterKill - killedAt;
    const atResume = acked.length;
    await waitFor('writes after the failover', () => (acked.length >= atResume + 200 ? true : undefined), 30_000, 50);
    stop = true;
    await writer;

    // Which node the sentinels promoted, and what it holds of what was acknowledged.
    const promoted = await waitFor('the sentinels to record the new primary', () => {
      const p = recordedPrimary(stack.config, statePaths(stack.config));
      return p && p !== 'redis' ? p : undefined;
    }, 30_000, 250);
    const present = new Set<number>();
    for (let i = 0; i < acked.length; i += 500) {
      const batch = acked.slice(i, i + 500);
      const values = await ks.mget(batch.map((id) => ({ id })));
      values.forEach((v, j) => v && present.add(batch[j]!));
    }
    const lost = acked.filter((id) => !present.has(id));
    console.log(`Redis failover: first write ${Math.round(resumeMs)} ms after the kill (down-after ${stack.config.redis.sentinel.downAfterMs} ms); promoted ${promoted}; ${acked.length} writes acknowledged, ${lost.length} lost to asynchronous replication, ${failures} failed and retried`);
    // No new primary before the sentinels may call the old one down: a shorter figure measures nothing.
    expect(resumeMs).toBeGreaterThanOrEqual(stack.config.redis.sentinel.downAfterMs);
    expect(resumeMs).toBeLessThan(30_000);
    // Lost writes are the cost of asynchronous replication; they can only be the ones just before the kill.
    expect(lost.every((id) => id <= atResume)).toBe(true);

    // The supervisor restarted the former primary as a replica of the new one.
    await waitFor('the former primary to rejoin as a replica', async () => {
      const r = await roles();
      return r.redis?.role === 'slave' && r.redis.replication && 'linkUp' in r.redis.replication && r.redis.replication.linkUp ? true : undefined;
    }, 60_000, 500);
    // From its first moment: Redis marks each log line M (primary) or S (replica). Started
    // from its old file, it would serve as a second primary until the sentinels demoted it.
    const newPid = pidOf('redis');
    expect(newPid).not.toBe(killedPid);
    const log = readFileSync(statePaths(stack.config).log('redis'), 'utf8');
    expect(log).toMatch(new RegExp(`^${newPid}:S .*Ready to accept connections`, 'm'));
    expect(log).not.toMatch(new RegExp(`^${newPid}:M `, 'm'));
    expect((await roles())[promoted]!.role).toBe('master');
    const readyz = await fetch(`${stack.healthUrl}/readyz`);
    expect(readyz.status).toBe(200);
  });
});
