/**
 * Each per-service identity is refused what it must not do: NATS users outside
 * their subjects and accounts, Redis users outside their keys and command
 * categories, PostgreSQL roles beyond their connection limits and timeouts.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { credential, natsConnect, pgConfig, redisClient } from '../helpers/connect.js';
import { asRole } from '../helpers/postgres.js';

let stack: EphemeralStack;
const cred = (service: string, user: string) => credential(stack.credentials, service, user);

beforeAll(async () => {
  stack = await startEphemeralStack({
    config: {
      postgres: { roles: { app_analytics: { connectionLimit: 2 }, app_ro: { statementTimeout: '1s' } } },
      nats: {
        users: {
          app: { publish: ['app.>'], subscribe: ['app.>'], streams: ['*'] },
          billing: { publish: ['billing.>'], subscribe: ['billing.>', 'orders.created'], streams: ['BILLING'] },
        },
      },
    },
  });
});

afterAll(async () => {
  await stack.stop();
});

/** Collect permission errors the server reports on a connection. */
function permissionErrors(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error') seen.push(String((s as { error?: Error }).error?.message ?? s));
    }
  })();
  return seen;
}

/** Subscribe (registered on the server when this resolves); the result gives what arrived within `wait` ms. */
async function received(nc: NatsConnection, subject: string, wait = 500): Promise<() => Promise<string[]>> {
  const got: string[] = [];
  const sub = nc.subscribe(subject);
  void (async () => {
    try {
      for await (const m of sub) got.push(m.subject);
    } catch {
      // a subscription the server refused ends with a permission error
    }
  })();
  await nc.flush();
  return () => new Promise((r) => setTimeout(() => r(got), wait));
}

describe('NATS', () => {
  it('a service publishes only to its subjects', async () => {
    const admin = await natsConnect(cred('nats', 'admin'));
    const billing = await natsConnect(cred('nats', 'billing'));
    const errors = permissionErrors(billing);
    try {
      const seen = await received(admin, '>');
      billing.publish('billing.invoice.created', 'ok');
      billing.publish('orders.created', 'forged');
      billing.publish('app.anything', 'forged');
      await billing.flush();
      const subjects = await seen();
      expect(subjects).toContain('billing.invoice.created');
      expect(subjects).not.toContain('orders.created');
      expect(subjects).not.toContain('app.anything');
      expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "orders\.created"/);
    } finally {
      await Promise.all([admin.close(), billing.close()]);
    }
  });

  it('a service subscribes only to its subjects', async () => {
    const admin = await natsConnect(cred('nats', 'admin'));
    const billing = await natsConnect(cred('nats', 'billing'));
    const errors = permissionErrors(billing);
    try {
      const allowed = await received(billing, 'orders.created');
      const denied = await received(billing, 'app.>');
      admin.publish('orders.created', '1');
      admin.publish('app.secret', '2');
      await admin.flush();
      expect(await allowed()).toEqual(['orders.created']);
      expect(await denied()).toEqual([]);
      expect(errors.join('\n')).toMatch(/Permissions Violation for Subscription to "app\.>"/);
    } finally {
      await Promise.all([admin.close(), billing.close()]);
    }
  });

  it('replies reach a service only on its own inbox prefix', async () => {
    const app = await natsConnect(cred('nats', 'app'));
    const other = await natsConnect(cred('nats', 'app'), { inboxPrefix: '_INBOX' });
    try {
      const sub = app.subscribe('app.echo');
      void (async () => {
        for await (const m of sub) m.respond(m.data);
      })();
      await app.flush();
      expect((await app.request('app.echo', 'hi', { timeout: 2000 })).string()).toBe('hi');
      await expect(other.request('app.echo', 'hi', { timeout: 1000 })).rejects.toThrow(/Permissions Violation for Subscription to "_INBOX\./);
    } finally {
      await Promise.all([app.close(), other.close()]);
    }
  });

  it('a service uses its streams but cannot create, delete or read others', async () => {
    const admin = await natsConnect(cred('nats', 'admin'));
    const billing = await natsConnect(cred('nats', 'billing'));
    try {
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: 'BILLING', subjects: ['billing.>'] });
      await jsm.streams.add({ name: 'SECRETS', subjects: ['app.secrets.>'] });
      const ack = await jetstream(billing).publish('billing.paid', 'x');
      expect(ack.stream).toBe('BILLING');
      const bjsm = await jetstreamManager(billing, { timeout: 1500 });
      expect((await bjsm.streams.info('BILLING')).state.messages).toBe(1);
      await expect(bjsm.streams.info('SECRETS')).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.INFO.SECRETS"');
      await expect(bjsm.streams.add({ name: 'ROGUE', subjects: ['billing.rogue.>'] })).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.CREATE.ROGUE"');
      await expect(bjsm.streams.delete('BILLING')).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.DELETE.BILLING"');
      expect((await jsm.streams.names().next()).sort()).toEqual(['BILLING', 'DLQ', 'EVENTS', 'SECRETS']);
    } finally {
      await Promise.all([admin.close(), billing.close()]);
    }
  });

  it('the system account sees nothing of the application account', async () => {
    const admin = await natsConnect(cred('nats', 'admin'));
    const system = await natsConnect(cred('nats', 'system'));
    try {
      const seen = await received(system, 'app.>');
      admin.publish('app.private', 'x');
      await admin.flush();
      expect(await seen()).toEqual([]);
    } finally {
      await Promise.all([admin.close(), system.close()]);
    }
  });
});

