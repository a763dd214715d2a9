/**
 * The process manager on real child processes (small HTTP servers, so no database
 * is needed): several instances of one driver, readiness raced against an early
 * exit, a restart with backoff after SIGKILL that leaves the other instance alone,
 * and stops by the PID it started.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { statePaths } from '../../src/config/paths.js';
import { parseConfig } from '../../src/config/load.js';
import { ServerStartError } from '../../src/errors/index.js';
import { freePorts } from '../../src/lib/ports.js';
import { isAlive, terminate } from '../../src/lib/process.js';
import type { ServerContext, ServerDriver } from '../../src/servers/types.js';
import type { Access } from '../../src/connect/access.js';
import { WatchdogJob } from '../../src/stack/jobs/watchdog.js';
import { ProcessManager } from '../../src/stack/process-manager.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-pm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = parseConfig({ stateDir: dir, supervisor: { restartDelayMs: 100, startTimeoutMs: 5000, stopTimeoutMs: 5000 } });
const paths = statePaths(config);
const logs: string[] = [];
const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };

/** A driver whose server is `node -e <http server>` on `port`; `exitAtOnce` makes it die at start. */
function httpDriver(port: number, exitAtOnce = false): ServerDriver {
  const script = exitAtOnce ? "console.error('refusing to start: broken config'); process.exit(3)" : `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
  return {
    name: 'node-exporter',
    instances: () => ['web-1', 'web-2'],
    locate: async () => ({ server: process.execPath, version: process.versions.node }),
    ports: () => [{ host: '127.0.0.1', port, configPath: 'test' }],
    address: () => `127.0.0.1:${port}`,
    render: () => [],
    prepare: async () => {},
    command: () => ({ bin: process.execPath, args: ['-e', script], cwd: dir }),
    async probe() {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
      return { version: await res.text(), latencyMs: performance.now() - t0 };
    },
    reload: async () => {},
    stop: async (_a, rec, timeoutMs) => void (await terminate(rec, 'SIGTERM', timeoutMs)),
  };
}

const ctx = { config, secrets: {}, paths, user: { name: 'me', uid: 0, gid: 0, dropsPrivileges: false }, binaries: { server: process.execPath, version: '' } } as unknown as ServerContext;

describe('process manager', () => {
  it('runs two instances of one driver, restarts the one that is killed, and stops both by their PIDs', async () => {
    const [p1, p2] = await freePorts(2);
    const pm = new ProcessManager({ paths, supervisor: config.supervisor, logger });
    const a = pm.add(httpDriver(p1!), ctx, 'web-1');
    const b = pm.add(httpDriver(p2!), ctx, 'web-2');
    expect(() => pm.add(httpDriver(p2!), ctx, 'web-2')).toThrow(ServerStartError);
    await pm.launch(a);
    await pm.launch(b);
    expect(pm.snapshot().map((s) => [s.name, s.state])).toEqual([['web-1', 'running'], ['web-2', 'running']]);
    expect(existsSync(paths.pidFile('web-1')) && existsSync(paths.pidFile('web-2'))).toBe(true);

    const first = a.rec!.pid;
    const other = b.rec!.pid;
    process.kill(first, 'SIGKILL');
    await waitFor('web-1 to be restarted', () => (a.state === 'running' && a.rec!.pid !== first ? true : undefined), 10_000, 50);
    expect(a.restarts).toBe(1);
    expect(a.lastExit).toBe('killed by SIGKILL');
    expect(b.rec!.pid).toBe(other);
    expect(b.restarts).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${p1}/`)).text()).toBe('ok');

    const pids = [a.rec!.pid, b.rec!.pid];
    pm.shutdown();
    await pm.stop(b);
    await pm.stop(a);
    await expectAllGone(pids);
    expect(existsSync(paths.pidFile('web-1')) || existsSync(paths.pidFile('web-2'))).toBe(false);
    expect(pm.snapshot().map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });

  it('the watchdog restarts an instance its driver calls stuck (two checks in a row), and leaves the others alone', async () => {
    const [p1, p2] = await freePorts(2);
    const pm = new ProcessManager({ paths, supervisor: config.supervisor, logger });
    let wedged: number | undefined;
    // Stuck while its pid is the one marked: as NATS is once JetStream turned itself off, until a restart.
    const stuckDriver = (port: number): ServerDriver => ({ ...httpDriver(port), stuck: async (_a, instance) => (pm.find(instance)!.rec!.pid === wedged ? 'wedged' : undefined) });
    const a = pm.add(stuckDriver(p1!), ctx, 'web-1');
    const b = pm.add(stuckDriver(p2!), ctx, 'web-2');
    await pm.launch(a);
    await pm.launch(b);
    const watchdog = new WatchdogJob(() => ({}) as Access, pm, logger, { everyMs: 100, unresponsiveMs: 0 });
    watchdog.start();
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect([a.restarts, b.restarts]).toEqual([0, 0]);
      const first = (wedged = a.rec!.pid);
      const other = b.rec!.pid;
      await waitFor('web-1 to be restarted', () => (a.state === 'running' && a.rec!.pid !== first ? true : undefined), 10_000, 50);
      expect(isAlive(first)).toBe(false);
      expect(a.restarts).toBe(1);
      expect(a.lastExit).toBe('wedged');
      expect(b.rec!.pid).toBe(other);
      expect(logs).toContain('web-1 wedged; restarting it');
      expect(await (await fetch(`http://127.0.0.1:${p1}/`)).text()).toBe('ok');
    } finally {
      await watchdog.stop();
      pm.shutdown();
      await pm.stop(b);
      await pm.stop(a);
    }
  });

  it('the watchdog restarts an instance whose probe has failed for too long while it lives (frozen), and only that one', async () => {
    const [p1, p2] = await freePorts(2);
    const pm = new ProcessManager({ paths, supervisor: config.supervisor, logger });
    const a = pm.add({ ...httpDriver(p1!), restartWhenUnresponsive: true }, ctx, 'web-1');
    const b = pm.add({ ...httpDriver(p2!), restartWhenUnresponsive: true }, ctx, 'web-2');
    await pm.launch(a);
    await pm.launch(b);
    const watchdog = new WatchdogJob(() => ({}) as Access, pm, logger, { everyMs: 100, unresponsiveMs: 1000 });
    watchdog.start();
    const frozen = a.rec!.pid;
    try {
      // Alive, holding its port, answering nothing: what a wedged server looks like from outside.
      process.kill(frozen, 'SIGSTOP');
      await waitFor('web-1 to be restarted', () => (a.state === 'running' && a.rec!.pid !== frozen ? true : undefined), 20_000, 50);
      expect(isAlive(frozen)).toBe(false);
      expect(a.lastExit).toMatch(/^has not answered its probe for \d+ s \(last: /);
      expect(b.restarts).toBe(0);
      expect(await (await fetch(`http://127.0.0.1:${p1}/`)).text()).toBe('ok');
    } finally {
      if (isAlive(frozen)) process.kill(frozen, 'SIGKILL');
      await watchdog.stop();
      pm.shutdown();
      await pm.stop(b);
      await pm.stop(a);
    }
  });

  it('a process that exits during start-up fails the launch with its log, and leaves nothing running', async () => {
    const [port] = await freePorts(1);
    const pm = new ProcessManager({ paths, supervisor: config.supervisor, logger });
    const m = pm.add(httpDriver(port!, true), ctx, 'broken');
    const err = await pm.launch(m).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as ServerStartError).message).toMatch(/broken failed to start: exited with code 3 during start-up/);
    expect((err as ServerStartError).message).toMatch(/refusing to start: broken config/);
    expect(isAlive(m.rec!.pid)).toBe(false);
    expect(existsSync(paths.pidFile('broken'))).toBe(false);
  });
});
