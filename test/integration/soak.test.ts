/**
 * A short soak in the test suite: the mixed workload through the library while PostgreSQL
 * is killed and NATS frozen, then the ledger check (no acknowledged row lost, every event
 * applied once, every malformed event dead-lettered). And the check itself must fail when
 * a write is lost: one row is deleted behind the ledger's back and must be named.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../src/postgres/database.js';
import { writeReport } from '../../src/soak/report.js';
import { runSoak } from '../../src/soak/run.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';

let stack: EphemeralStack;

beforeAll(async () => {
  stack = await startEphemeralStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('soak', () => {
  it('a short run with PostgreSQL killed and NATS frozen keeps every acknowledged write, applies each event once, dead-letters the malformed ones', { timeout: 180_000 }, async () => {
    const progress: string[] = [];
    const r = await runSoak(stack.access, {
      durationSec: 40,
      bucketSec: 5,
      rates: { writes: 40, cache: 100, malformedEvery: 20, telemetry: 400, queries: 4 },
      faults: [
        { atSec: 10, kind: 'kill', target: 'postgres', forSec: 5 },
        { atSec: 24, kind: 'pause', target: 'nats', forSec: 3 },
      ],
      onProgress: (m) => progress.push(m),
    });
    const c = r.check;
    console.log(`[soak] ${c.rows.acknowledged} rows, ${c.effects.expected} events, ${c.deadLetters.sent} malformed, ${c.cache.written} cache keys (${c.cache.lost.length} lost); faults ${JSON.stringify(r.faults)}; totals ${JSON.stringify(r.totals)}`);
    expect(c.rows.lost).toEqual([]);
    expect(c.effects.missing).toEqual([]);
    expect(c.effects.duplicated).toEqual([]);
    expect(c.deadLetters.missing).toEqual([]);
    expect(c.ok).toBe(true);
    expect(c.rows.acknowledged).toBeGreaterThan(800);
    expect(c.deadLetters.sent).toBeGreaterThan(30);
    // Telemetry by COPY, two batches a second, every acknowledged batch there once; the documented queries ran.
    expect(c.telemetry.lostBatches).toEqual([]);
    expect(c.telemetry.duplicatedBatches).toEqual([]);
    expect(c.telemetry.batches).toBeGreaterThan(50);
    expect(c.telemetry.rows).toBe(c.telemetry.batches * 200);
    for (const q of ['query raw last hour', 'query latest values', 'query rollup 1m', 'query rollup 1h']) expect(r.totals[q]?.ok, q).toBeGreaterThan(20);
    // Freezing NATS stalled the consumer for about the 3 s it was frozen, and the stall is measured.
    expect(r.stalls.find((s) => s.op === 'consume' && s.from >= 23 && s.from < 26 && s.to - s.from >= 2), JSON.stringify(r.stalls)).toBeDefined();
    // The servers' own figures were sampled: WAL written, Redis memory, JetStream storage.
    expect(r.servers.some((s) => (s.walBytesPerSec ?? 0) > 0)).toBe(true);
    expect(r.servers.some((s) => (s.redisMemoryBytes ?? 0) > 0 && (s.jetstreamStorageBytes ?? 0) > 0)).toBe(true);
    expect(r.faults.map((f) => [f.kind, f.target])).toEqual([
      ['kill', 'postgres'],
      ['pause', 'nats'],
    ]);
    for (const f of r.faults) expect(f.recoveredAt, `${f.target} answered again`).not.toBeNull();
    // Writes came back at their rate after the PostgreSQL restart (the 15-20 s bucket).
    expect(r.buckets.find((b) => b.t === 15)!.ops.write!.ok).toBeGreaterThan(100);
    expect(progress.some((m) => m.startsWith('fault 1/2: kill postgres'))).toBe(true);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-soak-'));
    try {
      const [json, md, html] = writeReport(dir, r);
      expect(JSON.parse(readFileSync(json!, 'utf8')).check.ok).toBe(true);
      expect(readFileSync(md!, 'utf8')).toContain('**Ledger clean.**');
      // One page, no script, no network: ten charts with the two faults shaded on each.
      const page = readFileSync(html!, 'utf8');
      expect(page.match(/<svg /g)).toHaveLength(10);
      expect(page.match(/<rect [^>]*fill="#fca5a5"/g)).toHaveLength(20);
      expect(page).not.toMatch(/<script|(src|href)="https?:/);
      expect(existsSync(md!)).toBe(true);
      // Every process of the stack was sampled, the killed one under a new pid after its restart.
      expect(Object.keys(r.resources.at(-1)!.processes)).toEqual(expect.arrayContaining(['postgres', 'redis', 'nats', 'supervisor']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the check fails and names the row and the telemetry batch when an acknowledged write is lost', { timeout: 120_000 }, async () => {
    let deleted = 0;
    let batch = 0;
    const r = await runSoak(stack.access, {
      durationSec: 5,
      rates: { writes: 20, cache: 0, malformedEvery: 0, telemetry: 100, queries: 0 },
      faults: [],
      beforeCheck: async () => {
        // Lose one acknowledged write behind the ledger's back, as a server that broke its promise would.
        const owner = connectPostgres({ access: stack.access, user: stack.config.postgres.owner, max: 1 });
        try {
          deleted = Number((await owner.query<{ id: string }>('delete from soak.writes where id = (select min(id) from soak.writes) returning id')).rows[0]!.id);
          // One sample of the soak's telemetry: its whole batch counts as lost.
          const row = await owner.query<{ v: number }>(
            "with soak as (select id from iam.organizations where slug = 'soak') delete from telemetry.measurements where org_id = (select id from soak) and value = (select max(value) from telemetry.measurements where org_id = (select id from soak)) returning value as v",
          );
          batch = Math.floor(row.rows[0]!.v / 1_000_000);
        } finally {
          await owner.close();
        }
      },
    });
    expect(deleted).toBeGreaterThan(0);
    expect(r.check.ok).toBe(false);
    expect(r.check.rows.lost).toEqual([deleted]);
    expect(batch).toBeGreaterThan(0);
    expect(r.check.telemetry.lostBatches).toEqual([batch]);
  });
});
