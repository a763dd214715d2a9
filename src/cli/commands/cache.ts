/** `dataplane cache keyspaces`: the Redis keyspaces of the configured declarations. */
import type { Command } from 'commander';
import { durationMs } from '../../lib/durations.js';
import { cacheMarkdown } from '../../redis/docs.js';
import { loadDeclarations } from '../../stack/declarations.js';
import { loadFor } from '../context.js';
import { printJson, table } from '../output.js';

export function register(program: Command): void {
  const cmd = program.command('cache').description('Redis keyspaces of the client library');
  cmd
    .command('keyspaces')
    .description('list every keyspace of the declarations (config `declarations`): key pattern, value, TTL')
    .option('--json', 'print machine-readable JSON')
    .option('--markdown', 'print docs/cache.md')
    .action(async (opts: { json?: boolean; markdown?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const { keyspaces } = await loadDeclarations(config);
      const ns = config.redis.namespace;
      if (opts.markdown) return void process.stdout.write(cacheMarkdown(keyspaces, ns));
      const list = [...keyspaces]
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
        .map((k) => ({
          name: k.spec.name,
          pattern: k.pattern(ns),
          value: k.spec.codec.describe,
          ttlMs: 'ttl' in k.spec.ttl ? durationMs(k.spec.ttl.ttl) : null,
          persistent: 'persistent' in k.spec.ttl ? k.spec.ttl.persistent : null,
          description: k.spec.description,
        }));
      if (opts.json) return printJson(list);
      process.stdout.write(table(['KEYSPACE', 'PATTERN', 'TTL', 'VALUE'], list.map((k) => [k.name, k.pattern, k.ttlMs === null ? 'persistent' : `${k.ttlMs / 1000}s`, k.value])) + '\n');
    });
}
