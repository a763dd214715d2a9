/**
 * The ephemeral stack API against real servers: every server refuses
 * unauthenticated clients and serves authenticated ones; dispose leaves nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { credential, natsConnect, pgClient, pgConfig, redisClient } from '../helpers/connect.js';
import { expectAllGone } from '../helpers/processes.js';

let stack: EphemeralStack;

beforeAll(async () => {
  stack = await startEphemeralStack();
});

afterAll(async () => {
  const pids = stack.supervisor.snapshot().flatMap((s) => (s.pid ? [s.pid] : []));
  await stack.stop();
  await expectAllGone(pids);
  expect(existsSync(stack.stateDir)).toBe(false);
});

describe('PostgreSQL', () => {
  it('is version 16 and the owner can create tables in the application database', async () => {
    const client = await pgClient(stack.postgres!);
    try {
      const v = await client.query<{ v: string }>("select current_setting('server_version') as v");
      expect(v.rows[0]!.v).toMatch(/^16\./);
      await client.query('create table t (id int primary key, note text)');
      await client.query("insert into t values (1, 'hello')");
      expect((await client.query('select note from t')).rows).toEqual([{ note: 'hello' }]);
      const who = await client.query<{ u: string; d: string }>('select current_user as u, current_database() as d');
      expect(who.rows[0]).toEqual({ u: 'app_owner', d: 'app' });
    } finally {
      await client.end();
    }
  });

  it('refuses a wrong password and a client without one', async () => {
    const { host, port, user } = stack.postgres!;
    const bad = new pg.Client({ ...pgConfig(stack.postgres!), password: 'wrong-password-123456' });
    await expect(bad.connect()).rejects.toMatchObject({ code: '28P01' });
    const psql = spawnSync('psql', ['-w', '-h', host, '-p', String(port), '-U', user, '-d', 'app', '-c', 'select 1'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(psql.status).not.toBe(0);
    expect(psql.stderr).toMatch(/password/);
  });

  it('stores passwords as SCRAM verifiers', async () => {
    const client = await pgClient(stack.postgres!.superuser);
    try {
      const r = await client.query<{ rolname: string; rolpassword: string }>("select rolname, rolpassword from pg_authid where rolcanlogin order by rolname");
      expect(r.rows.map((x) => x.rolname)).toEqual(['app_analytics', 'app_backup', 'app_ingest', 'app_monitor', 'app_owner', 'app_ro', 'app_rw', 'postgres']);
      for (const row of r.rows) expect(row.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    } finally {
      await client.end();
    }
  });
});

describe('Redis', () => {
  it('answers NOAUTH without credentials and has no usable default user', async () => {
    // Raw RESP over TCP: exactly what an unauthenticated client sends.
    const replies = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(stack.config.redis.port, stack.redis!.host); // the dev profile's plaintext loopback port
      let data = '';
      sock.on('data', (d) => {
        data += d.toString();
        if (data.split('\r\n').length > 2) sock.end();
      });
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
      sock.write('PING\r\nAUTH default anything-at-all\r\n');
    });
    const [ping, auth] = replies.split('\r\n');
    expect(ping).toMatch(/^-NOAUTH/);
    expect(auth).toMatch(/^-WRONGPASS/);
  });

  it('serves the app user over TLS; dangerous commands are refused', async () => {
    const r = await redisClient(stack.redis!);
    try {
      expect(await r.ping()).toBe('PONG');
      await r.set('app:greeting', 'hello');
      expect(await r.get('app:greeting')).toBe('hello');
      await expect(r.flushall()).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });

  it('runs with the rendered memory limit and eviction policy', async () => {
    const admin = await redisClient(stack.redis!.admin);
    try {
      const [, maxmemory] = (await admin.config('GET', 'maxmemory')) as [string, string];
      const [, policy] = (await admin.config('GET', 'maxmemory-policy')) as [string, string];
      expect(Number(maxmemory)).toBe(256 * 1024 * 1024); // 0.25 of the ephemeral 1gb budget
      expect(policy).toBe('volatile-lfu');
    } finally {
      admin.disconnect();
    }
  });
});

describe('NATS', () => {
  it('refuses clients without or with wrong credentials', async () => {
    const c = stack.nats!;
    await expect(natsConnect({ ...c, user: '', password: '' })).rejects.toThrow(/Authorization/i);
    await expect(natsConnect({ ...c, password: 'wrong-password-123456' })).rejects.toThrow(/Authorization/i);
  });

  it('admin declares a JetStream stream; the app user publishes to it and gets the ack', async () => {
    const admin = await natsConnect(credential(stack.credentials, 'nats', 'admin'));
    const app = await natsConnect(stack.nats!);
    try {
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: 'ORDERS', subjects: ['app.orders.>'] });
      const ack = await jetstream(app).publish('app.orders.created', 'order 1');
      expect(ack.stream).toBe('ORDERS');
      expect(ack.seq).toBe(1);
      // ORDERS, and the declared EVENTS and DLQ streams that `up` reconciled.
      expect((await jsm.getAccountInfo()).streams).toBe(3);
    } finally {
      await Promise.all([admin.close(), app.close()]);
    }
  });
});

describe('health', () => {
  it('/readyz reports each component with latency and version', async () => {
    const res = await fetch(`${stack.healthUrl}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; components: Record<string, { status: string; latencyMs: number; version: string }> };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.components)).toEqual(['postgres', 'redis', 'nats']);
    for (const c of Object.values(body.components)) {
      expect(c.status).toBe('up');
      expect(c.latencyMs).toBeGreaterThan(0);
    }
    expect((await fetch(`${stack.healthUrl}/livez`)).status).toBe(200);
    expect((await fetch(`${stack.healthUrl}/nope`)).status).toBe(404);
  });
});

describe('probe logins', () => {
  const probeBackends = async () => {
    const su = await pgClient(stack.postgres!.superuser);
    try {
      return (await su.query<{ pid: number }>("select pid from pg_stat_activity where application_name = 'dataplane-probe' order by pid")).rows.map((r) => r.pid);
    } finally {
      await su.end();
    }
  };
  const readyz = async () => (await (await fetch(`${stack.healthUrl}/readyz`)).json()) as { status: string; components: Record<string, { status: string; reason?: string }> };

  it('/readyz probes on one kept login per server, and logs in again when it is cut', async () => {
    await readyz();
    const [kept] = await probeBackends();
    expect(kept).toBeGreaterThan(0);
    await readyz();
    expect(await probeBackends()).toEqual([kept]);
    // The server ends the probe's session (as a restart or a network cut would): the next probe logs in again.
    const su = await pgClient(stack.postgres!.superuser);
    await su.query('select pg_terminate_backend($1)', [kept]).finally(() => su.end());
    const after = await readyz();
    expect(after.components.postgres).toMatchObject({ status: 'up' });
    const now = await probeBackends();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(kept);
  });

  it('renews a kept login, and a server that refuses new logins reads as down', async () => {
    const { ProbeSessions } = await import('../../src/stack/probe-sessions.js');
    const { postgresDriver } = await import('../../src/servers/postgres.js');
    let access = stack.access;
    const sessions = new ProbeSessions(() => access, { renewMs: 300, loginTimeoutMs: 2000 });
    const m = { instance: 'postgres', driver: postgresDriver, state: 'running', rec: { pid: stack.supervisor.snapshot().find((s) => s.name === 'postgres')!.pid } } as never;
    const before = new Set(await probeBackends());
    const mine = async () => (await probeBackends()).filter((p) => !before.has(p));
    try {
      await sessions.probe(m, 2000);
      const [first] = await mine();
      await new Promise((r) => setTimeout(r, 400));
      await sessions.probe(m, 2000); // old: answers on the first login and renews in the background
      await expect.poll(mine, { timeout: 5000 }).toHaveLength(1);
      await expect.poll(async () => (await mine())[0], { timeout: 5000 }).not.toBe(first);
      // Logins now fail (a wrong password stands in for a full server or a broken password file).
      access = { ...stack.access, secrets: { ...stack.access.secrets, postgres: { ...stack.access.secrets.postgres, [stack.config.postgres.superuser]: 'wrong' } } };
      await new Promise((r) => setTimeout(r, 400));
      await sessions.probe(m, 2000); // still answers on the kept login; the renewal fails
      await expect.poll(mine, { timeout: 5000 }).toHaveLength(0);
      await expect(sessions.probe(m, 2000)).rejects.toThrow(/password authentication failed/);
    } finally {
      await sessions.closeAll();
    }
    expect(await mine()).toEqual([]);
  });
});

describe('state directory', () => {
  it('keeps secrets in a 0600 file and rendered configs private to the service user', async () => {
    const { statSync } = await import('node:fs');
    const paths = stack.supervisor.paths;
    expect(statSync(paths.secrets).mode & 0o777).toBe(0o600);
    for (const f of [paths.redis.conf, paths.nats.conf, `${paths.pg.data}/postgresql.conf`, `${paths.pg.data}/pg_hba.conf`]) {
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
    const secrets = JSON.parse(readFileSync(paths.secrets, 'utf8')) as Record<string, Record<string, string>>;
    // monitoring: the login of the HTTP surfaces, the health server's among them.
    expect(Object.keys(secrets).sort()).toEqual(['monitoring', 'nats', 'postgres', 'redis']);
  });
});

it('starts only the services asked for', async () => {
  await using only = await startEphemeralStack({ services: ['redis'] });
  expect(only.postgres).toBeUndefined();
  expect(only.nats).toBeUndefined();
  expect(only.supervisor.snapshot().map((s) => s.name)).toEqual(['redis']);
  const r = await redisClient(only.redis!);
  expect(await r.ping()).toBe('PONG');
  r.disconnect();
});
