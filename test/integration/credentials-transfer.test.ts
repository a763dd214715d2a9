/**
 * Credentials for the team's repository: exported from one stack encrypted with age,
 * imported on another machine, which then comes up with the same logins. A wrong key,
 * a changed byte and a key file others can read are refused; nothing decrypted is
 * written with a mode other than 0600; after a rotation the export says it is stale.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempProject, type Project } from '../helpers/cli.js';
import { credentials, find } from '../helpers/clients.js';

let a: Project;
let b: Project;
const keys: Record<'alice' | 'bob' | 'mallory', { file: string; recipient: string }> = {} as never;
let exported: string;

const mode = (f: string) => statSync(f).mode & 0o777;
const secretsOf = (p: Project) => JSON.parse(readFileSync(path.join(p.stateDir, 'secrets.json'), 'utf8')) as Record<string, Record<string, string>>;

beforeAll(async () => {
  a = await tempProject();
  b = await tempProject();
  const up = await a.run(['up', '--detach'], { timeoutMs: 120_000 });
  if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
  for (const who of ['alice', 'bob', 'mallory'] as const) {
    const file = path.join(a.dir, `${who}.key`);
    const r = await a.run(['credentials', 'keygen', '--out', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    keys[who] = { file, recipient: (JSON.parse(r.stdout) as { recipient: string }).recipient };
  }
  exported = path.join(a.dir, 'prod.credentials.age');
}, 180_000);

afterAll(async () => {
  await a?.cleanup();
  await b?.cleanup();
});

describe('credentials export', () => {
  it('keygen writes a private key only its owner reads and prints the public key', () => {
    expect(mode(keys.alice.file)).toBe(0o600);
    expect(keys.alice.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(readFileSync(keys.alice.file, 'utf8')).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
  });

  it('writes one age file for several recipients, 0600, with nothing in clear', async () => {
    const r = await a.run(['credentials', 'export', '--recipient', keys.alice.recipient, '--recipient', keys.bob.recipient, '--out', exported]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/encrypted for 2 recipient/);
    expect(mode(exported)).toBe(0o600);
    const text = readFileSync(exported, 'utf8');
    expect(text).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    for (const secret of Object.values(secretsOf(a)).flatMap((u) => Object.values(u))) expect(text).not.toContain(secret);
  });

  it('opens with the standard age tool: every login, URL and the CA certificate', () => {
    const r = spawnSync('age', ['-d', '-i', keys.bob.file, exported], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const bundle = JSON.parse(r.stdout) as { credentials: { service: string; user: string; url: string; password: string }[]; caCertificate: string; secrets: unknown };
    expect(bundle.secrets).toEqual(secretsOf(a));
    expect(bundle.caCertificate).toMatch(/BEGIN CERTIFICATE/);
    const app = bundle.credentials.find((c) => c.service === 'postgres' && c.user === 'app_rw')!;
    expect(app.url).toContain(app.password);
  });

  it('refuses a bad recipient, and no recipient at all, with a clear error', async () => {
    const bad = await a.run(['credentials', 'export', '--recipient', 'age1notakey', '--out', path.join(a.dir, 'x.age')]);
    expect(bad.code).toBe(9);
    expect(bad.stderr).toMatch(/"age1notakey" is not an age X25519 recipient/);
    const none = await a.run(['credentials', 'export', '--out', path.join(a.dir, 'y.age')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/name at least one recipient/);
    expect(existsSync(path.join(a.dir, 'x.age')) || existsSync(path.join(a.dir, 'y.age'))).toBe(false);
  });
});

describe('credentials import', () => {
  it('a key that is not a recipient is refused, and nothing is written', async () => {
    const r = await b.run(['credentials', 'import', exported, '--identity', keys.mallory.file]);
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/is not encrypted for this identity/);
    expect(existsSync(path.join(b.stateDir, 'secrets.json'))).toBe(false);
  });

  it('a file changed by one byte is refused', async () => {
    const text = readFileSync(exported, 'utf8');
    const lines = text.split('\n');
    // A character in the middle of the payload, swapped for another base64 character.
    const at = Math.floor(lines.length / 2);
    const line = lines[at]!;
    lines[at] = line.slice(0, 10) + (line[10] === 'A' ? 'B' : 'A') + line.slice(11);
    const tampered = path.join(a.dir, 'tampered.age');
    writeFileSync(tampered, lines.join('\n'), { mode: 0o600 });
    const r = await b.run(['credentials', 'import', tampered, '--identity', keys.bob.file]);
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/does not decrypt: it is damaged or was changed/);
    expect(existsSync(path.join(b.stateDir, 'secrets.json'))).toBe(false);
  });

  it('a key file others can read is refused', async () => {
    const loose = path.join(a.dir, 'loose.key');
    writeFileSync(loose, readFileSync(keys.bob.file));
    chmodSync(loose, 0o644);
    const r = await b.run(['credentials', 'import', exported, '--identity', loose]);
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/can be read by other users/);
    expect(r.stderr).toMatch(/chmod 600/);
  });

  it('installs the secrets 0600, and the second stack comes up with the same logins', { timeout: 150_000 }, async () => {
    const r = await b.run(['credentials', 'import', exported, '--identity', keys.bob.file]);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(b.stateDir, 'secrets.json');
    expect(mode(file)).toBe(0o600);
    expect(secretsOf(b)).toEqual(secretsOf(a));
    const up = await b.run(['up', '--detach'], { timeoutMs: 120_000 });
    expect(up.code, up.stderr).toBe(0);
    // Stack A's application password logs in to stack B's PostgreSQL.
    const fromA = find(await credentials(a), 'postgres', 'app_rw');
    const onB = find(await credentials(b), 'postgres', 'app_rw');
    expect(onB.password).toBe(fromA.password);
    const client = new pg.Client({ connectionString: onB.url });
    await client.connect();
    expect((await client.query('select current_user as u')).rows[0].u).toBe('app_rw');
    await client.end();
  });

  it('a stack with different secrets of its own keeps them unless --replace', async () => {
    const other = path.join(a.dir, 'other.age');
    // A's export again after a rotation differs from what B now holds.
    expect((await a.run(['credentials', 'rotate', 'redis', 'app'])).code).toBe(0);
    expect((await a.run(['credentials', 'export', '--recipient', keys.bob.recipient, '--out', other])).code).toBe(0);
    const r = await b.run(['credentials', 'import', other, '--identity', keys.bob.file]);
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/has credentials of its own/);
    expect(r.stderr).toMatch(/--replace/);
  });
});

describe('after a rotation', () => {
  it('the export is stale until exported again: credentials, rotate and doctor say so', async () => {
    const fresh = path.join(a.dir, 'fresh.age');
    expect((await a.run(['credentials', 'export', '--recipient', keys.alice.recipient, '--out', fresh])).code).toBe(0);
    const doctorOk = JSON.parse((await a.run(['doctor', '--json'])).stdout) as { name: string; status: string }[];
    expect(doctorOk.find((c) => c.name === 'credentials export')?.status).toBe('ok');

    const rotate = await a.run(['credentials', 'rotate', 'postgres', 'app_rw']);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr).toMatch(/are stale: secrets changed since/);
    expect((await a.run(['credentials'])).stderr).toMatch(/are stale/);
    const doctor = JSON.parse((await a.run(['doctor', '--json'])).stdout) as { name: string; status: string }[];
    expect(doctor.find((c) => c.name === 'credentials export')?.status).toBe('warn');

    expect((await a.run(['credentials', 'export', '--recipient', keys.alice.recipient, '--out', fresh])).code).toBe(0);
    expect((await a.run(['credentials'])).stderr).not.toMatch(/stale/);
  });
});
