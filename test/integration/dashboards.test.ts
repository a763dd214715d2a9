/**
 * The Grafana dashboards: the committed JSON matches the code, and every panel's
 * PromQL, run against the live Prometheus of a running stack after a short load
 * through the client library, succeeds and returns at least one series.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExample } from '../../examples/telemetry-service.js';
import { connectNats } from '../../src/nats/connection.js';
import { reconcile } from '../../src/nats/reconcile.js';
import { allBoards, dashboardFiles } from '../../src/observe/dashboards/index.js';
import { startHealthServer, type HealthServer } from '../../src/observe/health.js';
import { registry } from '../../src/lib/metrics.js';
import { monitorUrl, monitoringGet } from '../../src/servers/monitoring.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';
import { ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';

it('deploy/grafana holds exactly what the code generates', () => {
  for (const f of dashboardFiles()) {
    const committed = readFileSync(path.join(ROOT, 'deploy', 'grafana', f.path), 'utf8');
    expect(committed, `${f.path} is stale: run dataplane dashboards --out deploy/grafana`).toBe(f.content);
  }
});

describe('against a running stack', () => {
  let stack: EphemeralStack;
  let app: HealthServer;

  async function query(expr: string): Promise<{ status: string; data?: { result: unknown[] }; error?: string }> {
    const url = `${monitorUrl(stack.config, 'prometheus')}/api/v1/query?query=${encodeURIComponent(expr)}`;
    return (await monitoringGet(stack.access, url, 5000)) as { status: string; data?: { result: unknown[] } };
  }

  beforeAll(async () => {
    // This test process plays an application service: it serves the library's metrics for Prometheus.
    app = await startHealthServer({ host: '127.0.0.1', port: 0, check: async () => [], registries: [registry] });
    stack = await startEphemeralStack({ config: { monitoring: { enabled: true, scrapeTargets: [app.url.replace('http://', '')] } } });
    const nc = await connectNats({ access: stack.access, user: 'admin' });
    await reconcile(await jetstreamManager(nc), { streams: [], consumers: [{ stream: 'EVENTS', name: 'example-service', filterSubject: 'app.events.registry.source_registered.*' }] });
    await nc.close();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await app?.close();
  });

  it('every panel query returns series after a short load', { timeout: 120_000 }, async () => {
    // The load: PostgreSQL transactions with an outbox event, COPY ingest, cache reads
    // and writes, JetStream publish and consume, the relay and cache invalidation.
    const r = await runExample(stack.access);
    expect(r.samples).toBeGreaterThan(0);
    // Counters need two scrapes after their first sample for rate() over them.
    await waitFor(
      'the load to be scraped twice',
      async () => {
        const res = await query('count_over_time(dataplane_ingest_rows_total{job="app"}[1m])');
        return Number((res.data?.result as { value: [number, string] }[] | undefined)?.[0]?.value[1] ?? 0) >= 3 || undefined;
      },
      60_000,
      1000,
    );
    const failures: string[] = [];
    for (const board of allBoards()) {
      for (const q of board.queries()) {
        const expr = q.expr.replaceAll('$__rate_interval', '1m');
        const res = await query(expr);
        if (res.status !== 'success') failures.push(`${board.title} / ${q.panel}: ${expr}: ${res.error ?? res.status}`);
        else if (!res.data?.result.length) failures.push(`${board.title} / ${q.panel}: ${expr}: no series`);
      }
    }
    expect(failures).toEqual([]);
  });
});
