/**
 * HTTP JSON requests to the ha topology's control endpoints: Patroni's REST API and
 * etcd's. Both require a client certificate of the stack's CA when TLS is on;
 * dataplane presents the PostgreSQL server certificate (it is issued for client
 * authentication too). node:https rather than fetch: fetch takes no client certificate.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Config } from '../config/schema.js';
import { ProbeError } from '../errors/index.js';
import { tlsFiles, type ServerCert } from '../tls/certificates.js';
import { caPem } from './tls.js';

export interface RestAnswer<T> {
  status: number;
  body: T;
}

export interface RestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  timeoutMs?: number;
  /** HTTPS or not; by default HTTPS whenever TLS is on (Patroni, etcd). */
  https?: boolean;
  /** The client certificate presented (default: the PostgreSQL server's, for Patroni and etcd). */
  cert?: ServerCert;
  /** Basic auth. */
  login?: { user: string; password: string };
}

/** GET or POST `path` on host:port; any status resolves, a network failure or timeout rejects with ProbeError. */
export function restRequest<T = unknown>(config: Config, target: { host: string; port: number }, path: string, opts: RestOptions = {}): Promise<RestAnswer<T>> {
  const ca = opts.https === false ? undefined : caPem(config);
  const cert = ca ? (opts.cert ?? tlsFiles(config).servers.postgres) : undefined;
  const auth = opts.login ? { authorization: `Basic ${Buffer.from(`${opts.login.user}:${opts.login.password}`).toString('base64')}` } : {};
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const req = (ca ? httpsRequest : httpRequest)(
      {
        host: target.host,
        port: target.port,
        path,
        method: opts.method ?? 'GET',
        timeout: timeoutMs,
        headers: { accept: 'application/json', ...auth, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        ...(ca && cert ? { ca, cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), rejectUnauthorized: true } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON: the text itself */
          }
          resolve({ status: res.statusCode ?? 0, body: body as T });
        });
        res.on('error', (e) => reject(new ProbeError(`${target.host}:${target.port}${path}: ${e.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new ProbeError(`${target.host}:${target.port}${path}: ${e.message}`)));
    if (payload) req.write(payload);
    req.end();
  });
}

/** restRequest by URL: http:// or https:// decides TLS. */
export function restUrl<T = unknown>(config: Config, url: string, opts: Omit<RestOptions, 'https'> = {}): Promise<RestAnswer<T>> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return restRequest<T>(config, { host, port: Number(u.port) }, u.pathname + u.search, { ...opts, https: u.protocol === 'https:' });
}
