/**
 * Errors on connections that no caller is waiting on. A client library must listen
 * for them (an unhandled 'error' event ends the process), and an empty listener
 * would hide a server that keeps dropping connections: each one is counted and
 * handed to the hook (a logger).
 */
import { counter } from '../lib/metrics.js';
import type { ConnectionErrorHook } from './access.js';

const connectionErrors = counter(
  'dataplane_connection_errors_total',
  'Errors on connections no caller was waiting on: dropped pooled connections, failed reconnects, errors after a probe gave up',
  ['server', 'client'],
);

export type ServerKind = Parameters<ConnectionErrorHook>[1]['server'];

/** The listener to attach to a client's 'error' event (or to call from a status stream). */
export function connectionErrorListener(server: ServerKind, client: string, hook?: ConnectionErrorHook): (e: Error) => void {
  const count = connectionErrors.labels(server, client);
  return (e) => {
    count.inc();
    hook?.(e, { server, client });
  };
}
