/**
 * NATS connections for the client library: TLS verified against the stack CA,
 * a per-user inbox prefix (service users may only receive replies there), and
 * reconnects that never give up.
 */
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.js';
import { inboxPrefix } from '../render/nats.js';
import { readSecrets, secretFor } from '../secrets/store.js';
import { natsTls } from '../connect/tls-options.js';
import { InvalidArgumentError } from '../errors/index.js';

export interface NatsConnectOptions {
  config?: Config;
  /** A user of the stack: admin, or a service user of nats.users. */
  user?: string;
  /** Or explicit servers and credentials. */
  servers?: string | string[];
  pass?: string;
  ca?: string;
  name?: string;
  /** Extra nats.js options. */
  options?: Partial<ConnectionOptions>;
}

/** The inbox prefix a user's replies must use (service users' permissions allow only theirs). */
export function inboxFor(user: string): string {
  return user === 'admin' || user === 'system' ? '_INBOX' : inboxPrefix(user);
}

export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  const base: Partial<ConnectionOptions> = {
    name: opts.name ?? 'dataplane-client',
    // Async stack traces cost an Error per request; half of a publisher's CPU (docs/benchmarks.md).
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: false,
    ...opts.options,
  };
  if (opts.servers) {
    return connect({ ...base, servers: opts.servers, ...(opts.user ? { user: opts.user, pass: opts.pass ?? '', inboxPrefix: inboxFor(opts.user) } : {}), ...(opts.ca ? { tls: { ca: opts.ca } } : {}) });
  }
  const config = opts.config;
  if (!config) throw new InvalidArgumentError('connectNats needs { config, user } or { servers }');
  const user = opts.user ?? Object.keys(config.nats.users)[0] ?? 'app';
  const tls = natsTls(config);
  return connect({
    ...base,
    servers: `${config.nats.host}:${config.nats.port}`,
    user,
    pass: secretFor(readSecrets(config), 'nats', user),
    inboxPrefix: inboxFor(user),
    ...(tls ? { tls } : {}),
  });
}
