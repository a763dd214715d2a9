/**
 * The CLI end to end, as a user runs it: first `up` on an empty state dir, status,
 * credentials that work with the Debian clients, data that survives down + up.
 * The first `up` runs once for the file; every test can also run alone (`-t`): a
 * test that needs the stack and finds it down (after `down`) brings it up again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StackStatus } from '../../src/stack/status.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { credentials, find, pidOf } from '../helpers/clients.js';
import { natsConnect, pgClient, redisClient } from '../helpers/connect.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

let project: Project;
/** The first `up --detach` of the file, and whether the state directory existed before it. */
let first: { code: number | null; stdout: string; stderr: string; stateDirExisted: boolean };
/** Whether the stack should be running now (`down` tests change it). */
let running = false;

beforeAll(async () => {
  project = await tempProject();
  const stateDirExisted = existsSync(project.stateDir);
  first = { ...(await project.run(['up', '--detach'])), stateDirExisted };
  running = first.code === 0;
}, 120_000);

afterAll(async () => {
  await project.cleanup();
});

/** The stack is up: after a `down` test, `up` again. */
async function ensureUp(): Promise<void> {
  if (running) return;
  const r = await project.run(['up', '--detach']);
  expect(r.code, r.stderr).toBe(0);
  running = true;
}

async function status(): Promise<{ code: number | null; json: StackStatus }> {
  const r = await project.run(['status', '--json']);
  return { code: r.code, json: JSON.parse(r.stdout) as StackStatus };
}