describe('Redis', () => {
  it('the application user keeps to its key and channel patterns, without dangerous commands', async () => {
    const app = await redisClient(cred('redis', 'app'));
    try {
      await app.set('app:session:1', 'x');
      expect(await app.get('app:session:1')).toBe('x');
      expect(await app.publish('app:events', 'x')).toBe(0);
      for (const [what, run] of [
        ['a key outside app:*', () => app.set('billing:1', 'x')],
        ['a channel outside app:*', () => app.publish('billing:events', 'x')],
        ['FLUSHALL', () => app.flushall()],
        ['CONFIG', () => app.config('GET', 'maxmemory')],
        ['KEYS', () => app.keys('*')],
        ['SHUTDOWN', () => app.call('SHUTDOWN', 'NOSAVE')],
        ['ACL', () => app.call('ACL', 'LIST')],
      ] as const) {
        await expect(run(), what).rejects.toThrow(/NOPERM/);
      }
    } finally {
      await app.quit();
    }
    // The ACL itself, asked without running anything: DEBUG is also disabled server-wide.
    const admin = await redisClient(cred('redis', 'admin'));
    try {
      for (const cmd of [['DEBUG', 'SLEEP', '0'], ['FLUSHALL'], ['CONFIG', 'GET', 'maxmemory'], ['KEYS', '*']]) {
        expect(String(await admin.call('ACL', 'DRYRUN', 'app', ...cmd)), cmd[0]).toMatch(/no permissions to run the '[a-z|]+' command/);
      }
      expect(await admin.call('ACL', 'DRYRUN', 'app', 'GET', 'app:x')).toBe('OK');
    } finally {
      await admin.quit();
    }
  });

  it('the monitoring user reads server statistics but no keys', async () => {
    const monitor = await redisClient(cred('redis', 'monitor'));
    try {
      expect(await monitor.info('memory')).toMatch(/used_memory:/);
      expect(await monitor.dbsize()).toBeGreaterThanOrEqual(0);
      expect(await monitor.config('GET', 'maxmemory')).toHaveLength(2);
      for (const run of [() => monitor.get('app:session:1'), () => monitor.set('app:x', '1'), () => monitor.flushall(), () => monitor.config('SET', 'maxmemory', '1')]) {
        await expect(run()).rejects.toThrow(/NOPERM/);
      }
    } finally {
      await monitor.quit();
    }
  });
});

describe('PostgreSQL', () => {
  it('each role has its statement and idle-in-transaction timeouts', async () => {
    const show = (role: string) =>
      asRole(stack, role, async (c) => {
        const r = await c.query<{ s: string; i: string }>("select current_setting('statement_timeout') as s, current_setting('idle_in_transaction_session_timeout') as i");
        return r.rows[0];
      });
    expect(await show('app_rw')).toEqual({ s: '30s', i: '1min' });
    expect(await show('app_ingest')).toEqual({ s: '5min', i: '1min' });
    expect(await show('app_ro')).toEqual({ s: '1s', i: '1min' }); // overridden in the config above
    await asRole(stack, 'app_ro', async (c) => {
      await expect(c.query('select pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    });
  });

  it('a role cannot open more connections than its limit', async () => {
    const clients: pg.Client[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = new pg.Client(pgConfig(cred('postgres', 'app_analytics'), stack.config.postgres.database));
        await c.connect();
        clients.push(c);
      }
      const third = new pg.Client(pgConfig(cred('postgres', 'app_analytics'), stack.config.postgres.database));
      await expect(third.connect()).rejects.toMatchObject({ code: '53300' });
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
