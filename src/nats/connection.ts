/**
 * NATS connections for the client library: TLS verified against the stack CA,
 * a per-user inbox prefix (service users may only receive replies there), and
 * reconnects that never give up. Built by the connection factory (connect/nats.ts).
 *
 *   const nc = await connectNats({ access, user: 'billing' });
 */
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import type { Access, ConnectionErrorHook } from '../connect/access.js';
import { natsConnect, natsEndpoint, type NatsEndpoint } from '../connect/nats.js';
import { InvalidArgumentError } from '../errors/index.js';

export { inboxFor } from '../connect/nats.js';

export interface NatsConnectOptions {
  /** The stack (config and secrets, resolved once: resolveAccess). */
  access?: Access;
  /** A user of the stack: admin, or a service user of nats.users (default: the first of them). */
  user?: string;
  /** Or explicit servers and credentials. */
  servers?: string | string[];
  pass?: string;
  ca?: string;
  name?: string;
  /** Extra nats.js options. */
  options?: Partial<ConnectionOptions>;
  /** Disconnects and server errors (besides dataplane_connection_errors_total); default: access.onConnectionError. */
  onConnectionError?: ConnectionErrorHook;
}

export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  let endpoint: NatsEndpoint;
  if (opts.servers) {
    endpoint = { servers: opts.servers, ...(opts.user ? { user: opts.user, pass: opts.pass ?? '' } : {}), ...(opts.ca ? { tls: { ca: opts.ca } } : {}) };
  } else if (opts.access) {
    endpoint = natsEndpoint(opts.access, opts.user ?? Object.keys(opts.access.config.nats.users)[0] ?? 'app');
  } else {
    throw new InvalidArgumentError('connectNats needs { access, user } or { servers }');
  }
  return natsConnect(endpoint, {
    name: opts.name ?? 'dataplane-client',
    reconnect: true,
    ...(opts.options ? { options: opts.options } : {}),
    onConnectionError: opts.onConnectionError ?? opts.access?.onConnectionError,
  });
}
