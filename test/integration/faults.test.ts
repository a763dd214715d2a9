/**
 * Bad input and a hostile machine: invalid config, a taken port, a missing binary
 * and stale pid files each give a clear error, and a failed start leaves nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BinaryNotFoundError } from '../../src/errors/index.js';
import { requireBinary } from '../../src/lib/packages.js';
import { processStartTime } from '../../src/lib/process.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { thrown, waitFor } from '../helpers/processes.js';

const projects: Project[] = [];
afterEach(async () => {
  for (const p of projects.splice(0)) await p.cleanup();
});

async function project(extra: Record<string, unknown> = {}): Promise<Project> {
  const p = await tempProject(extra);
  projects.push(p);
  return p;
}

describe('invalid config', () => {
  it('exits 2, lists every problem with its path, and starts nothing', async () => {
    const p = await project({ redis: { maxmemory: 'lots', maxmemoryPolicy: 'sometimes' }, nats: { port: 0 }, postgres: { prot: 5 } });
    const r = await p.run(['up', '--detach'], { env: { DATAPLANE_HEALTH_PORT: 'eighty' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('redis.maxmemory: expected "auto" or a size like 512mb');
    expect(r.stderr).toContain('redis.maxmemoryPolicy: expected one of');
    expect(r.stderr).toContain('nats.port: expected a TCP port number (1-65535)');
    expect(r.stderr).toContain('postgres.prot: unknown field (did you mean port?)');
    expect(r.stderr).toContain('health.port: expected a TCP port number (1-65535) (from DATAPLANE_HEALTH_PORT)');
    expect(existsSync(p.stateDir)).toBe(false);
  });

  it('doctor reports config problems as failed checks', async () => {
    const p = await project({ redis: { maxmemory: 'lots' } });
    const r = await p.run(['doctor', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toContainEqual(expect.objectContaining({ name: 'config', status: 'fail', detail: 'redis.maxmemory: expected "auto" or a size like 512mb' }));
  });
});

describe('port already in use', () => {
  it('names the port and the service, and nothing is left half-started', async () => {
    const p = await project();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(p.ports.nats, '127.0.0.1', r));
    try {
      const r = await p.run(['up', '--detach']);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain(`port ${p.ports.nats} on 127.0.0.1 is already in use; nats cannot listen there`);
      expect(r.stderr).toContain('nats.port');
      expect(readdirSync(path.join(p.stateDir, 'run'))).toEqual([]);
      // PostgreSQL comes first in the start order; it must not have been started.
      expect(existsSync(path.join(p.stateDir, 'pg'))).toBe(false);
      const doctor = await p.run(['doctor', '--json']);
      expect(JSON.parse(doctor.stdout)).toContainEqual(expect.objectContaining({ name: `port ${p.ports.nats}`, status: 'fail' }));
    } finally {
      blocker.close();
    }
  });

  it('a server that fails after others started unwinds them (foreign listener on the monitor port appears late)', async () => {
    // nats.monitorPort is free at preflight, then taken before NATS starts: NATS exits,
    // and PostgreSQL and Redis, already running, must be stopped again.
    const p = await project();
    const child = p.spawn(['up']);
    let out = '';
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('starting nats') && !blocker.listening) blocker.listen(p.ports.natsMonitor, '127.0.0.1');
    });
    const blocker = net.createServer();
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    blocker.close();
    expect(code).toBe(7);
    expect(out).toMatch(/nats failed to start: exited with code 1 during start-up/);
    expect(out).toMatch(/stopping redis/);
    expect(out).toMatch(/stopping postgres/);
    expect(readdirSync(path.join(p.stateDir, 'run'))).toEqual([]);
  });
});

describe('missing binaries', () => {
  it('names what provides a missing PostgreSQL', async () => {
    const p = await project({ postgres: { binDir: '/nonexistent/pg16/bin' } });
    const r = await p.run(['up', '--detach']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('/nonexistent/pg16/bin/postgres was not found');
    expect(r.stderr).toMatch(/hint: .*postgres\.binDir/);
  });

  it('names the Debian package of a missing server binary', () => {
    const e = thrown(() => requireBinary({ binary: 'no-such-server-xyz', package: 'no-such-package' }));
    expect(e).toBeInstanceOf(BinaryNotFoundError);
    expect(e).toMatchObject({ code: 'BINARY_NOT_FOUND', exitCode: 4, hint: 'install the Debian package: apt-get install -y no-such-package' });
  });
});

describe('stale pid files', () => {
  it('are detected and cleaned; a reused PID is never signalled', async () => {
    const p = await project();
    const run = path.join(p.stateDir, 'run');
    mkdirSync(run, { recursive: true });
    // A dead supervisor, and a "redis" pid file whose PID now belongs to this test
    // process (PID reuse): the start time differs, so it must be left alone.
    const dead = spawnSync('true').pid!;
    writeFileSync(path.join(run, 'supervisor.pid'), JSON.stringify({ pid: dead, startTime: 1, command: 'dataplane' }));
    writeFileSync(path.join(run, 'redis.pid'), JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid)! + 1, command: 'redis-server' }));
    const doctor = await p.run(['doctor', '--json']);
    expect(JSON.parse(doctor.stdout)).toContainEqual(expect.objectContaining({ name: 'pid files', status: 'warn' }));

    const r = await p.run(['up', '--detach']);
    expect(r.code, r.stderr).toBe(0);
    const logs = await p.run(['logs', 'supervisor']);
    expect(logs.stdout).toMatch(/removed stale pid files: run\/redis\.pid, run\/supervisor\.pid/);
    expect(logs.stdout).not.toMatch(/stopped redis/);
    expect((await p.run(['status'])).code).toBe(0);
  });
});

describe('a detached start whose caller goes away', () => {
  it('the background supervisor finishes starting and supervises; nothing is orphaned', async () => {
    const p = await project();
    // The `up --detach` process is killed as soon as it prints progress (a closed terminal,
    // output piped into `head`): the daemon it started must not die with it.
    const caller = p.spawn(['up', '--detach']);
    await new Promise<void>((resolve) => caller.stderr!.once('data', () => resolve()));
    caller.kill('SIGKILL');
    const log = path.join(p.stateDir, 'logs', 'supervisor.log');
    await waitFor('the supervisor to be ready', () => (existsSync(log) && /"stack ready"|ERR_IPC_CHANNEL_CLOSED/.test(readFileSync(log, 'utf8')) ? true : undefined), 60_000, 250);
    expect(readFileSync(log, 'utf8')).toMatch(/"stack ready"/);
    expect((await p.run(['status'])).code).toBe(0);
  });
});
