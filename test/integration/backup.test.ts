/**
 * Backup and recovery drills on real servers: point-in-time recovery between two
 * write phases, a damaged backup named by verify, retention that keeps what the
 * kept backups need, a full restore of PostgreSQL and Redis into the stack, and no
 * acknowledged write lost when PostgreSQL is killed mid-ingest.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { archivedWal, listBackups, prune } from '../../src/backup/catalog.js';
import { connectNats } from '../../src/nats/connection.js';
import { createBackup, restore, verifyBackup } from '../../src/backup/index.js';
import { BackupScheduler } from '../../src/backup/schedule.js';
import { statePaths } from '../../src/config/paths.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Supervisor } from '../../src/stack/supervisor.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { pgConfig } from '../helpers/connect.js';
import { waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let sup: Supervisor;

function superuser(database = 'app'): pg.Client {
  const c = new pg.Client({ ...pgConfig(stack.postgres!.superuser), database });
  c.on('error', () => {});
  return c;
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = superuser();
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Close the current WAL segment and wait until the archiver has copied it. */
async function archiveNow(): Promise<void> {
  const { f } = (await sql<{ f: string }>('select pg_walfile_name(pg_switch_wal()) as f'))[0]!;
  await waitFor(`WAL ${f} archived`, async () => {
    const { last } = (await sql<{ last: string | null }>('select last_archived_wal as last from pg_stat_archiver'))[0]!;
    return (last ?? '') >= f || undefined;
  }, 30_000, 200);
}

beforeAll(async () => {
  stack = await startEphemeralStack({ config: { backup: { intervalHours: 0, archiveTimeoutSec: 0 } } });
  sup = stack.supervisor;
  await sql('create schema drill; create table drill.rows (id int primary key, phase int not null)');
}, 120_000);

afterAll(async () => {
  await sup?.stop();
  await stack?.stop();
});

describe('point-in-time recovery', () => {
  it('restores to a time between phase 2 and 3: exactly phases 1 and 2 are there', { timeout: 180_000 }, async () => {
    await createBackup(stack.access, { label: 'pitr-base' });
    const phase = async (n: number) => sql(`insert into drill.rows select g, ${n} from generate_series(${(n - 1) * 100 + 1}, ${n * 100}) g`);
    await phase(1);
    await phase(2);
    const { t } = (await sql<{ t: Date }>('select clock_timestamp() as t'))[0]!;
    await sleep(1500);
    await phase(3);
    await archiveNow();

    const target = path.join(stack.stateDir, 'restore-pitr', 'data');
    let counts: { phase: number; n: number }[] = [];
    const r = await restore(stack.access, {
      target: { time: new Date(t.getTime() + 500) },
      targetDir: target,
      onReady: async (connect) => {
        const db = await connect('app');
        counts = (await db.query<{ phase: number; n: number }>('select phase, count(*)::int as n from drill.rows group by phase order by phase')).rows;
      },
    });
    expect(r.label).toBe('pitr-base');
    expect(counts).toEqual([
      { phase: 1, n: 100 },
      { phase: 2, n: 100 },
    ]);
    expect(r.timeline).toBeGreaterThan(1);
    // The stack itself was not touched.
    expect((await sql<{ n: number }>('select count(*)::int as n from drill.rows'))[0]!.n).toBe(300);
  });
});

describe('restore refusals', () => {
  it('refuses a time the archive does not reach, before touching anything', async () => {
    const target = path.join(stack.stateDir, 'restore-future', 'data');
    await expect(restore(stack.access, { target: { time: new Date(Date.now() + 3_600_000) }, targetDir: target })).rejects.toThrow(/archive reaches only/);
    expect(existsSync(target)).toBe(false);
  });
});

