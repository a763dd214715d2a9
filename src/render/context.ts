import type { StatePaths } from '../config/paths.js';
import type { Config, ProcessName } from '../config/schema.js';
import type { Tuning } from '../config/tuning.js';
import type { Secrets } from '../secrets/store.js';

/** Everything a renderer may read: validated config, computed tuning, secrets, paths. */
export interface RenderContext {
  config: Config;
  tuning: Tuning;
  secrets: Secrets;
  paths: StatePaths;
  /** ha: the Redis node that is primary now (after failovers, as the sentinels recorded it); default the first. */
  redisPrimary?: string | undefined;
  /** With an inventory: the host whose files are rendered (a process that runs once per host, HAProxy, binds to its address). */
  host?: string | undefined;
}

/**
 * The folder a rendered file belongs in: a process instance's (postgres, nats-2,
 * sentinel-1, prometheus ...), or a production host's firewall and pgBackRest.
 */
export type RenderFolder = ProcessName | 'nftables' | 'pgbackrest' | (string & {});

/** A native config file. Rendered files are written with mode 0600: they hold password hashes. */
export interface RenderedFile {
  service: RenderFolder;
  /** File name inside the folder, e.g. postgresql.conf */
  name: string;
  content: string;
}

export const HEADER = (source: string) =>
  `Rendered by dataplane from ${source}. Do not edit: change the config and render again.`;
