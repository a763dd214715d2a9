/**
 * The off-host copy over SSH, against a real sshd: the backup host is a network
 * namespace this test creates (sshd on its own address, a host key and one authorized
 * key made here), the copy runs from a client namespace with `dataplane backup copy`,
 * and `backup verify --drill --from-copy` restores from what reached the SSH host.
 * A host key that does not match known_hosts is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/lib/age.js';
import { CLI, tempProject, type Project } from '../helpers/cli.js';
import { createLab, must, sh, type Lab } from '../helpers/netns-hosts.js';
import { waitFor } from '../helpers/processes.js';

let lab: Lab;
let project: Project;
let dir: string;
let sshd: ChildProcess | undefined;
let copyDir: string;

/** The CLI run inside the client namespace (the stack's files are shared; its network is the lab's). */
function cliInApp(args: string[], timeoutMs = 120_000) {
  return sh('ip', ['netns', 'exec', lab.ns.app!, process.execPath, CLI, '--config', path.join(project.dir, 'dataplane.config.yaml'), ...args], { env: { NO_COLOR: '1' }, timeoutMs });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-ssh-'));
  lab = createLab([{ name: 'app', octet: 10 }, { name: 'vault', octet: 20 }], 100 + Math.floor(Math.random() * 100));
  // The backup host: a host key, the client's key authorized, sshd on the namespace's address only.
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'client_key')]);
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'other_host_key')]);
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_key.pub')), { mode: 0o600 });
  const vault = lab.address.vault!;
  writeFileSync(path.join(dir, 'known_hosts'), `${vault} ${readFileSync(path.join(dir, 'host_key.pub'), 'utf8')}`);
  writeFileSync(path.join(dir, 'wrong_known_hosts'), `${vault} ${readFileSync(path.join(dir, 'other_host_key.pub'), 'utf8')}`);
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `ListenAddress ${vault}`,
      'Port 22',
      `HostKey ${path.join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PidFile none',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  sshd = spawn('ip', ['netns', 'exec', lab.ns.vault!, '/usr/sbin/sshd', '-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let sshdLog = '';
  sshd.stderr!.on('data', (d: Buffer) => (sshdLog += d.toString()));
  await waitFor('sshd listening', () => (sh('ip', ['netns', 'exec', lab.ns.app!, 'bash', '-c', `exec 3<>/dev/tcp/${vault}/22`]).status === 0 ? true : undefined), 15_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}; sshd said: ${sshdLog}`);
  });

  copyDir = path.join(dir, 'vault', 'dataplane');
  const { identity, recipient } = await generateKeyPair();
  writeFileSync(path.join(dir, 'backup.key'), identity + '\n', { mode: 0o600 });
  project = await tempProject({
    backup: {
      intervalHours: 0,
      archiveTimeoutSec: 0,
      encryption: { recipients: [recipient], identityFile: path.join(dir, 'backup.key') },
      offsite: { destination: `root@${vault}:${copyDir}`, sshIdentityFile: path.join(dir, 'client_key'), sshKnownHostsFile: path.join(dir, 'known_hosts'), intervalSec: 3600 },
    },
  });
  const up = await project.run(['up', '--detach'], { timeoutMs: 150_000 });
  if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
}, 240_000);

afterAll(async () => {
  await project?.cleanup();
  if (sshd?.pid) {
    sshd.kill('SIGTERM');
  }
  lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('off-host copy over SSH', () => {
  it('a backup taken where the SSH host is out of reach is kept, and the failed copy is a warning', async () => {
    // This machine's own namespace has no route to the lab: the copy fails, the backup stands.
    const r = await project.run(['backup', 'create', '--label', 'ssh-1'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the off-host copy failed: rsync to root@.* failed/);
    expect(existsSync(path.join(project.stateDir, 'backups', 'ssh-1', 'manifest.json'))).toBe(true);
  });

  it('`backup copy` from a host that reaches it puts the sealed backup and WAL on the SSH host', () => {
    const r = cliInApp(['backup', 'copy', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ destination: expect.stringMatching(/^root@/) });
    expect(existsSync(path.join(copyDir, 'ssh-1', 'manifest.json'))).toBe(true);
    const wal = readdirSync(path.join(copyDir, 'wal'));
    expect(wal.length).toBeGreaterThan(0);
    for (const w of wal) expect(w).toMatch(/\.age$/);
  });

  it('`backup verify --drill --from-copy` restores from what reached the SSH host', () => {
    const r = cliInApp(['backup', 'verify', 'ssh-1', '--drill', '--from-copy', '--json'], 180_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const [result] = JSON.parse(r.stdout) as { ok: boolean; source: string; problems: string[]; drill: { tables: number } }[];
    expect(result).toMatchObject({ ok: true, source: 'copy', problems: [] });
    expect(result!.drill.tables).toBeGreaterThan(0);
  });

  it('a host key that is not the known one is refused, with what to check', () => {
    const cfg = path.join(project.dir, 'dataplane.config.yaml');
    const text = readFileSync(cfg, 'utf8');
    writeFileSync(cfg, text.replace(path.join(dir, 'known_hosts'), path.join(dir, 'wrong_known_hosts')));
    try {
      const r = cliInApp(['backup', 'copy']);
      expect(r.status).toBe(14);
      expect(r.stderr).toMatch(/Host key verification failed/);
      expect(r.stderr).toMatch(/hint: .*sshKnownHostsFile/);
    } finally {
      writeFileSync(cfg, text);
    }
  });
});
