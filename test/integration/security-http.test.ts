/**
 * The prod profile's HTTP surfaces, walked as an operator would from `status --json`:
 * every port the stack listens on refuses plain HTTP; every HTTP surface serves TLS of
 * the stack's CA and refuses a request without credentials (401, or no handshake
 * without a client certificate where the exporter has no logins); the right
 * credentials work. Prometheus scrapes and reaches Alertmanager over TLS, Alertmanager
 * delivers to an HTTPS webhook, and NATS opens no monitoring port at all.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../src/lib/ports.js';
import type { ListeningPort, StackStatus } from '../../src/stack/status.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';

let project: Project;
let status: StackStatus;
let ca: Buffer;
let client: { cert: Buffer; key: Buffer };
let password: string;
let receiver: https.Server;
const delivered: { labels: Record<string, string> }[] = [];

interface Answer {
  status?: number;
  body?: string;
  error?: string;
}

/** GET over TLS trusting only the stack's CA; a TLS or network failure is an answer too. */
function get(port: number, urlPath: string, opts: { login?: boolean | string; cert?: boolean; method?: string; body?: string } = {}): Promise<Answer> {
  const pw = typeof opts.login === 'string' ? opts.login : password;
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: opts.method ?? 'GET',
        ca,
        timeout: 5000,
        ...(opts.cert ? client : {}),
        headers: {
          ...(opts.login ? { authorization: `Basic ${Buffer.from(`admin:${pw}`).toString('base64')}` } : {}),
          ...(opts.body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
    req.end(opts.body);
  });
}

/** A plain-HTTP request written on a raw socket: what, if anything, comes back. */
function plainHttp(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = () => {
      s.destroy();
      resolve(data);
    };
    s.setTimeout(3000, done);
    s.on('connect', () => s.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('close', done);
    s.on('error', done);
  });
}

/** What each HTTP surface serves once logged in. */
const READY_PATH: Record<string, string> = {
  supervisor: '/readyz',
  prometheus: '/-/ready',
  alertmanager: '/-/ready',
  'node-exporter': '/metrics',
  'postgres-exporter': '/metrics',
  'redis-exporter': '/metrics',
};

beforeAll(async () => {
  const [hookPort] = await freePorts(1);
  project = await tempProject({
    profile: 'prod',
    monitoring: { enabled: true, alertWebhookUrl: `https://127.0.0.1:${hookPort}/alerts`, alertWebhookCa: 'stack' },
  });
  const up = await project.run(['up', '--detach'], { timeoutMs: 150_000 });
  if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
  const st = await project.run(['status', '--json']);
  status = JSON.parse(st.stdout) as StackStatus;
  const tlsDir = path.join(project.stateDir, 'tls');
  ca = readFileSync(path.join(tlsDir, 'ca.crt'));
  // A client of the stack's CA: the HTTP surfaces' own certificate is issued for client authentication too.
  client = { cert: readFileSync(path.join(tlsDir, 'http.crt')), key: readFileSync(path.join(tlsDir, 'http.key')) };
  password = (JSON.parse(readFileSync(path.join(project.stateDir, 'secrets.json'), 'utf8')) as { monitoring: { admin: string } }).monitoring.admin;
  // The webhook: HTTPS with a certificate of the stack's CA (alertWebhookCa: stack).
  receiver = https.createServer(client, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      delivered.push(...((JSON.parse(body) as { alerts?: { labels: Record<string, string> }[] }).alerts ?? []));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(hookPort, '127.0.0.1', r));
}, 180_000);

afterAll(async () => {
  receiver?.close();
  await project?.cleanup();
});

const httpPorts = () => status.ports.filter((p) => p.http !== null);

