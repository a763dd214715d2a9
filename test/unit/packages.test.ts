/**
 * Binaries answer for their version once while the file stays the same: a warm start
 * does not start every server binary twice just to ask.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandNamed } from '../../src/cli/registry.js';
import { findBinary, findWorkingBinary, REQUIREMENTS, saveBinaryAnswers, versionOutput } from '../../src/lib/packages.js';
import { atLeast, downloadPinnedDeb, NATS_SERVER_DEB, parseVersion } from '../../src/lib/pinned-debs.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-binaries-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('binary version answers', () => {
  it('are asked once while the binary is unchanged, and again once it changes', async () => {
    const bin = path.join(dir, 'fake-server');
    const runs = path.join(dir, 'runs');
    writeFileSync(runs, '');
    writeFileSync(bin, `#!/bin/sh\necho run >> ${runs}\necho "fake-server v1.2.3"\n`);
    chmodSync(bin, 0o755);
    const count = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
    expect((await versionOutput(bin)).stdout).toBe('fake-server v1.2.3\n');
    expect((await versionOutput(bin)).stdout).toBe('fake-server v1.2.3\n');
    expect(count()).toBe(1);
    // An upgrade rewrites the file: asked again.
    writeFileSync(bin, `#!/bin/sh\necho run >> ${runs}\necho "fake-server v1.2.4"\n`);
    utimesSync(bin, new Date(), new Date(Date.now() + 5000));
    expect((await versionOutput(bin)).stdout).toBe('fake-server v1.2.4\n');
    expect(count()).toBe(2);
    saveBinaryAnswers(path.join(dir, 'binaries.json'));
    expect(readFileSync(path.join(dir, 'binaries.json'), 'utf8')).toContain('v1.2.4');
  });

  it('a binary that fails is asked every time, never remembered as working', async () => {
    const bin = path.join(dir, 'broken');
    writeFileSync(bin, '#!/bin/sh\nexit 3\n');
    chmodSync(bin, 0o755);
    expect((await versionOutput(bin)).code).toBe(3);
    expect(findWorkingBinary(bin)).toBeUndefined();
  });
});

describe('the CLI loads only the command it runs', () => {
  it('finds the command after global options', () => {
    expect(commandNamed(['-c', 'up', 'status', '--json'])).toBe('status');
    expect(commandNamed(['--config', 'x.yaml', 'up', '--detach'])).toBe('up');
    expect(commandNamed(['--help'])).toBeUndefined();
    expect(commandNamed(['help', 'up'])).toBeUndefined();
    expect(commandNamed(['no-such-command'])).toBeUndefined();
  });
});

describe('nats-server pinned from Debian trixie', () => {
  it('counts an older nats-server as missing, a newer one as good', () => {
    const min = NATS_SERVER_DEB.minVersion;
    expect(atLeast(parseVersion('nats-server: v2.9.10')!, min)).toBe(false);
    expect(atLeast(parseVersion('nats-server: v2.10.3')!, min)).toBe(false);
    expect(atLeast(parseVersion('nats-server: v2.10.27')!, min)).toBe(true);
    expect(atLeast(parseVersion('nats-server: v2.11.0')!, min)).toBe(true);
    expect(atLeast(parseVersion('v3.0.0')!, min)).toBe(true);
    expect(parseVersion('no version here')).toBeUndefined();
    expect(REQUIREMENTS.natsServer.pinned).toBe(NATS_SERVER_DEB);
  });

  it('the test setup installed it: the machine runs the pinned version or newer', async () => {
    const bin = findBinary('nats-server');
    expect(bin).toBeDefined();
    const v = parseVersion((await versionOutput(bin!)).stdout);
    expect(v && atLeast(v, NATS_SERVER_DEB.minVersion), `nats-server ${v?.join('.')}`).toBe(true);
  });

  it('downloads the file whose SHA-256 is pinned and refuses one that differs', { timeout: 120_000 }, async () => {
    const file = await downloadPinnedDeb(NATS_SERVER_DEB, 'amd64');
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(NATS_SERVER_DEB.files.amd64!.sha256);
    rmSync(path.dirname(file), { recursive: true, force: true });
    const tampered = { ...NATS_SERVER_DEB, files: { amd64: { ...NATS_SERVER_DEB.files.amd64!, sha256: '0'.repeat(64) } } };
    await expect(downloadPinnedDeb(tampered, 'amd64')).rejects.toThrow(/not the pinned/);
    await expect(downloadPinnedDeb(NATS_SERVER_DEB, 'riscv64')).rejects.toThrow(/amd64 and arm64 only/);
  });
});
