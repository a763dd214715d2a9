/**
 * /livez, /readyz and /metrics. Liveness says the process answers; readiness runs a
 * real probe per component (with its key figures) and returns 503 when any required
 * one is down; /metrics serves the given Prometheus registries. The supervisor runs
 * one; a service embeds its own with its components and registries.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ComponentHealth {
  name: string;
  status: 'up' | 'down';
  required: boolean;
  latencyMs?: number;
  version?: string;
  reason?: string;
  /** Key figures: connections used / max, memory, storage, lag (see figures.ts). */
  details?: Record<string, unknown>;
}

export interface Readiness {
  status: 'ready' | 'not ready';
  components: Record<string, Omit<ComponentHealth, 'name'>>;
}

export function summarize(components: ComponentHealth[]): Readiness {
  const ready = components.every((c) => c.status === 'up' || !c.required);
  return {
    status: ready ? 'ready' : 'not ready',
    components: Object.fromEntries(components.map(({ name, ...rest }) => [name, rest])),
  };
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  check: () => Promise<ComponentHealth[]>;
  /** Served on /metrics, concatenated (metric names must not repeat across them). */
  registries?: Registry[];
}

async function exposition(registries: Registry[]): Promise<string> {
  const parts = await Promise.all(registries.map((r) => r.metrics()));
  return parts.filter(Boolean).join('\n');
}

export function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const registries = opts.registries ?? [];
  const server = http.createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body) + '\n');
    };
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (url === '/livez') return send(200, { status: 'ok' });
    if (url === '/readyz') {
      opts.check().then(
        (components) => {
          const body = summarize(components);
          send(body.status === 'ready' ? 200 : 503, body);
        },
        (e: Error) => send(503, { status: 'not ready', error: e.message }),
      );
      return;
    }
    if (url === '/metrics' && registries.length) {
      exposition(registries).then(
        (body) => {
          res.writeHead(200, { 'content-type': registries[0]!.contentType, 'cache-control': 'no-store' });
          res.end(body);
        },
        (e: Error) => send(500, { error: e.message }),
      );
      return;
    }
    send(404, { error: 'not found', endpoints: ['/livez', '/readyz', ...(registries.length ? ['/metrics'] : [])] });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        url: `http://${host}:${addr.port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
