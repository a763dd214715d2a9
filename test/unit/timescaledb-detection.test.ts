/**
 * TimescaleDB is preloaded only where its files are installed next to the server,
 * and `required` refuses to start without it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { thrown } from '../helpers/processes.js';
import { parseConfig } from '../../src/config/load.js';
import { GiB } from '../../src/lib/sizes.js';
import { ConfigError } from '../../src/errors/index.js';
import { timescaledbInstalled } from '../../src/servers/postgres.js';
import { planTuning, resolveTimescale } from '../../src/stack/plan.js';

const roots: string[] = [];
afterAll(() => roots.forEach((d) => rmSync(d, { recursive: true, force: true })));

function fakeInstall(withTimescale: boolean) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dataplane-pgshare-'));
  roots.push(root);
  const shareDir = path.join(root, 'share', 'postgresql');
  mkdirSync(path.join(shareDir, 'extension'), { recursive: true });
  if (withTimescale) writeFileSync(path.join(shareDir, 'extension', 'timescaledb.control'), "default_version = '2.15.3'\n");
  return { server: path.join(root, 'bin', 'postgres'), version: '16.14', shareDir };
}

const machine = { cpus: 4, memory: 8 * GiB, disk: 100 * GiB };

describe('TimescaleDB detection', () => {
  it('preloads timescaledb and sizes its workers when the extension is installed', () => {
    const binaries = { postgres: fakeInstall(true) };
    expect(timescaledbInstalled(binaries.postgres)).toBe(true);
    const plan = planTuning(parseConfig({}), { binaries, machine });
    expect(plan.timescaledb).toEqual({ installed: true, enabled: true });
    expect(plan.tuning.postgres.shared_preload_libraries!.value).toBe('pg_stat_statements,timescaledb');
    expect(plan.tuning.postgres['timescaledb.max_background_workers']!.value).toBe(8);
  });

  it('leaves it out when absent, or when turned off', () => {
    const absent = planTuning(parseConfig({}), { binaries: { postgres: fakeInstall(false) }, machine });
    expect(absent.timescaledb).toEqual({ installed: false, enabled: false });
    expect(absent.tuning.postgres.shared_preload_libraries!.value).toBe('pg_stat_statements');
    expect(absent.tuning.postgres).not.toHaveProperty(['timescaledb.max_background_workers']);
    const off = planTuning(parseConfig({ postgres: { timescaledb: 'off' } }), { binaries: { postgres: fakeInstall(true) }, machine });
    expect(off.timescaledb).toEqual({ installed: true, enabled: false });
  });

  it('"required" without the extension is a configuration error naming the field', () => {
    const e = thrown(() => resolveTimescale(parseConfig({ postgres: { timescaledb: 'required' } }), fakeInstall(false)));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['postgres.timescaledb']);
  });
});