describe('verify', () => {
  it('passes a sound backup, and names the file with a flipped byte', { timeout: 120_000 }, async () => {
    const { dir, manifest } = await createBackup(stack.access, { label: 'to-damage' });
    expect((await verifyBackup(stack.access, 'to-damage')).ok).toBe(true);
    // The largest stored file, so the flipped byte lands in compressed data.
    const victim = [...manifest.postgres!.files].sort((a, b) => b.size - a.size)[0]!;
    const file = path.join(dir, 'postgres', `${victim.path}.gz`);
    const bytes = readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(file, bytes);
    const r = await verifyBackup(stack.access, 'to-damage');
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toContain(`postgres/${victim.path}.gz`);
    // A damaged backup is never laid down: restore checks every byte too.
    await expect(
      restore(stack.access, { label: 'to-damage', target: { latest: true }, targetDir: path.join(stack.stateDir, 'restore-damaged', 'data') }),
    ).rejects.toThrow(new RegExp(`postgres/${victim.path}.gz (is damaged|does not match the manifest)`));
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(file, bytes);
    expect((await verifyBackup(stack.access, 'to-damage')).ok).toBe(true);
  });
});

describe('retention', () => {
  it('prune keeps the newest backups and the WAL they need; the kept ones still restore', { timeout: 180_000 }, async () => {
    const paths = statePaths(stack.config);
    // Older than the two prune keeps (earlier tests may have left more).
    await createBackup(stack.access, { label: 'prune-old' });
    await sql('insert into drill.rows select g, 4 from generate_series(1001, 1100) g');
    await createBackup(stack.access, { label: 'keep-1' });
    await sql('insert into drill.rows select g, 5 from generate_series(1101, 1200) g');
    await createBackup(stack.access, { label: 'keep-2' });
    await archiveNow();
    const before = archivedWal(paths).map((w) => w.name);
    const keep1 = listBackups(paths).find((b) => b.manifest.label === 'keep-1')!.manifest.postgres!.startWalFile;

    const r = prune(paths, 2);
    expect(r.kept).toEqual(['keep-1', 'keep-2']);
    expect(r.removedBackups).toContain('prune-old');
    const after = archivedWal(paths).map((w) => w.name);
    expect(after.length).toBeLessThan(before.length);
    expect(after.every((n) => n >= keep1)).toBe(true);
    expect(after).toEqual(before.filter((n) => n >= keep1));

    // The oldest kept backup still recovers to the end of the archive: every row there is now.
    const rows = (await sql<{ n: number }>('select count(*)::int as n from drill.rows'))[0]!.n;
    const drill = await verifyBackup(stack.access, 'keep-1', { drill: true });
    expect(drill.ok, drill.problems.join('\n')).toBe(true);
    expect(drill.drill!.databases).toContain('app');
    let n = 0;
    await restore(stack.access, {
      label: 'keep-1',
      target: { latest: true },
      targetDir: path.join(stack.stateDir, 'restore-after-prune', 'data'),
      onReady: async (connect) => {
        n = Number((await (await connect('app')).query<{ n: string }>('select count(*) as n from drill.rows')).rows[0]!.n);
      },
    });
    expect(n).toBe(rows);
  });
});

describe('restore into the stack', () => {
  it('refuses while the stack runs, then brings PostgreSQL rows, Redis keys and JetStream messages back', { timeout: 180_000 }, async () => {
    const nc = await connectNats({ access: stack.access, user: 'admin' });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'KEPT', subjects: ['kept.>'] });
    for (let i = 1; i <= 50; i++) await jetstream(nc).publish(`kept.${i}`, `message ${i}`);
    await nc.close();
    const redis = new Redis({ host: '127.0.0.1', port: stack.redis!.port, username: 'admin', password: stack.redis!.admin.password, ...(stack.redis!.tls ? { tls: { ca: readFileSync(stack.redis!.caFile!) } } : {}) });
    await redis.set('app:kept', 'snapshot', 'EX', 3600);
    await createBackup(stack.access, { label: 'full' });
    await sql('insert into drill.rows values (9999, 9)');
    await archiveNow();
    await redis.del('app:kept');
    await redis.quit();

    await expect(restore(stack.access, { target: { latest: true } })).rejects.toThrow(/running.*refusing to overwrite/);

    await sup.stop();
    const r = await restore(stack.access, { target: { latest: true } });
    expect(r.label).toBe('full');
    expect(r.redis.restored).toBe(true);
    expect(r.movedAside.length).toBeGreaterThan(0);

    expect(r.streams).toEqual(expect.arrayContaining(['KEPT', 'DLQ', 'EVENTS']));
    sup = await Supervisor.start({ config: stack.config, logger: silentLogger, installPackages: false });
    const back = await connectNats({ access: stack.access, user: 'admin' });
    const kept = await (await jetstreamManager(back)).streams.info('KEPT');
    expect(kept.state.messages).toBe(50);
    expect((await (await jetstreamManager(back)).streams.getMessage('KEPT', { seq: 50 }))!.string()).toBe('message 50');
    await back.close();
    // Every committed row, including the one after the backup (replayed from the archive).
    expect((await sql<{ n: number }>('select count(*)::int as n from drill.rows where id = 9999'))[0]!.n).toBe(1);
    const again = new Redis({ host: '127.0.0.1', port: stack.redis!.port, username: 'admin', password: stack.redis!.admin.password, ...(stack.redis!.tls ? { tls: { ca: readFileSync(stack.redis!.caFile!) } } : {}) });
    expect(await again.get('app:kept')).toBe('snapshot');
    await again.quit();
  });
});