describe('dataplane CLI lifecycle', () => {
  beforeEach(ensureUp);

  it('first `up --detach` initialises an empty state dir and prints the table', () => {
    expect(first.stateDirExisted).toBe(false);
    const r = first;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('initializing the PostgreSQL data directory');
    for (const service of ['postgres', 'redis', 'nats']) expect(r.stdout).toMatch(new RegExp(`^${service}\\s+\\S+\\s+127\\.0\\.0\\.1:\\d+\\s+running\\s+\\d+`, 'm'));
    expect(r.stdout).toContain('dataplane credentials');
    expect(r.stdout).toContain(`http://127.0.0.1:${project.ports.health}/readyz`);
  });

  it('`status --json` reports every service healthy, with versions and pids', async () => {
    const { code, json } = await status();
    expect(code).toBe(0);
    expect(json).toMatchObject({
      stateDir: project.stateDir,
      healthy: true,
      supervisor: { pid: expect.any(Number), startedAt: expect.any(String) },
      health: { url: `http://127.0.0.1:${project.ports.health}` },
      timescaledb: { installed: false, enabled: false },
    });
    expect(json.services.map((s) => [s.name, s.status, s.address])).toEqual([
      ['postgres', 'running', `127.0.0.1:${project.ports.postgres}`],
      ['redis', 'running', `127.0.0.1:${project.ports.redisTls}`],
      ['nats', 'running', `127.0.0.1:${project.ports.nats}`],
    ]);
    for (const s of json.services) {
      expect(s.pid).toEqual(expect.any(Number));
      expect(s.version).toMatch(/^\d+\.\d+/);
      expect(s.latencyMs).toBeGreaterThan(0);
      expect(s.reason).toBeNull();
    }
    // `up` migrated the database; status names each time-series table and its engine.
    expect(json.timeseries?.map((t) => [t.table, t.engine])).toEqual([
      ['audit.audit_log', 'native'],
      ['telemetry.events', 'native'],
      ['telemetry.measurements', 'native'],
    ]);
    expect(json.timeseries?.find((t) => t.table === 'telemetry.measurements')?.rollups.map((r) => r.name)).toEqual([
      'analytics.measurements_1m',
      'analytics.measurements_1h',
    ]);
  });

  it('`migrate status`, `migrate` and `schema diagram` work against the running stack', async () => {
    const st = await project.run(['migrate', 'status', '--json']);
    expect(st.code, st.stderr).toBe(0);
    const rows = JSON.parse(st.stdout) as { file: string; state: string }[];
    expect(rows.length).toBeGreaterThanOrEqual(7);
    expect(rows.every((r) => r.state === 'applied')).toBe(true);
    const again = await project.run(['migrate']);
    expect(again.stdout).toMatch(/^up to date \(\d+ applied\)/);
    const diagram = await project.run(['schema', 'diagram']);
    expect(diagram.stdout).toMatch(/^```mermaid\nerDiagram\n/);
    expect(diagram.stdout).toContain('registry_sources ||--o{ telemetry_measurements : "org_id, source_id"');
    const human = await project.run(['status']);
    expect(human.stdout).toMatch(/^telemetry\.measurements\s+native\s+1 day\s+90 days/m);
  });

  it('a second `up` sees the running stack and says so', async () => {
    const r = await project.run(['up', '--detach']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/already running \(supervisor pid \d+\)/);
  });

  it('psql with the URL from `credentials --reveal` reports server version 16, over verified TLS', async () => {
    const url = (await project.run(['credentials', 'postgres', '--url', '--reveal'])).stdout.trim();
    expect(url).toMatch(/^postgresql:\/\/app_owner:[^*]+@127\.0\.0\.1:\d+\/app\?sslmode=verify-full&sslrootcert=.+ca\.crt$/);
    const r = spawnSync('psql', [url, '-Atc', 'select version(), ssl from pg_stat_ssl where pid = pg_backend_pid()'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^PostgreSQL 16\.\d+.*\|t$/);
  });

  it('redis-cli gets NOAUTH without auth and PONG as the generated user', async () => {
    const app = find(await credentials(project), 'redis', 'app');
    const port = String(project.ports.redis);
    const anon = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', port, 'ping'], { encoding: 'utf8' });
    expect(anon.stdout.trim()).toMatch(/^NOAUTH/);
    // The password travels in the environment, not on redis-cli's command line.
    const tls = ['--tls', '--cacert', app.caFile!, '-p', String(app.port)];
    const authed = spawnSync('redis-cli', ['-h', '127.0.0.1', ...tls, '--user', 'app', 'ping'], {
      encoding: 'utf8',
      env: { ...process.env, REDISCLI_AUTH: app.password },
    });
    expect(authed.stdout.trim()).toBe('PONG');
    const anonTls = spawnSync('redis-cli', ['-h', '127.0.0.1', ...tls, 'ping'], { encoding: 'utf8' });
    expect(anonTls.stdout.trim()).toMatch(/^NOAUTH/);
  });

  it('hides passwords unless --reveal', async () => {
    const creds = await credentials(project);
    const masked = await project.run(['credentials']);
    expect(masked.code).toBe(0);
    for (const c of creds) {
      expect(masked.stdout).not.toContain(c.password);
      expect(masked.stdout).toContain(`${c.user}:********@`);
    }
  });

  it('no generated password appears in logs, process arguments or environments, rendered files or command output', async () => {
    const secrets = (await credentials(project)).map((c) => c.password);
    expect(secrets.length).toBe(15); // 8 PostgreSQL logins, 3 Redis users, 3 NATS users, the monitoring login (health server)
    const haystacks: [string, string][] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else haystacks.push([p, readFileSync(p, 'latin1')]);
      }
    };
    walk(path.join(project.stateDir, 'logs'));
    const rendered = [
      path.join(project.stateDir, 'pg', 'data', 'postgresql.conf'),
      path.join(project.stateDir, 'pg', 'data', 'pg_hba.conf'),
      path.join(project.stateDir, 'redis', 'redis.conf'),
      path.join(project.stateDir, 'nats', 'nats.conf'),
    ];
    for (const f of rendered) {
      haystacks.push([f, readFileSync(f, 'utf8')]);
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
    // Private keys are private wherever they are.
    for (const key of [
      path.join(project.stateDir, 'tls', 'ca.key'),
      ...['postgres', 'redis', 'nats'].map((s) => path.join(project.stateDir, 'tls', `${s}.key`)),
      path.join(project.stateDir, 'pg', 'tls', 'server.key'),
      path.join(project.stateDir, 'redis', 'tls', 'server.key'),
      path.join(project.stateDir, 'nats', 'tls', 'server.key'),
    ]) {
      expect(statSync(key).mode & 0o777, key).toBe(0o600);
    }
    haystacks.push(['ps', spawnSync('ps', ['-eo', 'pid,args', '--no-headers'], { encoding: 'utf8' }).stdout]);
    for (const service of ['postgres', 'redis', 'nats']) {
      const pid = pidOf(project, service);
      haystacks.push([`${service} environ`, readFileSync(`/proc/${pid}/environ`, 'latin1')]);
      haystacks.push([`${service} cmdline`, readFileSync(`/proc/${pid}/cmdline`, 'latin1')]);
    }
    for (const args of [['status'], ['status', '--json'], ['config', 'print'], ['config', 'print', '--json'], ['credentials'], ['credentials', '--json'], ['doctor'], ['certs'], ['migrate', 'status']]) {
      const r = await project.run(args);
      haystacks.push([`dataplane ${args.join(' ')}`, r.stdout + r.stderr]);
    }
    for (const [where, text] of haystacks) {
      for (const secret of secrets) expect(text.includes(secret), `a password appears in ${where}`).toBe(false);
    }
  });

  it('keeps a row, a key and a JetStream message across down and up', async () => {
    const { json } = await status();
    const pidsBefore = [json.supervisor!.pid, ...json.services.map((s) => s.pid!)];
    const creds = await credentials(project);
    const db = await pgClient(find(creds, 'postgres', 'app_owner'));
    await db.query('create table kept (id int primary key, v text)');
    await db.query("insert into kept values (1, 'row survives')");
    await db.end();

    const redis = await redisClient(find(creds, 'redis', 'app'));
    await redis.set('app:kept', 'key survives');
    redis.disconnect();

    const admin = await natsConnect(find(creds, 'nats', 'admin'));
    await (await jetstreamManager(admin)).streams.add({ name: 'KEPT', subjects: ['app.kept.>'] });
    await admin.close();
    const nc = await natsConnect(find(creds, 'nats', 'app'));
    const ack = await jetstream(nc).publish('app.kept.one', 'message survives');
    expect(ack.seq).toBe(1);
    await nc.close();

    const down = await project.run(['down']);
    running = false;
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('stopped the stack');
    await expectAllGone(pidsBefore);
    expect(readdirSync(path.join(project.stateDir, 'run'))).toEqual([]);

    const stopped = await status();
    expect(stopped.code).toBe(3);
    expect(stopped.json.services.every((s) => s.status === 'stopped')).toBe(true);

    const up = await project.run(['up', '--detach']);
    expect(up.code, up.stderr).toBe(0);
    running = true;
    expect(up.stderr).not.toContain('initializing the PostgreSQL data directory');

    const db2 = await pgClient(find(creds, 'postgres', 'app_owner'));
    expect((await db2.query('select v from kept')).rows).toEqual([{ v: 'row survives' }]);
    await db2.end();

    const redis2 = await redisClient(find(creds, 'redis', 'app'));
    expect(await redis2.get('app:kept')).toBe('key survives');
    redis2.disconnect();

    const nc2 = await natsConnect(find(creds, 'nats', 'admin'));
    const msg = await (await jetstreamManager(nc2)).streams.getMessage('KEPT', { seq: 1 });
    expect(msg?.string()).toBe('message survives');
    await nc2.close();
  });

  it('`logs` shows a server log and rejects unknown services', async () => {
    const r = await project.run(['logs', 'postgres', '-n', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').length).toBeLessThanOrEqual(5);
    expect(r.stdout).toMatch(/database system is ready to accept connections|checkpoint/);
    const sup = await project.run(['logs', 'supervisor', '-n', '3']);
    expect(sup.stdout).toMatch(/stack ready/);
    const bad = await project.run(['logs', 'mysql']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are supervisor, postgres, redis, nats/);
    expect(bad.stderr).toMatch(/^Usage: dataplane logs \[options\] \[service\]$/m);
  });

  it('`logs --follow` prints new lines as they are written', async () => {
    const follower = project.spawn(['logs', 'supervisor', '--follow', '-n', '1']);
    let seen = '';
    follower.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      await waitFor('the last existing line', () => (seen ? true : undefined), 10_000);
      // A restart is an event the supervisor logs.
      process.kill(pidOf(project, 'redis'), 'SIGKILL');
      await waitFor('the restart to appear in the followed log', () => (/redis restarted/.test(seen) ? true : undefined), 10_000);
      expect(seen).toMatch(/WARN redis \(pid \d+\) killed by SIGKILL; restarting/);
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('`doctor` recognises the running stack as the owner of its ports', async () => {
    const r = await project.run(['doctor', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const checks = JSON.parse(r.stdout) as { name: string; status: string; detail: string }[];
    expect(checks.find((c) => c.name === `port ${project.ports.redis}`)).toMatchObject({ status: 'ok', detail: expect.stringMatching(/in use by this stack's redis/) });
  });

  it('`backup create`, `list` and `verify` work from the CLI; bad arguments are usage errors', async () => {
    const created = await project.run(['backup', 'create', '--label', 'cli-1', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ label: 'cli-1', postgres: { timeline: 1 }, redis: { keys: expect.any(Number) }, nats: { streams: expect.any(Array) } });
    const list = JSON.parse((await project.run(['backup', 'list', '--json'])).stdout) as { label: string; postgres: boolean; redis: boolean; streams: number }[];
    expect(list).toEqual([expect.objectContaining({ label: 'cli-1', postgres: true, redis: true, streams: expect.any(Number) })]);
    const verify = await project.run(['backup', 'verify', 'cli-1']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/cli-1: ok/);
    const missing = await project.run(['backup', 'verify', 'no-such']);
    expect(missing.code).toBe(14);
    expect(missing.stderr).toMatch(/no backup labelled no-such[\s\S]*cli-1/);
    const noTarget = await project.run(['restore']);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/--to-time <time> or --to-latest/);
    expect(noTarget.stderr).toMatch(/^Usage: dataplane restore \[options\]$/m);
    const running = await project.run(['restore', '--to-latest']);
    expect(running.code).toBe(14);
    expect(running.stderr).toMatch(/refusing to overwrite/);
  });

  it('every command has --help', { timeout: 120_000 }, async () => {
    const cmds = [[], ['up'], ['down'], ['status'], ['logs'], ['credentials'], ['doctor'], ['config'], ['config', 'print'], ['config', 'render'], ['config', 'docs'], ['backup'], ['backup', 'create'], ['backup', 'list'], ['backup', 'verify'], ['backup', 'prune'], ['restore'], ['metrics'], ['dashboards'], ['errors']];
    // A few at a time: each is a Node start-up, and the machine has two cores.
    for (let i = 0; i < cmds.length; i += 4) {
      const batch = cmds.slice(i, i + 4);
      const results = await Promise.all(batch.map((cmd) => project.run([...cmd, '--help'])));
      results.forEach((r, j) => {
        expect(r.code, batch[j]!.join(' ')).toBe(0);
        expect(r.stdout).toMatch(/^Usage: dataplane/);
      });
    }
  });

  it('`down` stops everything it started', async () => {
    const { json } = await status();
    const pids = [json.supervisor!.pid, ...json.services.map((s) => s.pid!)];
    const r = await project.run(['down']);
    running = false;
    expect(r.code).toBe(0);
    await expectAllGone(pids);
    expect((await project.run(['down'])).stdout).toContain('nothing is running');
  });
});
