/**
 * Messaging: JetStream publish and consume rates of the library against the Go
 * reference client (bench/natsbench-go, nats.go 1.22, built here) in the same run,
 * against the same throwaway nats-server (no auth, loopback, file store), 128-byte
 * payloads, one replica. Plus end-to-end latency of the library (no reference).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../src/nats/connection.js';
import { runConsumer } from '../src/nats/consumer.js';
import type { EphemeralStack } from '../src/testing.js';
import { PACKAGE_ROOT } from '../src/lib/package-root.js';
import { Publisher } from '../src/nats/publisher.js';
import { freePorts } from '../src/lib/ports.js';
import { isAlive } from '../src/lib/process.js';
import { interleave, progress, series, watchCpu, type Comparison, type Series } from './harness.js';

const SOURCE = path.join(PACKAGE_ROOT, 'bench', 'natsbench-go');
const GO = path.join(PACKAGE_ROOT, 'dist-bench', 'natsbench-go');
const ASYNC = 500_000;
const SYNC = 20_000;
const payload = new Uint8Array(128).fill(97);

/** One natsbench-go run; its last output line is JSON with msgs_per_s. A password goes through the environment. */
export function goBench(url: string, args: string[], password?: string): number {
  const r = spawnSync(GO, ['-url', url, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...(password ? { NATSBENCH_PASSWORD: password } : {}) } });
  if (r.status !== 0) throw new Error(`natsbench-go ${args.join(' ')}: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { msgs_per_s: number }).msgs_per_s;
}

async function purge(jsm: JetStreamManager): Promise<void> {
  const exists = await jsm.streams.info('BENCH').catch(() => undefined);
  if (exists) await jsm.streams.purge('BENCH');
  else await jsm.streams.add({ name: 'BENCH', subjects: ['bench.data'] });
}

async function nodeAsync(nc: NatsConnection, jsm: JetStreamManager): Promise<number> {
  await purge(jsm);
  const p = new Publisher(nc, { window: 4000 });
  const t0 = performance.now();
  for (let i = 0; i < ASYNC; i++) {
    const wait = p.publishAsync('bench.data', payload);
    if (wait) await wait;
  }
  await p.flush();
  const rate = ASYNC / ((performance.now() - t0) / 1000);
  await p.close();
  return rate;
}

async function nodeSync(nc: NatsConnection): Promise<number> {
  const p = new Publisher(nc);
  const t0 = performance.now();
  for (let i = 0; i < SYNC; i++) await p.publish('bench.data', payload);
  const rate = SYNC / ((performance.now() - t0) / 1000);
  await p.close();
  return rate;
}

/**
 * The durable consumer of a side's n-th consume run: names of one length on both sides, as
 * the name is in every ack subject and the server's cost per message grows with it (the Go
 * tool's own default, natsbench_<nuid>, made its consume 6% slower than this).
 */
const durable = (side: 'node' | 'gocl', n: number): string => `${side}_${n}`;

/** The consumer runner over a fresh durable consumer, reading the first ASYNC messages. */
async function nodeConsume(nc: NatsConnection, jsm: JetStreamManager, n: number): Promise<number> {
  const name = durable('node', n);
  await jsm.consumers.add('BENCH', { durable_name: name, ack_policy: 'explicit' as never, deliver_policy: 'all' as never });
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const t0 = performance.now();
  const runner = await runConsumer({
    nc,
    stream: 'BENCH',
    consumer: name,
    concurrency: 512,
    handler: async () => {
      if (++seen === ASYNC) done();
    },
  });
  await finished;
  const rate = ASYNC / ((performance.now() - t0) / 1000);
  await runner.stop();
  await jsm.consumers.delete('BENCH', name);
  return rate;
}

/** Publish at a steady 5,000/s for 3 s; the runner measures publish-to-handler time. */
async function latency(nc: NatsConnection, jsm: JetStreamManager): Promise<{ p50: number; p99: number }> {
  await jsm.streams.add({ name: 'LAT', subjects: ['bench.lat'] });
  await jsm.consumers.add('LAT', { durable_name: 'lat', ack_policy: 'explicit' as never });
  const samples: number[] = [];
  const runner = await runConsumer({
    nc,
    stream: 'LAT',
    consumer: 'lat',
    concurrency: 64,
    handler: async (data) => {
      samples.push(performance.now() - Number(new TextDecoder().decode(data as Uint8Array)));
    },
  });
  const p = new Publisher(nc);
  const total = 15_000;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / 5000;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const w = p.publishAsync('bench.lat', String(performance.now()));
    if (w) await w;
  }
  await p.flush();
  while (samples.length < total) await new Promise((r) => setTimeout(r, 50));
  await runner.stop();
  await p.close();
  await jsm.streams.delete('LAT');
  const s = samples.sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]! };
}

/** Build the Go reference client from its source in this repository (Debian packages, no module download). */
export function ensureGoClient(): void {
  if (existsSync(GO) && statSync(GO).mtimeMs >= statSync(path.join(SOURCE, 'main.go')).mtimeMs) return;
  progress('building the Go reference client (bench/natsbench-go) from Debian packages');
  const b = spawnSync('bash', [path.join(SOURCE, 'build.sh'), GO], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('could not build bench/natsbench-go (see its README.md)');
}

export async function benchMessaging({ rounds }: { rounds: number }): Promise<{ comparisons: Comparison[]; latency: { p50: number; p99: number } }> {
  ensureGoClient();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-natsbench-'));
  const [port, mon] = (await freePorts(2)) as [number, number];
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(mon), '-js', '-sd', path.join(dir, 'store')], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  let nc: NatsConnection | undefined;
  try {
    for (let i = 0; i < 50 && !nc; i++) nc = await connect({ servers: url, noAsyncTraces: true }).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
    if (!nc) throw new Error('the benchmark nats-server did not start');
    const jsm = await jetstreamManager(nc);
    const r = { goAsync: series(), nodeAsync: series(), goSync: series(), nodeSync: series(), goConsume: series(), nodeConsume: series() };
    const watch = () => watchCpu({ 'nats-server': server.pid! }, 'natsbench-go');
    const consumers = { node: 0, go: 0 };
    await interleave('messaging', rounds, [
      [
        { label: 'natsbench-go pub-async', into: r.goAsync, watch, run: () => goBench(url, ['-mode', 'pub-async', '-msgs', String(ASYNC), '-size', '128', '-purge']) },
        { label: 'Publisher.publishAsync', into: r.nodeAsync, watch, run: () => nodeAsync(nc!, jsm) },
      ],
      [
        { label: 'natsbench-go pub-sync', into: r.goSync, watch, run: () => goBench(url, ['-mode', 'pub-sync', '-msgs', String(SYNC), '-size', '128']) },
        { label: 'Publisher.publish', into: r.nodeSync, watch, run: () => nodeSync(nc!) },
      ],
      // Both read the first 500k messages of the stream as it is now.
      [
        { label: 'natsbench-go consume', into: r.goConsume, watch, run: () => goBench(url, ['-mode', 'consume', '-msgs', String(ASYNC), '-size', '128', '-durable', durable('gocl', ++consumers.go)]) },
        { label: 'runConsumer', into: r.nodeConsume, watch, run: () => nodeConsume(nc!, jsm, ++consumers.node) },
      ],
    ]);
    const lat = await latency(nc, jsm);
    progress(`  end-to-end latency at 5,000 msgs/s: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`);
    const pair = (ours: Series, ref: Series) => ({ oursRates: ours.rates, refRates: ref.rates, oursCpu: ours.cpu, refCpu: ref.cpu, unit: 'msgs/s', security: 'plaintext, no auth' });
    return {
      comparisons: [
        { group: 'messaging', ours: 'Publisher.publishAsync, window 4000', reference: 'natsbench-go pub-async, window 4000', ...pair(r.nodeAsync, r.goAsync), target: 1.0 },
        { group: 'messaging', ours: 'Publisher.publish (await each ack)', reference: 'natsbench-go pub-sync', ...pair(r.nodeSync, r.goSync), target: 0.8 },
        { group: 'messaging', ours: 'runConsumer, concurrency 512, ack each', reference: 'natsbench-go consume (Fetch 500 + Ack)', ...pair(r.nodeConsume, r.goConsume), target: 0.8 },
      ],
      latency: lat,
    };
  } finally {
    await nc?.close();
    if (server.pid && isAlive(server.pid)) server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The secured setup `up` runs: the stack's own nats-server (TLS, verified against the
 * stack's CA, a password login), the admin user on both sides; the Go client's
 * password comes through its environment. Async and sync publish and consume, as above.
 */
export async function benchMessagingSecured({ stack, rounds }: { stack: EphemeralStack; rounds: number }): Promise<Comparison[]> {
  ensureGoClient();
  const cred = stack.credentials.find((c) => c.service === 'nats' && c.user === 'admin');
  if (!cred?.caFile) throw new Error('the stack has no NATS admin login with TLS');
  const url = `tls://${cred.host}:${cred.port}`;
  const goArgs = ['-ca', cred.caFile, '-user', 'admin'];
  const nc = await connectNats({ access: stack.access, user: 'admin' });
  const natsPid = stack.supervisor.snapshot().find((s) => s.name === 'nats')!.pid!;
  try {
    const jsm = await jetstreamManager(nc);
    const r = { goAsync: series(), nodeAsync: series(), goSync: series(), nodeSync: series(), goConsume: series(), nodeConsume: series() };
    const watch = () => watchCpu({ 'nats-server': natsPid }, 'natsbench-go');
    const consumers = { node: 1000, go: 1000 };
    await interleave('messaging over TLS with a login', rounds, [
      [
        { label: 'natsbench-go pub-async, TLS', into: r.goAsync, watch, run: () => goBench(url, [...goArgs, '-mode', 'pub-async', '-msgs', String(ASYNC), '-size', '128', '-purge'], cred.password) },
        { label: 'Publisher.publishAsync, TLS', into: r.nodeAsync, watch, run: () => nodeAsync(nc, jsm) },
      ],
      [
        { label: 'natsbench-go pub-sync, TLS', into: r.goSync, watch, run: () => goBench(url, [...goArgs, '-mode', 'pub-sync', '-msgs', String(SYNC), '-size', '128'], cred.password) },
        { label: 'Publisher.publish, TLS', into: r.nodeSync, watch, run: () => nodeSync(nc) },
      ],
      [
        { label: 'natsbench-go consume, TLS', into: r.goConsume, watch, run: () => goBench(url, [...goArgs, '-mode', 'consume', '-msgs', String(ASYNC), '-size', '128', '-durable', durable('gocl', ++consumers.go)], cred.password) },
        { label: 'runConsumer, TLS', into: r.nodeConsume, watch, run: () => nodeConsume(nc, jsm, ++consumers.node) },
      ],
    ]);
    await jsm.streams.delete('BENCH');
    const pair = (ours: Series, ref: Series) => ({ oursRates: ours.rates, refRates: ref.rates, oursCpu: ours.cpu, refCpu: ref.cpu, unit: 'msgs/s', security: 'TLS + password login' });
    return [
      { group: 'messaging', ours: 'Publisher.publishAsync, window 4000', reference: 'natsbench-go pub-async, window 4000', ...pair(r.nodeAsync, r.goAsync), target: 1.0 },
      { group: 'messaging', ours: 'Publisher.publish (await each ack)', reference: 'natsbench-go pub-sync', ...pair(r.nodeSync, r.goSync), target: 0.8 },
      { group: 'messaging', ours: 'runConsumer, concurrency 512, ack each', reference: 'natsbench-go consume (Fetch 500 + Ack)', ...pair(r.nodeConsume, r.goConsume), target: 0.8 },
    ];
  } finally {
    await nc.close();
  }
}
