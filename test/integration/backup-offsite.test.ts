/**
 * Backups encrypted at rest and copied off the host: every stored file is age-encrypted
 * to the configured recipient, a changed byte is refused, a backup without its key says
 * which key it needs; the supervisor copies each backup and archived WAL segment
 * (sealed) to the destination and reports the lag; a drill restores from the copy alone
 * (the local backup removed); scheduled drills report their outcome as metrics.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prune } from '../../src/backup/catalog.js';
import { createBackup, verifyBackup } from '../../src/backup/index.js';
import { DrillSchedule, readDrillState, runDrill } from '../../src/backup/drills.js';
import { offsiteLagSeconds, readOffsiteState } from '../../src/backup/offsite.js';
import { statePaths } from '../../src/config/paths.js';
import { generateKeyPair } from '../../src/lib/age.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { pgConfig } from '../helpers/connect.js';
import { waitFor } from '../helpers/processes.js';

let stack: EphemeralStack;
let dest: string;
let keyDir: string;
let label: string;

/** Every file below `dir`, relative. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]));
}

async function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const c = new pg.Client({ ...pgConfig(stack.postgres!.superuser), database: 'app' });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

async function metrics(): Promise<string> {
  return (await fetch(`${stack.healthUrl}/metrics`)).text();
}

beforeAll(async () => {
  keyDir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-key-'));
  // The "mounted filesystem" of the copy: a folder of its own.
  dest = mkdtempSync(path.join(os.tmpdir(), 'dataplane-offsite-'));
  const { identity, recipient } = await generateKeyPair();
  writeFileSync(path.join(keyDir, 'backup.key'), identity + '\n', { mode: 0o600 });
  stack = await startEphemeralStack({
    config: {
      backup: {
        intervalHours: 0,
        archiveTimeoutSec: 0,
        encryption: { recipients: [recipient], identityFile: path.join(keyDir, 'backup.key') },
        offsite: { destination: dest, intervalSec: 1 },
      },
    },
  });
  await sql('create schema drill; create table drill.rows (id int primary key, note text not null); insert into drill.rows select g, md5(g::text) from generate_series(1, 500) g');
  label = (await createBackup(stack.access, { label: 'sealed-1' })).manifest.label;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dest, { recursive: true, force: true });
  rmSync(keyDir, { recursive: true, force: true });
});

describe('encrypted at rest', () => {
  it('every stored file is age-encrypted; the manifest names the recipients; verify opens them', async () => {
    const dir = path.join(statePaths(stack.config).backups, label);
    const files = walk(dir).filter((f) => f !== 'manifest.json');
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      expect(f, f).toMatch(/\.age$/);
      expect(readFileSync(path.join(dir, f)).subarray(0, 21).toString(), f).toBe('age-encryption.org/v1');
    }
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { encryption: { recipients: string[] } };
    expect(manifest.encryption.recipients).toEqual(stack.config.backup.encryption.recipients);
    const r = await verifyBackup(stack.access, label);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a changed byte is refused, and named', { timeout: 60_000 }, async () => {
    const backups = statePaths(stack.config).backups;
    cpSync(path.join(backups, label), path.join(backups, 'tampered'), { recursive: true });
    const m = JSON.parse(readFileSync(path.join(backups, 'tampered', 'manifest.json'), 'utf8')) as { label: string };
    writeFileSync(path.join(backups, 'tampered', 'manifest.json'), JSON.stringify({ ...m, label: 'tampered' }));
    const victim = path.join(backups, 'tampered', 'redis', 'dump.rdb.gz.age');
    const bytes = readFileSync(victim);
    bytes[bytes.length - 20]! ^= 0x01;
    writeFileSync(victim, bytes);
    try {
      const r = await verifyBackup(stack.access, 'tampered');
      expect(r.ok).toBe(false);
      expect(r.problems).toEqual([expect.stringMatching(/^redis\/dump\.rdb\.gz\.age: unreadable \(.*does not decrypt: it is damaged or was changed/)]);
    } finally {
      rmSync(path.join(backups, 'tampered'), { recursive: true, force: true });
    }
  });

  it('without the key, verify and restore say which key they need', async () => {
    const config = { ...stack.config, backup: { ...stack.config.backup, encryption: { ...stack.config.backup.encryption, identityFile: '' } } };
    await expect(verifyBackup({ ...stack.access, config }, label)).rejects.toThrow(/backup sealed-1 is encrypted \(age\): it opens only with the key of one of its recipients/);
  });
});

describe('the off-host copy', () => {
  it('the supervisor copies the backup and each archived WAL segment, sealed, and the lag returns to 0', { timeout: 60_000 }, async () => {
    const { f } = (await sql<{ f: string }>('select pg_walfile_name(pg_switch_wal()) as f'))[0]!;
    await waitFor(`WAL ${f} in the copy`, () => existsSync(path.join(dest, 'wal', `${f}.age`)) || undefined, 30_000, 200);
    expect(existsSync(path.join(dest, label, 'manifest.json'))).toBe(true);
    // Nothing in the copy is readable without the key, the manifests aside.
    for (const file of walk(dest).filter((x) => !x.endsWith('manifest.json'))) expect(file, file).toMatch(/\.age$/);
    await waitFor('the copy complete', () => (offsiteLagSeconds(statePaths(stack.config)) === 0 ? true : undefined), 20_000, 200);
    expect(readOffsiteState(statePaths(stack.config))).toMatchObject({ destination: dest, lastError: null });
    expect(await metrics()).toMatch(/^dataplane_backup_offsite_lag_seconds 0$/m);
    expect(await metrics()).toMatch(/^dataplane_backup_offsite_last_success_timestamp_seconds [1-9]/m);
  });

  it('a drill restores from the copy alone: the local backup is gone', { timeout: 120_000 }, async () => {
    const local = path.join(statePaths(stack.config).backups, label);
    const aside = path.join(keyDir, 'aside');
    cpSync(local, aside, { recursive: true });
    rmSync(local, { recursive: true });
    try {
      // The stack's own catalog no longer has it; the copy still does, also after the next copies.
      await expect(verifyBackup(stack.access, label)).rejects.toThrow(/no backup labelled sealed-1/);
      const after = Date.now();
      await waitFor('another copy', () => (Date.parse(readOffsiteState(statePaths(stack.config))?.lastSuccessAt ?? '0') > after ? true : undefined), 10_000, 100);
      expect(existsSync(path.join(dest, label, 'manifest.json'))).toBe(true);
      const r = await verifyBackup(stack.access, label, { drill: true, fromCopy: true });
      expect(r.problems).toEqual([]);
      expect(r).toMatchObject({ ok: true, source: 'copy' });
      expect(r.drill!.tables).toBeGreaterThan(0);
      expect(r.drill!.databases).toContain('app');
    } finally {
      cpSync(aside, local, { recursive: true });
      rmSync(aside, { recursive: true });
    }
    // The scratch copy is gone again.
    expect(existsSync(path.join(statePaths(stack.config).backups, '.offsite-drill'))).toBe(false);
  });
});

describe('scheduled drills', () => {
  it('report a passing drill, then a failing one (a damaged copy), as metrics', { timeout: 180_000 }, async () => {
    const paths = statePaths(stack.config);
    const access = { ...stack.access, config: { ...stack.config, backup: { ...stack.config.backup, drillIntervalHours: 0.0001 } } };
    const schedule = new DrillSchedule(() => access, silentLogger, { firstCheckAfterMs: 50, checkEveryMs: 500 });
    schedule.start();
    try {
      const passed = await waitFor('a drill', () => readDrillState(paths) ?? undefined, 90_000, 250);
      expect(passed).toMatchObject({ ok: true, label, source: 'copy', problems: [] });
    } finally {
      await schedule.stop();
    }
    expect(await metrics()).toMatch(/^dataplane_backup_drill_last_result 1$/m);
    const succeeded = readDrillState(paths)!.lastSuccessAt!;

    // The copy is damaged: the next drill fails, names the file, and the last success stays.
    const victim = walk(path.join(dest, label)).find((f) => f.startsWith('postgres/') && statSync(path.join(dest, label, f)).size > 1000)!;
    const bytes = readFileSync(path.join(dest, label, victim));
    bytes[bytes.length - 30]! ^= 0x01;
    // Rot keeps the file's size and time, as the copy job's rsync compares: a changed time
    // would have the next copy repair the file before the drill reads it.
    const { atime, mtime } = statSync(path.join(dest, label, victim));
    writeFileSync(path.join(dest, label, victim), bytes);
    utimesSync(path.join(dest, label, victim), atime, mtime);
    const failed = await runDrill(access);
    expect(failed).toMatchObject({ ok: false, label, lastSuccessAt: succeeded });
    expect(failed!.problems.join('\n')).toContain(victim);
    expect(await metrics()).toMatch(/^dataplane_backup_drill_last_result 0$/m);
    expect(await metrics()).toMatch(new RegExp(`^dataplane_backup_drill_last_success_timestamp_seconds ${Date.parse(succeeded) / 1000}$`, 'm'));
  });
});

describe('retention reaches the copy', () => {
  it('what prune removes here is removed from the copy, and nothing else', { timeout: 120_000 }, async () => {
    const paths = statePaths(stack.config);
    await createBackup(stack.access, { label: 'sealed-2' });
    const { f } = (await sql<{ f: string }>('select pg_walfile_name(pg_switch_wal()) as f'))[0]!;
    await waitFor(`WAL ${f} in the copy`, () => existsSync(path.join(dest, 'wal', `${f}.age`)) || undefined, 30_000, 200);
    const r = prune(paths, 1);
    expect(r.removedBackups).toEqual(['sealed-1']);
    expect(r.removedWal.length).toBeGreaterThan(0);
    await waitFor('sealed-1 gone from the copy', () => (!existsSync(path.join(dest, 'sealed-1')) ? true : undefined), 20_000, 200);
    await waitFor('sealed-2 complete in the copy', () => existsSync(path.join(dest, 'sealed-2', 'manifest.json')) || undefined, 20_000, 200);
    for (const w of r.removedWal) expect(existsSync(path.join(dest, 'wal', `${w}.age`)), w).toBe(false);
    expect(existsSync(path.join(dest, 'wal', `${f}.age`))).toBe(true);
  });
});
