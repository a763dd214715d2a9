/**
 * `dataplane soak --ephemeral` as a user runs it: a throw-away stack under its own
 * supervisor process, on a small tmpfs of its own; the supervisor is SIGKILLed and started
 * again, and the disk fills up and is freed. Every acknowledged write must survive, the
 * report and the stack's logs are written, and nothing is left behind (processes, mount).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SoakResult } from '../../src/soak/run.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-soak-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dataplane soak --ephemeral', () => {
  it('survives a supervisor crash and a full disk with the ledger clean, and leaves nothing behind', { timeout: 330_000 }, async () => {
    const schedule = path.join(dir, 'faults.json');
    writeFileSync(schedule, JSON.stringify([{ atSec: 10, kind: 'restart-supervisor' }, { atSec: 25, kind: 'fill-disk', forSec: 8 }]));
    const out = path.join(dir, 'report');
    const r = await runCli(['soak', '--ephemeral', '--disk-size', '384mb', '--duration', '50s', '--writes', '30', '--telemetry', '400', '--faults', schedule, '--out', out], dir, { timeoutMs: 320_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^Ledger clean: \d+ rows acknowledged, 0 lost; 0 events not applied, 0 applied twice; (\d+)\/\1 malformed events dead-lettered; \d+ telemetry batches \(\d+ rows\), 0 lost, 0 written twice/);
    expect(r.stderr).toContain('on a 384MB tmpfs');
    expect(r.stderr).toMatch(/fault 1\/2: restart-supervisor supervisor at 1\d(\.\d)? s, answering again at \d+(\.\d)? s/);

    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as SoakResult;
    expect(report.faults.map((f) => [f.kind, f.recoveredAt !== null])).toEqual([
      ['restart-supervisor', true],
      ['fill-disk', true],
    ]);
    // The disk really filled up: writes failed while it was full, and came back after.
    const during = report.buckets.filter((b) => b.t >= 25 && b.t < 35);
    expect(during.some((b) => Object.keys(b.ops.write?.errors ?? {}).length > 0 || (b.ops.write?.ok ?? 0) < 100)).toBe(true);
    expect(report.buckets.find((b) => b.t === 40)!.ops.write!.ok).toBeGreaterThan(200);
    // A new supervisor took over: its log names both starts.
    const supervisorLog = readFileSync(path.join(out, 'logs', 'supervisor.log'), 'utf8');
    // What the full disk did this time (it varies: NATS may turn JetStream off, or wedge until the watchdog restarts it).
    console.log(`[soak-cli] faults ${JSON.stringify(report.faults)}; watchdog: ${supervisorLog.split('\n').filter((l) => /watchdog|restarting it/.test(l)).join(' | ') || 'nothing'}`);
    expect(supervisorLog.match(/"msg":"stack ready"/g)!.length).toBeGreaterThanOrEqual(2);
    // The stack's folder and its tmpfs are gone.
    const stateDir = /state {8}(\S+)/.exec(r.stderr)![1]!;
    expect(existsSync(stateDir)).toBe(false);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(stateDir);
  });
});
