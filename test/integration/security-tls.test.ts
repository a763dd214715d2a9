/**
 * The prod profile: every server refuses plaintext and anonymous clients, and a
 * client that does not trust the stack's CA cannot connect.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { credential, natsConnect, pgConfig, redisClient } from '../helpers/connect.js';

let stack: EphemeralStack;
const cred = (service: string, user: string) => credential(stack.credentials, service, user);

beforeAll(async () => {
  stack = await startEphemeralStack({ config: { profile: 'prod' } });
});

afterAll(async () => {
  await stack.stop();
});

/** Write `send` on a fresh socket and collect what comes back until the server goes quiet or closes. */
function exchange(socket: net.Socket, send: string | ((first: string) => string), quietMs = 700): Promise<{ data: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    let data = '';
    let sent = typeof send === 'string';
    let timer: NodeJS.Timeout | undefined;
    let quiet = false;
    const done = () => {
      quiet = true;
      socket.destroy();
      resolve({ data, closedByServer: false });
    };
    socket.on('data', (d) => {
      data += d.toString();
      if (!sent && typeof send === 'function') {
        sent = true;
        socket.write(send(data));
      }
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closedByServer: !quiet });
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    if (typeof send === 'string') socket.write(send);
    timer = setTimeout(done, quietMs * 3);
  });
}

describe('prod profile: plaintext is refused', () => {
  it('PostgreSQL has no pg_hba.conf entry without encryption', async () => {
    const plain = new pg.Client({ ...pgConfig(stack.postgres!), ssl: false });
    await expect(plain.connect()).rejects.toMatchObject({ code: '28000', message: expect.stringMatching(/no encryption/) });
  });

  it('Redis listens on its TLS port only', async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const s = net.connect(stack.config.redis.port, '127.0.0.1');
      s.on('error', resolve);
      s.on('connect', () => resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })));
    });
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('NATS requires TLS before CONNECT', async () => {
    const reply = await exchange(net.connect(stack.config.nats.port, '127.0.0.1'), () => 'CONNECT {"user":"x","pass":"not-a-real-password","verbose":false}\r\nPING\r\n');
    const info = JSON.parse(reply.data.split('\r\n')[0]!.replace(/^INFO /, '')) as { tls_required?: boolean };
    expect(info.tls_required).toBe(true);
    // The plaintext CONNECT is not a TLS handshake: the server hangs up without a PONG.
    expect(reply.closedByServer).toBe(true);
    expect(reply.data).not.toMatch(/PONG|\+OK/);
  });
});

describe('prod profile: anonymous clients are refused over TLS too', () => {
  it('PostgreSQL asks for a password', () => {
    const c = stack.postgres!;
    const url = `postgresql://${c.user}@${c.host}:${c.port}/${c.database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(c.caFile!)}`;
    const r = spawnSync('psql', ['-w', url, '-c', 'select 1'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no password supplied/);
  });

  it('Redis answers NOAUTH', async () => {
    const c = stack.redis!;
    const socket = tls.connect({ host: c.host, port: c.port, ca: (await import('node:fs')).readFileSync(c.caFile!) });
    await new Promise((r) => socket.once('secureConnect', r));
    expect((await exchange(socket, 'PING\r\n')).data).toMatch(/^-NOAUTH/);
  });

  it('NATS rejects a connection without credentials', async () => {
    await expect(natsConnect({ ...stack.nats!, user: '', password: '' })).rejects.toThrow(/Authorization/i);
  });
});

describe('clients verify the servers', () => {
  it('a client that does not trust the stack CA cannot connect to any server', async () => {
    // No `ca`: only the system's trusted roots, which never signed the stack's certificates.
    const pgClient = new pg.Client({ ...pgConfig(stack.postgres!), ssl: { rejectUnauthorized: true } });
    await expect(pgClient.connect()).rejects.toThrow(/self[- ]signed|unable to verify|unable to get local issuer/);
    await expect(redisClient({ ...stack.redis!, caFile: undefined }, { tls: {} })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await expect(natsConnect({ ...stack.nats!, caFile: undefined }, { tls: {} })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('with the CA, every server is reached over TLS and verified by address', async () => {
    const db = new pg.Client(pgConfig(stack.postgres!));
    await db.connect();
    const ssl = await db.query<{ ssl: boolean; version: string }>('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()');
    await db.end();
    expect(ssl.rows[0]).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
    const r = await redisClient(cred('redis', 'app'));
    expect(await r.ping()).toBe('PONG');
    await r.quit();
    const nc = await natsConnect(cred('nats', 'app'));
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
  });
});
