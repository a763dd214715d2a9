/**
 * The one place NATS connections are made: probes, rotation checks, backups, the
 * supervisor's workers and the client library. TLS (verified against the stack CA),
 * the per-user inbox prefix, reconnects and error reporting are decided here.
 */
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.js';
import { natsNodes, onHosts } from '../config/topology.js';
import { secretFor } from '../secrets/store.js';
import type { Access, ConnectionErrorHook } from './access.js';
import { connectionErrorListener } from './errors.js';
import { joinTlsReads } from './nats-tls-reads.js';
import { natsTls } from './tls.js';

/** Replies to a service's requests (and JetStream acks) go to its own inbox prefix. */
export function inboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}

/** The inbox prefix a user's replies must use (service users' permissions allow only theirs; admin and system use the default). */
export function inboxFor(user: string): string {
  return user === 'admin' || user === 'system' ? '_INBOX' : inboxPrefix(user);
}

export interface NatsEndpoint {
  servers: string | string[];
  user?: string;
  pass?: string;
  tls?: { ca: string };
  /** The servers run on separate hosts (an inventory): one can vanish without a reset. */
  separateHosts?: boolean;
}

/** Every node's client address: a client moves to another node when its node goes away. */
export function natsServers(config: Config): string[] {
  return natsNodes(config).map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`));
}

/** A user of the stack's application account (admin, a service user) or `system`. */
export function natsEndpoint(access: Access, user: string): NatsEndpoint {
  const { config } = access;
  const tls = natsTls(config);
  const servers = natsServers(config);
  return { servers: servers.length === 1 ? servers[0]! : servers, user, pass: secretFor(access.secrets, 'nats', user), ...(tls ? { tls } : {}), ...(onHosts(config) ? { separateHosts: true } : {}) };
}

export interface NatsConnectOptions {
  /** Connection name shown by the server (and the metrics label). */
  name: string;
  /** Reconnect forever (the library's long-lived connections) or never (one job, a probe). */
  reconnect: boolean;
  timeoutMs?: number;
  options?: Partial<ConnectionOptions>;
  /** For reconnecting connections: their disconnects nobody awaits. A one-job connection's caller sees its errors. */
  onConnectionError?: ConnectionErrorHook | undefined;
}

export async function natsConnect(endpoint: NatsEndpoint, opts: NatsConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: endpoint.servers,
    name: opts.name,
    // Async stack traces cost an Error per request; half of a publisher's CPU (docs/benchmarks.md).
    noAsyncTraces: true,
    ...(endpoint.user ? { user: endpoint.user, pass: endpoint.pass ?? '', inboxPrefix: inboxFor(endpoint.user) } : {}),
    ...(endpoint.tls ? { tls: endpoint.tls } : {}),
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    ...(opts.reconnect ? { maxReconnectAttempts: -1, reconnectTimeWait: 500, reconnectJitter: 250, waitOnFirstConnect: false } : { reconnect: false }),
    // On separate hosts a server cut off sends no reset: two unanswered PINGs 5 s apart declare the
    // connection stale (nats.js waits 2 min), and a connect attempt gives up after 5 s (20 s), so a
    // reconnect does not sit on the vanished host. On one machine the defaults stay: a server that
    // is alive but wedged (a full disk) is the watchdog's to restart, not the client's to leave.
    ...(opts.reconnect && endpoint.separateHosts ? { pingInterval: 5000, maxPingOut: 2, timeout: opts.timeoutMs ?? 5000 } : {}),
    ...opts.options,
  });
  joinTlsReads(nc, opts.reconnect);
  if (opts.reconnect) void reportStatus(nc, opts.name, opts.onConnectionError);
  return nc;
}

/** Disconnects and server errors of a long-lived connection, counted and reported (nats.js has no 'error' event). */
async function reportStatus(nc: NatsConnection, name: string, hook: ConnectionErrorHook | undefined): Promise<void> {
  const report = connectionErrorListener('nats', name, hook);
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') report(new Error(`disconnected from ${s.server}`));
    else if (s.type === 'error') report(s.error);
  }
}
