/** What every command needs first: the validated config, from --config or the defaults. */
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';

export interface GlobalOptions {
  config?: string;
}

export function loadFor(cmd: Command): LoadedConfig {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig(opts.config ? { file: opts.config } : {});
}
