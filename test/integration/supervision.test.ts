/**
 * Supervision under faults: a server killed with SIGKILL is back within 5 seconds
 * and /readyz returns 200 again; Ctrl-C stops everything; a supervisor that crashes
 * leaves servers that the next `up` stops and replaces.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/lib/process.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { pidOf } from '../helpers/clients.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

let project: Project;
let up: ChildProcess;
let output = '';

async function readyz(): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${project.ports.health}/readyz`)).status;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  project = await tempProject();
  up = project.spawn(['up']);
  up.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  up.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor('the foreground supervisor to be ready', () => output.includes('Ctrl-C stops the stack') || undefined, 60_000);
});

afterAll(async () => {
  if (up.exitCode === null) up.kill('SIGTERM');
  await project.cleanup();
});

describe('foreground supervision', () => {
  it.each(['postgres', 'redis', 'nats'])('restarts %s within 5 seconds of SIGKILL', async (service) => {
    expect(await readyz()).toBe(200);
    const before = pidOf(project, service);
    process.kill(before, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(`${service} to be replaced and ready`, async () => {
      let now: number | undefined;
      try {
        now = pidOf(project, service);
      } catch {
        return undefined;
      }
      return now !== before && isAlive(now) && (await readyz()) === 200 ? true : undefined;
    }, 5_000, 50);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(output).toMatch(new RegExp(`${service} \\(pid ${before}\\) killed by SIGKILL; restarting`));
  });

  it('/readyz says which component is down while it is down', async () => {
    const pid = pidOf(project, 'redis');
    process.kill(pid, 'SIGSTOP'); // frozen: the process lives but cannot answer
    try {
      const res = await fetch(`http://127.0.0.1:${project.ports.health}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { components: Record<string, { status: string; reason?: string }> };
      expect(body.components.redis!.status).toBe('down');
      expect(body.components.redis!.reason).toBeTruthy();
      expect(body.components.postgres!.status).toBe('up');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('Ctrl-C (SIGINT) stops every server and the supervisor exits 0', async () => {
    const pids = ['postgres', 'redis', 'nats'].map((s) => pidOf(project, s));
    const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
    up.kill('SIGINT');
    expect(await exited).toBe(0);
    await expectAllGone(pids);
    expect(output).toContain('stack stopped');
  });
});

describe('supervisor crash', () => {
  it('the next `up` stops the orphaned servers by PID and starts fresh ones', async () => {
    const r = await project.run(['up', '--detach']);
    expect(r.code, r.stderr).toBe(0);
    const orphans = ['postgres', 'redis', 'nats'].map((s) => pidOf(project, s));
    const supervisor = pidOf(project, 'supervisor');
    process.kill(supervisor, 'SIGKILL');
    await expectAllGone([supervisor]);

    const st = await project.run(['status', '--json']);
    expect(st.code).toBe(3);
    const json = JSON.parse(st.stdout) as { supervisor: unknown; services: { status: string; reason: string }[] };
    expect(json.supervisor).toBeNull();
    for (const s of json.services) expect(s.reason).toMatch(/no supervisor/);

    const again = await project.run(['up', '--detach']);
    expect(again.code, again.stderr).toBe(0);
    await expectAllGone(orphans);
    const logs = await project.run(['logs', 'supervisor', '-n', '40']);
    expect(logs.stdout).toMatch(/stopped postgres \(pid \d+\) left running by a supervisor that crashed/);
    expect(logs.stdout).toMatch(/removed stale pid files/);
    expect((await project.run(['status'])).code).toBe(0);
  });
});