describe('schedule', () => {
  it('takes a backup when none is recent, prunes to backup.keep, and not again before the interval', { timeout: 120_000 }, async () => {
    const config = { ...stack.config, backup: { ...stack.config.backup, intervalHours: 24, keep: 2 } };
    const logged: string[] = [];
    const logger = { info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(`error: ${m}`) };
    const paths = statePaths(config);
    const before = listBackups(paths).map((b) => b.manifest.label);
    // Pretend the newest backup is old: the scheduler must take one now.
    const s = new BackupScheduler(() => ({ ...stack.access, config: { ...config, backup: { ...config.backup, intervalHours: 0.0001 } } }), logger, { firstCheckAfterMs: 50, checkEveryMs: 200 });
    s.start();
    await waitFor('a scheduled backup', () => logged.find((l) => /scheduled backup .* done/.test(l)), 90_000, 200);
    await s.stop();
    const after = listBackups(paths).map((b) => b.manifest.label);
    // One more backup (earlier tests may have left some), pruned to what keep allows.
    expect(after.length).toBe(Math.min(config.backup.keep, before.length + 1));
    expect(after.filter((l) => !before.includes(l)).length).toBeGreaterThanOrEqual(1);
    expect(logged.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(new BackupScheduler(() => ({ ...stack.access, config }), logger).due()).toBe(false);
  });
});

describe('crash', () => {
  it('SIGKILL of PostgreSQL during ingest loses no acknowledged row (synchronous_commit on)', { timeout: 120_000 }, async () => {
    await sql('create table drill.ingest (id int primary key, at timestamptz not null default now())');
    const acked: number[] = [];
    let stop = false;
    const writer = (async () => {
      let id = 0;
      while (!stop) {
        const c = superuser();
        try {
          await c.connect();
          while (!stop) {
            const next = ++id;
            await c.query('insert into drill.ingest (id) values ($1)', [next]);
            acked.push(next); // acknowledged: COMMIT returned
          }
        } catch {
          await sleep(50); // the server is gone or restarting: reconnect
        } finally {
          await c.end().catch(() => {});
        }
      }
    })();
    await waitFor('some acknowledged rows', () => acked.length >= 300 || undefined, 30_000);
    const before = sup.snapshot().find((s) => s.name === 'postgres')!;
    process.kill(before.pid!, 'SIGKILL');
    const atKill = acked.length;
    await waitFor('writes acknowledged again after the restart', () => acked.length > atKill + 100 || undefined, 60_000);
    stop = true;
    await writer;
    // The writes went on against a new server process: the kill really happened and was recovered from.
    const after = sup.snapshot().find((s) => s.name === 'postgres')!;
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe(before.restarts + 1);
    expect(after.lastExit).toBe('killed by SIGKILL');
    const present = new Set((await sql<{ id: number }>('select id from drill.ingest')).map((r) => r.id));
    const lost = acked.filter((id) => !present.has(id));
    expect(lost).toEqual([]);
  });
});
