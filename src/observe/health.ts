/**
 * /livez, /readyz and /metrics. Liveness says the process answers; readiness runs a
 * real probe per component (with its key figures) and returns 503 when any required
 * one is down; /metrics serves the given Prometheus registries. The supervisor runs
 * one; a service embeds its own with its components and registries.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
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
  /** A renewed certificate, for the connections from now on (HTTPS only). */
  setCertificate(tls: { cert: string | Buffer; key: string | Buffer }): void;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  check: () => Promise<ComponentHealth[]>;
  /** Served on /metrics, concatenated (metric names must not repeat across them). */
  registries?: Registry[];
  /** HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Basic auth on every path, /livez included (a digest comparison, no bcrypt: /livez
   * stays cheap). Read per request, so a rotated password applies at once.
   */
  login?: () => { user: string; password: string };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether the request carries the login; digests compared in constant time. */
function authorized(req: http.IncomingMessage, login: { user: string; password: string }): boolean {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  return timingSafeEqual(digest(Buffer.from(m[1]!, 'base64').toString('utf8')), digest(`${login.user}:${login.password}`));
}

async function exposition(registries: Registry[]): Promise<string> {
  const parts = await Promise.all(registries.map((r) => r.metrics()));
  return parts.filter(Boolean).join('\n');
}

export function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const registries = opts.registries ?? [];
  const handler: http.RequestListener = (req, res) => {
    const send = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body) + '\n');
    };
    const url = (req.url ?? '/').split('?')[0];
    if (opts.login && !authorized(req, opts.login())) return send(401, { error: 'authentication required' }, { 'www-authenticate': 'Basic realm="dataplane", charset="UTF-8"' });
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
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        url: `${opts.tls ? 'https' : 'http'}://${host}:${addr.port}`,
        setCertificate: (tls) => {
          if (server instanceof https.Server) server.setSecureContext({ cert: tls.cert, key: tls.key });
        },
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
