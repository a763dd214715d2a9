/**
 * Monitoring on a running stack: the health server's /readyz figures and /metrics,
 * Prometheus scraping every exporter with their logins, and a real alert (Redis
 * frozen with SIGSTOP) delivered by Alertmanager to a local webhook.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorUrl, monitoringGet } from '../../src/servers/monitoring.js';
import { readSecrets } from '../../src/secrets/store.js';
import { rotateCredential } from '../../src/stack/rotate.js';
import { stackStatus } from '../../src/stack/status.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { waitFor } from '../helpers/processes.js';

interface WebhookAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

let stack: EphemeralStack;
let receiver: http.Server;
const delivered: WebhookAlert[] = [];

async function promQuery(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const url = `${monitorUrl(stack.config, 'prometheus')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = (await monitoringGet(stack.access, url)) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return body.data.result;
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      delivered.push(...((JSON.parse(body) as { alerts: WebhookAlert[] }).alerts ?? []));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  stack = await startEphemeralStack({ config: { monitoring: { enabled: true, alertWebhookUrl: `http://127.0.0.1:${port}/alerts` } } });
});

afterAll(async () => {
  await stack?.stop();
  receiver?.close();
});

describe('health server', () => {
  it('/readyz reports each server with its key figures, monitoring as not required', async () => {
    const res = await fetch(`${stack.healthUrl}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { components: Record<string, { status: string; required: boolean; details?: Record<string, any> }> };
    const c = body.components;
    expect(c.postgres!.details!.connections.max).toBeGreaterThan(0);
    expect(c.postgres!.details!.connections.used).toBeGreaterThan(0);
    expect(c.postgres!.details!.replicationLagSeconds).toBeNull();
    expect(c.redis!.details!.role).toBe('master');
    expect(c.redis!.details!.memory.max).toBeGreaterThan(0);
    expect(c.nats!.details!.jetstream.storageLimit).toBeGreaterThan(0);
    expect(c.nats!.details!.connections.max).toBeGreaterThan(0);
    for (const m of ['prometheus', 'alertmanager', 'node-exporter', 'postgres-exporter', 'redis-exporter']) {
      expect(c[m], m).toMatchObject({ status: 'up', required: false });
    }
  });

  it('/metrics serves process, library and server metrics', async () => {
    const text = await (await fetch(`${stack.healthUrl}/metrics`)).text();
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'dataplane_server_up{service="redis"} 1',
      'dataplane_disk_used_bytes{area="pg_wal",service="postgres"}',
      'dataplane_filesystem_avail_bytes{area="jetstream",service="nats"}',
      'dataplane_tls_certificate_expiry_timestamp_seconds{certificate="ca"}',
      'dataplane_outbox_backlog 0',
      'nats_server_up 1',
      'nats_jetstream_max_storage_bytes',
      'nats_stream_messages{account="APP",stream="DLQ"}',
      'dataplane_outbox_relay_leader 1',
    ]) {
      expect(text, name).toContain(name);
    }
  });

  it('`status` shows the same figures', async () => {
    const st = await stackStatus(stack.config);
    const pg = st.services.find((s) => s.name === 'postgres')!;
    expect(pg.figures).toMatchObject({ connections: { max: expect.any(Number) } });
    expect(st.services.find((s) => s.name === 'prometheus')!.status).toBe('running');
    expect(st.monitoring?.prometheus).toBe(monitorUrl(stack.config, 'prometheus'));
  });
});

describe('Prometheus', () => {
  it('scrapes every target, the exporters logging in as the monitoring users', async () => {
    const targets = await waitFor(
      'every target up',
      async () => {
        const up = await promQuery('up');
        return up.length >= 6 && up.every((u) => u.value[1] === '1') ? up : undefined;
      },
      60_000,
      1000,
    );
    expect(targets.map((t) => t.metric.job).sort()).toEqual(['alertmanager', 'dataplane', 'node', 'postgres', 'prometheus', 'redis']);
    expect((await promQuery('pg_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery('redis_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery('pg_settings_max_connections'))[0]?.value[1]).toMatch(/^\d+$/);
  });

  it('refuses requests without the monitoring login', async () => {
    expect((await fetch(`${monitorUrl(stack.config, 'prometheus')}/api/v1/query?query=up`)).status).toBe(401);
    expect((await fetch(`${monitorUrl(stack.config, 'alertmanager')}/api/v2/status`)).status).toBe(401);
    expect((await fetch(`${monitorUrl(stack.config, 'node-exporter')}/metrics`)).status).toBe(401);
  });

  it('loaded the alert rules', async () => {
    const url = `${monitorUrl(stack.config, 'prometheus')}/api/v1/rules`;
    const body = (await monitoringGet(stack.access, url)) as { data: { groups: { rules: { name: string }[] }[] } };
    const names = body.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    expect(names).toContain('RedisDown');
    expect(names.length).toBeGreaterThanOrEqual(20);
  });
});

describe('rotation', () => {
  it('`credentials rotate monitoring admin` moves every endpoint to the new password, and scraping goes on', { timeout: 90_000 }, async () => {
    const old = stack.supervisor.secrets.monitoring!.admin!;
    // What `up` does on SIGHUP; the supervisor runs inside this test process.
    const onHup = () => void stack.supervisor.reload();
    process.on('SIGHUP', onHup);
    try {
      expect((await rotateCredential(stack.config, 'monitoring', 'admin')).live).toBe(true);
    } finally {
      process.off('SIGHUP', onHup);
    }
    const fresh = readSecrets(stack.config).monitoring!.admin!;
    expect(fresh).not.toBe(old);
    const get = (url: string, pw: string) => fetch(url, { headers: { authorization: `Basic ${Buffer.from(`admin:${pw}`).toString('base64')}` } });
    for (const [m, p] of [['prometheus', '/-/ready'], ['alertmanager', '/-/ready'], ['node-exporter', '/metrics'], ['postgres-exporter', '/metrics']] as const) {
      expect((await get(`${monitorUrl(stack.config, m)}${p}`, old)).status, `${m} with the old password`).toBe(401);
      expect((await get(`${monitorUrl(stack.config, m)}${p}`, fresh)).status, `${m} with the new password`).toBe(200);
    }
    // Prometheus scrapes the protected exporters with the new password.
    await waitFor(
      'every target up after the rotation',
      async () => {
        const up = await promQuery('up');
        return up.length >= 6 && up.every((u) => u.value[1] === '1') ? up : undefined;
      },
      30_000,
      1000,
    );
  });
});

describe('alert delivery', () => {
  it('a frozen Redis fires RedisDown, delivered by Alertmanager to the webhook', { timeout: 150_000 }, async () => {
    const redis = stack.supervisor.snapshot().find((s) => s.name === 'redis')!;
    expect(redis.pid).toBeGreaterThan(0);
    process.kill(redis.pid!, 'SIGSTOP');
    try {
      const alert = await waitFor('RedisDown at the webhook', () => delivered.find((a) => a.labels.alertname === 'RedisDown' && a.status === 'firing'), 120_000, 500);
      expect(alert.labels).toMatchObject({ severity: 'critical', service: 'redis' });
      expect(alert.annotations.runbook_url).toBe('docs/runbooks/redis-down.md');
    } finally {
      process.kill(redis.pid!, 'SIGCONT');
    }
  });
});
