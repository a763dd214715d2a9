/**
 * docs/schema.md is checked against the live schema: every documented query uses
 * its index (EXPLAIN), every index has a documented query, and the committed ER
 * diagram matches the one generated from the database.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erDiagram, extractDiagram } from '../../src/postgres/diagram.js';
import { pgConfig } from '../helpers/connect.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';

const DOC = readFileSync(new URL('../../docs/schema.md', import.meta.url), 'utf8');
const DOMAIN_SCHEMAS = ['iam', 'registry', 'telemetry', 'analytics', 'audit', 'messaging'];

const documented = [...DOC.matchAll(/```sql index=(\S+)\n([\s\S]*?)```/g)].map((m) => ({ index: m[1]!, sql: m[2]!.trim() }));

let stack: EphemeralStack;
let owner: pg.Client;

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['postgres'] });
  owner = new pg.Client(pgConfig(stack.postgres!));
  await owner.connect();
});

afterAll(async () => {
  await owner?.end();
  await stack.stop();
});

function indexNames(plan: unknown, into: string[] = []): string[] {
  if (Array.isArray(plan)) plan.forEach((p) => indexNames(p, into));
  else if (plan && typeof plan === 'object') {
    for (const [k, v] of Object.entries(plan)) {
      if (k === 'Index Name') into.push(v as string);
      else indexNames(v, into);
    }
  }
  return into;
}

/** Partition indexes are reported by their own names; name the index they belong to. */
async function rootIndex(name: string): Promise<string> {
  const r = await owner.query<{ root: string }>(
    `select coalesce(pg_partition_root(c.oid), c.oid)::regclass::text as root from pg_class c where c.relname = $1 and c.relkind in ('i', 'I')`,
    [name],
  );
  return (r.rows[0]?.root ?? name).replace(/^.*\./, '');
}

describe('documented queries', () => {
  it('docs/schema.md documents queries', () => {
    expect(documented.length).toBeGreaterThan(30);
  });

  it.each(documented.map((d) => [d.index, d.sql] as const))('uses %s: %s', async (index, sql) => {
    await owner.query('begin');
    try {
      // Without sequential scans, a plan falls back to an index only if the index fits the query.
      await owner.query('set local enable_seqscan = off');
      await owner.query("set local dataplane.org_id = '1'");
      const plan = await owner.query<{ 'QUERY PLAN': unknown }>(`explain (format json, generic_plan) ${sql}`);
      const used = await Promise.all(indexNames(plan.rows[0]!['QUERY PLAN']).map(rootIndex));
      expect(used, JSON.stringify(plan.rows[0]!['QUERY PLAN']).slice(0, 400)).toContain(index);
    } finally {
      await owner.query('rollback');
    }
  });

  it('every index of the domain schemas has a documented query', async () => {
    const r = await owner.query<{ name: string }>(
      `select c.relname as name from pg_index i
         join pg_class c on c.oid = i.indexrelid
         join pg_class t on t.oid = i.indrelid
         join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = any ($1) and not t.relispartition order by 1`,
      [DOMAIN_SCHEMAS],
    );
    const indexes = r.rows.map((x) => x.name);
    const covered = new Set(documented.map((d) => d.index));
    expect(indexes.filter((i) => !covered.has(i)), 'indexes without a documented query').toEqual([]);
    expect([...covered].filter((i) => !indexes.includes(i)), 'documented indexes that do not exist').toEqual([]);
  });
});

describe('ER diagram', () => {
  it('docs/schema.md holds the diagram generated from the migrated database', async () => {
    const committed = extractDiagram(DOC);
    expect(committed, 'the erd markers are missing from docs/schema.md').toBeDefined();
    expect(committed, 'run: dataplane schema diagram --write docs/schema.md').toBe(await erDiagram(owner));
  });
});
