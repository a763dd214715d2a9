/**
 * Access: what it takes to reach the stack's servers, resolved once at the edge (the
 * CLI, or an application's start-up) and passed down. Nothing below reads the
 * environment or secrets.json on its own: one process holds one set of secrets.
 *
 *   const access = resolveAccess(loadConfig());           // file + environment, validated
 *   const db = connectPostgres({ access, user: 'app_rw' });
 */
import type { LoadedConfig, RuntimeEnvironment } from '../config/load.js';
import type { Config, ServiceName } from '../config/schema.js';
import { ensureSecrets, readSecrets, type Secrets } from '../secrets/store.js';

/** Who hears of errors on connections no caller awaits: a dropped idle pooled connection, a failed reconnect. */
export type ConnectionErrorHook = (error: Error, source: { server: ServiceName | 'monitoring'; client: string }) => void;

export interface Access {
  readonly config: Config;
  readonly secrets: Secrets;
  /** Logs them, typically; the counter dataplane_connection_errors_total counts them either way. */
  readonly onConnectionError?: ConnectionErrorHook | undefined;
}

export interface ResolveOptions {
  /** Generate missing secrets (the first `up`, `config render`); otherwise they must exist. */
  create?: boolean;
  onConnectionError?: ConnectionErrorHook;
}

/** Validated config plus its secrets: from secrets.json, or DATAPLANE_SECRET_* where the environment gives them. */
export function resolveAccess(loaded: { config: Config; environment?: RuntimeEnvironment | undefined }, opts: ResolveOptions = {}): Access {
  const overrides = loaded.environment?.secrets ?? {};
  const secrets = opts.create ? ensureSecrets(loaded.config, overrides) : readSecrets(loaded.config, overrides);
  return { config: loaded.config, secrets, ...(opts.onConnectionError ? { onConnectionError: opts.onConnectionError } : {}) };
}

export type { LoadedConfig };
