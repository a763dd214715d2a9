import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCompressed, extractCompressed, storeCompressed } from '../../src/backup/files.js';
import { generateKeyPair } from '../../src/lib/age.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sealed backup files', () => {
  it('round trip: stored encrypted, extracted with the identity, checksums of the original bytes', async () => {
    const { identity, recipient } = await generateKeyPair();
    const src = path.join(dir, 'src');
    writeFileSync(src, Buffer.alloc(300_000, 'relation page '));
    const stored = await storeCompressed(src, path.join(dir, 'src.gz.age'), { recipients: [recipient] });
    expect(readFileSync(path.join(dir, 'src.gz.age')).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(await checkCompressed(path.join(dir, 'src.gz.age'), { identities: [identity] })).toEqual(stored);
    expect(await extractCompressed(path.join(dir, 'src.gz.age'), path.join(dir, 'out'), 0o600, { identities: [identity] })).toEqual(stored);
    expect(readFileSync(path.join(dir, 'out')).equals(readFileSync(src))).toBe(true);
  });

  it('a file that vanished while being stored fails with ENOENT, as a plain copy does (a dropped table)', async () => {
    const { recipient } = await generateKeyPair();
    await expect(storeCompressed(path.join(dir, 'gone'), path.join(dir, 'gone.gz.age'), { recipients: [recipient] })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(storeCompressed(path.join(dir, 'gone'), path.join(dir, 'gone.gz'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('another key is refused in words', async () => {
    const mine = await generateKeyPair();
    const other = await generateKeyPair();
    const src = path.join(dir, 'small');
    writeFileSync(src, 'x');
    await storeCompressed(src, path.join(dir, 'small.gz.age'), { recipients: [mine.recipient] });
    await expect(checkCompressed(path.join(dir, 'small.gz.age'), { identities: [other.identity] })).rejects.toThrow(/is not encrypted for this identity/);
  });
});
