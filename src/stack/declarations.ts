/**
 * What `up` reconciles and runs: the JetStream streams and consumers and the Redis
 * keyspaces of one application, passed explicitly as one object instead of being
 * collected from whatever modules happened to be imported.
 *
 * The configuration names the module (`declarations`, "builtin" = the reference
 * model in src/domain); its default export is made with `defineDeclarations`:
 *
 *   // declarations.ts of an application
 *   export default defineDeclarations({
 *     streams: [orders], consumers: [billing], keyspaces: [sessions],
 *   });
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Config } from '../config/schema.js';
import { ConfigError, InvalidArgumentError } from '../errors/index.js';
import type { ConsumerSpec, StreamSpec } from '../nats/declarations.js';
import type { AnyKeyspace } from '../redis/keyspace.js';

export interface Declarations {
  streams: readonly StreamSpec[];
  consumers: readonly ConsumerSpec[];
  keyspaces: readonly AnyKeyspace[];
  /** The consumer the supervisor's cache-invalidation worker reads (workers.cacheInvalidation); none: no worker. */
  cacheInvalidation?: ConsumerSpec | undefined;
}

const BRAND = Symbol.for('dataplane.declarations');

/** Check one application's declarations as a whole: names are unique, every consumer's stream is declared. */
export function defineDeclarations(input: Partial<Declarations>): Declarations {
  const d: Declarations = {
    streams: [...(input.streams ?? [])],
    consumers: [...(input.consumers ?? [])],
    keyspaces: [...(input.keyspaces ?? [])],
    ...(input.cacheInvalidation ? { cacheInvalidation: input.cacheInvalidation } : {}),
  };
  const problems: string[] = [];
  const twice = (kind: string, names: string[]) => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) problems.push(`${kind} ${n} is declared twice`);
      seen.add(n);
    }
  };
  twice('stream', d.streams.map((s) => s.name));
  twice('consumer', d.consumers.map((c) => `${c.stream}/${c.name}`));
  twice('keyspace', d.keyspaces.map((k) => k.spec.name));
  const streams = new Set(d.streams.map((s) => s.name));
  for (const c of d.consumers) {
    if (!streams.has(c.stream)) problems.push(`consumer ${c.stream}/${c.name} reads stream ${c.stream}, which is not declared`);
  }
  if (d.cacheInvalidation && !d.consumers.includes(d.cacheInvalidation)) {
    problems.push(`cacheInvalidation names consumer ${d.cacheInvalidation.stream}/${d.cacheInvalidation.name}, which is not among the consumers`);
  }
  if (problems.length) throw new InvalidArgumentError(`invalid declarations: ${problems.join('; ')}`);
  Object.defineProperty(d, BRAND, { value: true });
  return Object.freeze(d);
}

function isDeclarations(v: unknown): v is Declarations {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
}

/** The reference model's declarations (src/domain), the default of `declarations`. */
export const BUILTIN_DECLARATIONS = fileURLToPath(new URL('../domain/index.js', import.meta.url));

/**
 * Load the module the configuration names. A module that cannot be loaded, or does
 * not export declarations, is a configuration problem: `up` stops before it starts anything.
 */
export async function loadDeclarations(config: Pick<Config, 'declarations'>): Promise<Declarations> {
  let file = config.declarations === 'builtin' ? BUILTIN_DECLARATIONS : config.declarations;
  // Running from the TypeScript sources (tests), the reference model is index.ts.
  if (!existsSync(file) && file.endsWith('.js') && existsSync(file.slice(0, -3) + '.ts')) file = file.slice(0, -3) + '.ts';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError([{ path: 'declarations', message: `cannot load ${file}: ${(e as Error).message.split('\n')[0]}` }]);
  }
  const d = mod.default ?? mod.declarations;
  if (!isDeclarations(d)) {
    throw new ConfigError([{ path: 'declarations', message: `${file} must export its declarations as default: export default defineDeclarations({ streams, consumers, keyspaces })` }]);
  }
  return d;
}
