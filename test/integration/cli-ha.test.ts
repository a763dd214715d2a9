/**
 * The ha topology as a user runs it from the CLI: `up --detach` with `topology: ha`
 * starts three etcd members, three PostgreSQL members under Patroni behind HAProxy,
 * three NATS nodes, a Redis primary with two replicas and three sentinels; status shows each node and its role; credentials name every NATS node
 * and the sentinels (the Redis primary moves); `down` stops every process it started.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresFigures, RedisFigures, SentinelFigures } from '../../src/servers/types.js';
import type { StackStatus } from '../../src/stack/status.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { credentials, find } from '../helpers/clients.js';
import { natsConnect } from '../helpers/connect.js';
import { expectAllGone, waitFor } from '../helpers/processes.js';

let project: Project;
let up: { code: number | null; stdout: string; stderr: string };

const INSTANCES = ['etcd-1', 'etcd-2', 'etcd-3', 'postgres', 'postgres-2', 'postgres-3', 'haproxy', 'redis', 'redis-2', 'redis-3', 'sentinel-1', 'sentinel-2', 'sentinel-3', 'nats', 'nats-2', 'nats-3'];

beforeAll(async () => {
  project = await tempProject({ topology: 'ha' });
  up = await project.run(['up', '--detach'], { timeoutMs: 180_000 });
}, 200_000);

afterAll(async () => {
  await project?.cleanup();
});

async function status(): Promise<{ code: number | null; json: StackStatus }> {
  const r = await project.run(['status', '--json']);
  return { code: r.code, json: JSON.parse(r.stdout) as StackStatus };
}

/** redis-cli with TLS as `user`; the password travels in the environment, not on the command line. */
function redisCli(port: number, user: string, password: string, caFile: string, args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--tls', '--cacert', caFile, '--user', user, ...args], {
    encoding: 'utf8',
    env: { ...process.env, REDISCLI_AUTH: password },
  });
  return r.stdout.trim();
}

/** The PostgreSQL servers Patroni runs, from their postmaster.pid files. */
function postmasters(): number[] {
  return ['pg', 'pg-2', 'pg-3']
    .map((d) => path.join(project.stateDir, d, 'data', 'postmaster.pid'))
    .filter((f) => existsSync(f))
    .map((f) => Number(readFileSync(f, 'utf8').split('\n')[0]));
}

