/** `dataplane cache keyspaces`: the declared Redis keyspaces. */
import type { Command } from 'commander';
import '../../domain/keyspaces.js';
import { cacheMarkdown } from '../../redis/docs.js';
import { allKeyspaces, durationMs } from '../../redis/keyspace.js';
import { loadFor } from '../context.js';
import { printJson, table } from '../output.js';

export function register(program: Command): void {
  const cmd = program.command('cache').description('Redis keyspaces of the client library');
  cmd
    .command('keyspaces')
    .description('list every declared keyspace: key pattern, value, TTL')
    .option('--json', 'print machine-readable JSON')
    .option('--markdown', 'print docs/cache.md')
    .action((opts: { json?: boolean; markdown?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const ns = config.redis.namespace;
      if (opts.markdown) return void process.stdout.write(cacheMarkdown(ns));
      const list = allKeyspaces().map((k) => ({
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