describe('prod profile: every port of `status --json`', () => {
  it('lists the servers and every HTTP surface, all of them HTTPS; NATS opens no monitoring port', async () => {
    expect(status.healthy).toBe(true);
    expect(httpPorts().map((p) => p.process).sort()).toEqual(Object.keys(READY_PATH).sort());
    expect(httpPorts().every((p) => p.http === 'https')).toBe(true);
    expect(status.ports.map((p) => p.setting)).toEqual(expect.arrayContaining(['postgres.port', 'redis.tlsPort', 'nats.port']));
    expect(status.ports.map((p) => p.setting)).not.toContain('nats.monitorPort');
    expect(await plainHttp(project.ports.natsMonitor)).toBe('');
    expect(readFileSync(path.join(project.stateDir, 'nats', 'nats.conf'), 'utf8')).not.toMatch(/^https?:/m);
  });

  it('no port answers a plain-HTTP request', async () => {
    const answers = await Promise.all(status.ports.map(async (p: ListeningPort) => ({ p, reply: await plainHttp(p.port) })));
    for (const { p, reply } of answers) {
      // Go's TLS servers say "400 Client sent an HTTP request to an HTTPS server"; the rest close or speak their protocol.
      expect(reply, `${p.process} ${p.setting}`).not.toMatch(/^HTTP\/1\.[01] (2\d\d|3\d\d|401)/);
    }
    expect(answers.length).toBeGreaterThanOrEqual(9);
    // The request did reach the HTTP surfaces: Go's say why they refuse it.
    expect(answers.filter((x) => /HTTP request to an HTTPS server/.test(x.reply)).length).toBeGreaterThanOrEqual(4);
  });

  it('without credentials: 401, or no TLS handshake without a client certificate (the Redis exporter)', async () => {
    for (const p of httpPorts()) {
      const anonymous = await get(p.port, READY_PATH[p.process]!);
      if (p.process === 'redis-exporter') expect(anonymous.error, p.process).toMatch(/certificate|handshake|socket hang up|ECONNRESET/i);
      else expect(anonymous.status, p.process).toBe(401);
      if (p.process === 'redis-exporter') continue;
      const wrong = await get(p.port, READY_PATH[p.process]!, { login: 'not-the-password' });
      expect(wrong.status, `${p.process} with a wrong password`).toBe(401);
    }
    // /livez too: the health server asks for the login on every path.
    const supervisor = httpPorts().find((p) => p.process === 'supervisor')!;
    expect((await get(supervisor.port, '/livez')).status).toBe(401);
  });

  it('with the monitoring login (and the client certificate), each answers', async () => {
    for (const p of httpPorts()) {
      const a = await get(p.port, READY_PATH[p.process]!, { login: true, cert: true });
      expect(a.status, `${p.process}: ${a.error ?? a.body?.slice(0, 200)}`).toBe(200);
    }
    const supervisor = httpPorts().find((p) => p.process === 'supervisor')!;
    expect((await get(supervisor.port, '/livez', { login: true })).status).toBe(200);
    // NATS figures come through the system account, not a monitoring port.
    const ready = JSON.parse((await get(supervisor.port, '/readyz', { login: true })).body!) as { components: Record<string, { details?: { jetstream?: { storageLimit: number } } }> };
    expect(ready.components.nats!.details!.jetstream!.storageLimit).toBeGreaterThan(0);
    const metrics = (await get(supervisor.port, '/metrics', { login: true })).body!;
    expect(metrics).toContain('nats_server_up 1');
  });
});

describe('prod profile: monitoring over TLS', () => {
  const prometheus = () => httpPorts().find((p) => p.process === 'prometheus')!.port;
  const api = async <T>(port: number, p: string) => JSON.parse((await get(port, p, { login: true, cert: true })).body!) as T;

  it('Prometheus scrapes every target over HTTPS and reaches Alertmanager over HTTPS', async () => {
    const targets = await waitFor(
      'every target up over https',
      async () => {
        const t = await api<{ data: { activeTargets: { scrapeUrl: string; health: string; labels: { job: string }; lastError: string }[] } }>(prometheus(), '/api/v1/targets');
        const active = t.data.activeTargets;
        return active.length >= 6 && active.every((x) => x.health === 'up') ? active : undefined;
      },
      60_000,
      1000,
    );
    expect(targets.map((t) => t.labels.job).sort()).toEqual(['alertmanager', 'dataplane', 'node', 'postgres', 'prometheus', 'redis']);
    for (const t of targets) expect(t.scrapeUrl, t.labels.job).toMatch(/^https:\/\//);
    const am = await api<{ data: { activeAlertmanagers: { url: string }[] } }>(prometheus(), '/api/v1/alertmanagers');
    expect(am.data.activeAlertmanagers.map((a) => a.url)).toEqual([expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+\/api\/v2\/alerts$/)]);
  });

  it('Alertmanager delivers to an HTTPS webhook it verifies against the stack CA', { timeout: 90_000 }, async () => {
    const am = httpPorts().find((p) => p.process === 'alertmanager')!.port;
    const alert = [{ labels: { alertname: 'SecurityHttpTest', service: 'test', severity: 'warning' }, annotations: { summary: 'delivery over TLS' } }];
    const posted = await get(am, '/api/v2/alerts', { login: true, method: 'POST', body: JSON.stringify(alert) });
    expect(posted.status, posted.body).toBe(200);
    await waitFor('the test alert at the webhook', () => delivered.find((a) => a.labels.alertname === 'SecurityHttpTest'), 60_000, 500);
  });
});