describe('dataplane CLI, topology ha', () => {
  it('`up --detach` starts every node and prints one row per node', () => {
    expect(up.code, up.stderr).toBe(0);
    for (const name of INSTANCES) expect(up.stdout).toMatch(new RegExp(`^${name}\\s+\\S+\\s+127\\.0\\.0\\.1:\\d+\\s+running\\s+\\d+`, 'm'));
  });

  it('`status --json` is healthy and shows one Redis primary and the cluster roles', async () => {
    // Replicas report "linked" only once their first sync is done.
    const { json } = await waitFor('a healthy ha stack', async () => {
      const s = await status();
      return s.code === 0 && s.json.healthy ? s : undefined;
    }, 30_000, 500);
    expect(json.services.map((s) => s.name).sort()).toEqual([...INSTANCES].sort());
    const roles = json.services.filter((s) => s.service === 'redis').map((s) => (s.figures as { role?: string }).role);
    expect(roles.sort()).toEqual(['master', 'slave', 'slave']);
    const ready = await fetch(`http://127.0.0.1:${project.ports.health}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { components: Record<string, { status: string; required: boolean }> };
    for (const cluster of ['etcd cluster', 'postgres cluster', 'haproxy', 'nats cluster', 'redis cluster', 'sentinel cluster']) expect(body.components[cluster], cluster).toMatchObject({ status: 'up', required: true });
    // Single nodes are reported but not required: one may go while the cluster serves.
    expect(body.components['nats-2']).toMatchObject({ status: 'up', required: false });
  });

  it('credentials name every NATS node and the sentinels, which lead to the Redis primary', async () => {
    const creds = await credentials(project);
    // psql with the URL from credentials reaches the PostgreSQL primary through HAProxy; the replica URL a replica.
    const owner = find(creds, 'postgres', 'app_owner');
    const psql = (url: string, sql: string) => spawnSync('psql', [url, '-Atc', sql], { encoding: 'utf8' });
    const viaPrimary = psql(owner.url, 'create table cli_ha (v text); insert into cli_ha values (\'kept\'); select pg_is_in_recovery()');
    expect(viaPrimary.stderr).toBe('');
    expect(viaPrimary.stdout.trim().split('\n').pop()).toBe('f');
    expect(psql(owner.replicaUrl!, 'select pg_is_in_recovery()').stdout.trim()).toBe('t');

    const nats = find(creds, 'nats', 'app');
    expect(nats.url.split(',')).toHaveLength(3);
    // A client given the whole list connects even when the first node is gone.
    const nc = await natsConnect(nats, { servers: nats.url.split(',').map((u) => u.replace(/^tls:\/\/[^@]+@/, '')) });
    expect(nc.info?.cluster).toBeTruthy();
    await nc.close();

    const redis = find(creds, 'redis', 'app');
    expect(redis.sentinels).toHaveLength(3);
    expect(redis.masterName).toBe('dataplane');
    expect(redis.url).toMatch(/^rediss\+sentinel:\/\/app:[^*@]+@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/dataplane$/);
    const masked = (await project.run(['credentials', 'redis', '--url'])).stdout.trim();
    expect(masked).toContain('app:********@');

    // Ask a sentinel for the primary, as any Sentinel-aware client does, then talk to it.
    const [host, port] = redis.sentinels![1]!.split(':');
    const addr = redisCli(Number(port), 'app', redis.password, redis.caFile!, ['sentinel', 'get-master-addr-by-name', 'dataplane']).split('\n');
    expect(addr[0]).toBe(host);
    expect(redisCli(Number(addr[1]), 'app', redis.password, redis.caFile!, ['ping'])).toBe('PONG');
    // A replica would answer READONLY.
    expect(redisCli(Number(addr[1]), 'app', redis.password, redis.caFile!, ['set', 'app:cli-ha', 'x'])).toBe('OK');
  });

  it('`postgres switchover --to` moves the PostgreSQL primary and says how long writes paused', { timeout: 90_000 }, async () => {
    const roles = async () => {
      const { json } = await status();
      return Object.fromEntries(json.services.filter((s) => s.service === 'postgres').map((s) => [s.name, (s.figures as PostgresFigures | null)?.member?.role]));
    };
    const before = await waitFor('a primary and a sync standby', async () => {
      const r = await roles();
      return Object.values(r).includes('primary') && Object.values(r).includes('sync standby') ? r : undefined;
    }, 30_000, 500);
    const from = Object.keys(before).find((k) => before[k] === 'primary')!;
    const to = Object.keys(before).find((k) => before[k] === 'sync standby')!;
    const r = await project.run(['postgres', 'switchover', '--to', to, '--json'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { from: string; to: string; ms: number };
    expect(out).toMatchObject({ from, to });
    expect(out.ms).toBeGreaterThan(0);
    await waitFor(`${to} the primary in status`, async () => ((await roles())[to] === 'primary' ? true : undefined), 30_000, 500);
    // A member that does not exist: a clear error naming the members, nothing changed.
    const bad = await project.run(['postgres', 'switchover', '--to', 'postgres-9']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('no member postgres-9: the members are postgres, postgres-2, postgres-3');
  });

  it('after a failover and a crash of everything, `up` brings every node back with the promoted primary', { timeout: 180_000 }, async () => {
    const primaryOf = async () => {
      const { json } = await status();
      const named = json.services.filter((s) => s.service === 'sentinel').map((s) => (s.figures as SentinelFigures | null)?.primary);
      return named.length === 3 && named.every((p) => p && p === named[0]) ? { primary: named[0]!, json } : undefined;
    };
    const before = await waitFor('the sentinels to agree', primaryOf, 20_000, 500);
    process.kill(before.json.services.find((s) => s.name === before.primary)!.pid!, 'SIGKILL');
    const after = await waitFor('a new primary', async () => {
      const p = await primaryOf();
      return p && p.primary !== before.primary ? p : undefined;
    }, 60_000, 500);

    // PostgreSQL settled after the switchover above (the old primary follows the new one, caught up).
    await waitFor('every PostgreSQL member streaming and caught up', async () => {
      const { json: j } = await status();
      const members = j.services.filter((x) => x.service === 'postgres').map((x) => (x.figures as PostgresFigures | null)?.member);
      return members.length === 3 && members.every((m) => m && (m.role === 'primary' || (m.lagBytes === 0 && /running|streaming/.test(m.state)))) ? true : undefined;
    }, 60_000, 500);
    // The machine loses power, as far as the processes can tell: the supervisor and every server at once,
    // PostgreSQL's postmasters (Patroni's children) too.
    const { json } = await status();
    const pids = [json.supervisor!.pid, ...json.services.map((s) => s.pid).filter((p): p is number => typeof p === 'number'), ...postmasters()];
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await expectAllGone(pids);

    const again = await project.run(['up', '--detach'], { timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    const healthy = await waitFor('a healthy ha stack', async () => {
      const s = await status();
      return s.code === 0 && s.json.healthy ? s.json : undefined;
    }, 60_000, 500);
    expect(healthy.services.map((s) => s.name).sort()).toEqual([...INSTANCES].sort());
    expect((await primaryOf())?.primary).toBe(after.primary);
    const redisRoles = Object.fromEntries(healthy.services.filter((s) => s.service === 'redis').map((s) => [s.name, (s.figures as RedisFigures).role]));
    expect(redisRoles[after.primary]).toBe('master');
    expect(Object.values(redisRoles).filter((r) => r === 'master')).toHaveLength(1);
    // PostgreSQL has a primary again, with the row written before the crash.
    const owner = find(await credentials(project), 'postgres', 'app_owner');
    expect(spawnSync('psql', [owner.url, '-Atc', 'select v from cli_ha'], { encoding: 'utf8' }).stdout.trim()).toBe('kept');
    // The key written before both faults is still there.
    const redis = find(await credentials(project), 'redis', 'app');
    const port = healthy.services.find((s) => s.name === after.primary)!.address!.split(':')[1]!;
    expect(redisCli(Number(port), 'app', redis.password, redis.caFile!, ['get', 'app:cli-ha'])).toBe('x');
  });

  it('`down` stops every process it started', async () => {
    const { json } = await status();
    const pids = [json.supervisor!.pid, ...json.services.map((s) => s.pid!)];
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    expect(pids).toHaveLength(1 + INSTANCES.length);
    const pgPids = postmasters();
    expect(pgPids).toHaveLength(3);
    const r = await project.run(['down']);
    expect(r.code, r.stderr).toBe(0);
    await expectAllGone([...pids, ...pgPids], 30_000);
    expect(readdirSync(path.join(project.stateDir, 'run'))).toEqual([]);
    // Stopping thirteen processes in order (replicas before the primary) on two busy cores.
  }, 120_000);
});
