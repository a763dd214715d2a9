/**
 * What every command needs first, resolved once here at the edge: the validated
 * config (from --config, the environment and the defaults) and, for commands that
 * reach the servers, the access (config + secrets).
 */
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { resolveAccess, type Access } from '../connect/access.js';

export interface GlobalOptions {
  config?: string;
}

export function loadFor(cmd: Command): LoadedConfig {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig(opts.config ? { file: opts.config } : {});
}

/** Config and secrets; `create` generates missing secrets (they must exist otherwise). */
export function accessFor(cmd: Command, opts: { create?: boolean } = {}): { loaded: LoadedConfig; access: Access } {
  const loaded = loadFor(cmd);
  return { loaded, access: resolveAccess(loaded, opts) };
}
