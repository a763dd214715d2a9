/**
 * PostgreSQL in the ha topology with synchronous mode off (postgres.ha.synchronous: false):
 * commits are acknowledged by the primary alone. The primary is lost under writes as in
 * ha-postgres.test.ts; what this measures is the window of loss the documentation states:
 * which acknowledged commits are missing afterwards, and how long before the loss they were
 * acknowledged. Replicas more than 1 MiB behind are never promoted, so the window is short.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyPatroniCluster } from '../../src/servers/patroni.js';
import { connectPostgres, type Database } from '../../src/postgres/database.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { healthyCluster, instanceOf, leaderOf, ledgerIds, ledgerWriter, loseMember } from '../helpers/postgres-ha.js';
import { waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let db: Database;

beforeAll(async () => {
  stack = await startEphemeralStack({ services: ['postgres'], config: { topology: 'ha', postgres: { ha: { synchronous: false } } } });
  db = connectPostgres({ access: stack.access, user: stack.config.postgres.owner, max: 2 });
  await db.query('create table ha_ledger (id bigint primary key, at timestamptz not null default now())');
}, 180_000);

afterAll(async () => {
  await db?.close();
  await stack?.stop();
});

describe('ha topology: PostgreSQL with synchronous mode off', () => {
  it('the primary lost under writes: a replica takes over; acknowledged commits lost, if any, are only those of the last instant', { timeout: 180_000 }, async () => {
    const before = await waitFor('a healthy cluster', () => healthyCluster(stack.config), 60_000, 250);
    expect(before.some((m) => m.role === 'sync_standby')).toBe(false);
    const old = leaderOf(stack.config, before);
    const w = ledgerWriter(db, 1);
    await new Promise((r) => setTimeout(r, 1500));
    const patroniPid = stack.supervisor.snapshot().find((s) => s.name === old)!.pid!;
    const { lostAt, result: resumedAt } = await loseMember(stack.config, patroniPid, old, (t) => waitFor('a write acknowledged by a new primary', () => w.firstAckSentAfter(t), 60_000, 50));
    await new Promise((r) => setTimeout(r, 1000));
    await w.stop();
    const present = await ledgerIds(db);
    const lost = w.acked.filter((id) => !present.has(id));
    // How long before the loss the oldest lost commit had been acknowledged: the window of loss.
    const windowMs = lost.length ? Math.round(lostAt - Math.min(...lost.map((id) => w.ackedAtOf(id)))) : 0;
    const after = await waitFor('a new primary', async () => (await anyPatroniCluster(stack.config)).members.find((m) => m.role === 'leader' && m.state === 'running'), 30_000, 250);
    console.log(
      `[ha-postgres-async] primary ${old} lost: writes acknowledged by ${instanceOf(stack.config, after.name)} ${Math.round(resumedAt - lostAt)} ms later; ` +
        `${w.acked.length} commits acknowledged, ${lost.length} lost (acknowledged at most ${windowMs} ms before the loss), ${w.failed()} not acknowledged`,
    );
    expect(instanceOf(stack.config, after.name)).not.toBe(old);
    expect(windowMs).toBeLessThan(1000);
    await waitFor('the old primary streaming again', () => healthyCluster(stack.config), 90_000, 500);
  });
});
