/**
 * Binaries answer for their version once while the file stays the same: a warm start
 * does not start every server binary twice just to ask.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandNamed } from '../../src/cli/registry.js';
import { findWorkingBinary, saveBinaryAnswers, versionOutput } from '../../src/lib/packages.js';

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
