/**
 * Rotation on a running stack: passwords and certificates change on the servers
 * without restarting them, and nothing written before is lost.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credential } from '../../src/connect/credentials.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { credentials, find, pidOf } from '../helpers/clients.js';
import { natsConnect, pgClient, pgConfig, redisClient } from '../helpers/connect.js';

let project: Project;
const pids = () => ['postgres', 'redis', 'nats'].map((s) => pidOf(project, s));

beforeAll(async () => {
  project = await tempProject();
  const up = await project.run(['up', '--detach']);
  if (up.code !== 0) throw new Error(up.stderr);
});

afterAll(async () => {
  await project.cleanup();
});

async function rotate(service: string, user: string): Promise<void> {
  const r = await project.run(['credentials', 'rotate', service, user]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/the running server accepts only the new password/);
  expect(r.stdout + r.stderr).not.toContain(find(await credentials(project), service, user).password);
}

describe('credentials rotate', () => {
  it('PostgreSQL: the old password stops working, the new one works, open sessions stay', async () => {
    const before = pids();
    const old = find(await credentials(project), 'postgres', 'app_rw');
    const open = await pgClient(old);
    await rotate('postgres', 'app_rw');
    const now = find(await credentials(project), 'postgres', 'app_rw');
    expect(now.password).not.toBe(old.password);
    await expect(new pg.Client(pgConfig(old)).connect()).rejects.toMatchObject({ code: '28P01' });
    const fresh = await pgClient(now);
    await fresh.end();
    expect((await open.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await open.end();
    expect(pids()).toEqual(before);
  });

  it('PostgreSQL: even the superuser dataplane itself uses', async () => {
    await rotate('postgres', 'postgres');
    expect((await project.run(['status'])).code).toBe(0);
  });

  it('Redis and NATS: old secrets are refused at once', async () => {
    const before = pids();
    const oldRedis = find(await credentials(project), 'redis', 'app');
    const oldNats = find(await credentials(project), 'nats', 'app');
    await rotate('redis', 'app');
    await rotate('nats', 'app');
    await expect(redisClient(oldRedis)).rejects.toThrow(/WRONGPASS|invalid/i);
    await expect(natsConnect(oldNats)).rejects.toThrow(/Authorization/i);
    const creds = await credentials(project);
    const r = await redisClient(find(creds, 'redis', 'app'));
    expect(await r.ping()).toBe('PONG');
    await r.quit();
    await (await natsConnect(find(creds, 'nats', 'app'))).close();
    expect(pids()).toEqual(before);
    // The files the servers restart from carry the new secrets too.
    await rotate('nats', 'admin');
    expect((await project.run(['status'])).code).toBe(0);
  });

  it('refuses unknown logins, and secrets that come from the environment', async () => {
    const unknown = await project.run(['credentials', 'rotate', 'postgres', 'nobody']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/postgres has no login nobody/);
    const fromEnv = await project.run(['credentials', 'rotate', 'redis', 'app'], { env: { DATAPLANE_SECRET_REDIS_APP: 'an-env-provided-secret-0123' } });
    expect(fromEnv.code).not.toBe(0);
    expect(fromEnv.stderr).toMatch(/comes from DATAPLANE_SECRET_REDIS_APP/);
  });
});

describe('certs rotate', () => {
  it('a new CA and certificates reach every server without a restart or data loss', async () => {
    const creds = await credentials(project);
    const owner = find(creds, 'postgres', 'app_owner');
    const db = await pgClient(owner);
    await db.query("create table survives (v text); insert into survives values ('before rotation')");
    await db.end();

    const tls = path.join(project.stateDir, 'tls');
    const oldCa = path.join(project.dir, 'old-ca.crt');
    copyFileSync(path.join(tls, 'ca-current.crt'), oldCa);
    const before = pids();
    const r = await project.run(['certs', 'rotate', '--ca']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the running servers now use the new certificates/);
    expect(pids()).toEqual(before);

    // A client that trusts only the old CA is refused by every server: they all serve new certificates.
    const pinned = (c: Credential): Credential => ({ ...c, caFile: oldCa });
    await expect(pgClient(pinned(owner))).rejects.toThrow(/unable to verify|self[- ]signed|unable to get local issuer/);
    await expect(redisClient(pinned(find(creds, 'redis', 'app')))).rejects.toThrow(/unable to verify|self[- ]signed|unable to get local issuer/);
    await expect(natsConnect(pinned(find(creds, 'nats', 'app')))).rejects.toThrow(/certificate|verify|self[- ]signed/i);

    // ca.crt (what clients are told to trust) verifies them, and the data is intact.
    const again = await pgClient(owner);
    expect((await again.query('select v from survives')).rows).toEqual([{ v: 'before rotation' }]);
    await again.end();
    const redis = await redisClient(find(creds, 'redis', 'app'));
    expect(await redis.ping()).toBe('PONG');
    await redis.quit();
    await (await natsConnect(find(creds, 'nats', 'app'))).close();
    // The bundle still holds the previous CA, so clients that reloaded it late keep working.
    expect(readFileSync(path.join(tls, 'ca.crt'), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it('doctor warns about a certificate close to expiry', async () => {
    const cfg = path.join(project.stateDir, 'tls');
    const { spawnSync } = await import('node:child_process');
    const csr = path.join(project.dir, 'redis.csr');
    const req = spawnSync('openssl', ['req', '-new', '-key', path.join(cfg, 'redis.key'), '-subj', '/CN=redis', '-out', csr], { encoding: 'utf8' });
    expect(req.status, req.stderr).toBe(0);
    const short = spawnSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', path.join(cfg, 'ca-current.crt'), '-CAkey', path.join(cfg, 'ca.key'), '-days', '3', '-out', path.join(cfg, 'redis.crt')],
      { encoding: 'utf8' },
    );
    expect(short.status, short.stderr).toBe(0);
    const doctor = await project.run(['doctor', '--json']);
    const checks = JSON.parse(doctor.stdout) as { name: string; status: string; detail: string; fix?: string }[];
    expect(checks.find((c) => c.name === 'redis certificate')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/\(2 days\)|\(3 days\)/), fix: 'dataplane certs rotate' });
    const shown = await project.run(['certs']);
    expect(shown.stdout).toMatch(/^redis\s+\S+\s+warn [23]/m);
  });
});
