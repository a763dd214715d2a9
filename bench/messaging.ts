/**
 * Messaging: JetStream publish and consume rates of the library against the Go
 * reference client (../shared/tools/natsbench-go, nats.go 1.22) in the same run,
 * against the same throwaway nats-server (no auth, loopback, file store), 128-byte
 * payloads, one replica. Plus end-to-end latency of the library (no reference).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { runConsumer } from '../src/nats/consumer.js';
import { PACKAGE_ROOT } from '../src/lib/package-root.js';
import { Publisher } from '../src/nats/publisher.js';
import { freePorts } from '../src/lib/ports.js';
import { isAlive } from '../src/lib/process.js';
import { progress, watchCpu, type Comparison, type Cpu } from './harness.js';

const GO = '/tmp/natsbench-go/natsbench-go';
const BUILD = path.join(PACKAGE_ROOT, '..', 'shared', 'tools', 'natsbench-go', 'build.sh');
const ASYNC = 500_000;
const SYNC = 20_000;
const payload = new Uint8Array(128).fill(97);

/** One natsbench-go run; its last output line is JSON with msgs_per_s. */
export function goBench(url: string, args: string[]): number {
  const r = spawnSync(GO, ['-url', url, ...args], { encoding: 'utf8' });
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

/** The consumer runner over a fresh durable consumer, reading the first ASYNC messages. */
async function nodeConsume(nc: NatsConnection, jsm: JetStreamManager, n: number): Promise<number> {
  const name = `node_${n}`;
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

/** Build the Go reference client from Debian packages when it is not there yet. */
export function ensureGoClient(): void {
  if (existsSync(GO)) return;
  if (!existsSync(BUILD)) throw new Error(`the Go reference client is not at ${BUILD} (../shared/tools/natsbench-go next to the project)`);
  progress('building the Go reference client (natsbench-go) from Debian packages');
  const b = spawnSync('bash', [BUILD], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('could not build natsbench-go');
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
    const r: Record<string, number[]> = { goAsync: [], nodeAsync: [], goSync: [], nodeSync: [], goConsume: [], nodeConsume: [] };
    const cpu: Record<string, Cpu[]> = { goAsync: [], nodeAsync: [], goSync: [], nodeSync: [], goConsume: [], nodeConsume: [] };
    const run = async (key: string, fn: () => Promise<number> | number) => {
      const stop = watchCpu({ 'nats-server': server.pid! }, 'natsbench-go');
      r[key]!.push(await fn());
      cpu[key]!.push(stop());
    };
    for (let round = 1; round <= rounds; round++) {
      progress(`messaging round ${round}/${rounds}`);
      await run('goAsync', () => goBench(url, ['-mode', 'pub-async', '-msgs', String(ASYNC), '-size', '128', '-purge']));
      await run('nodeAsync', () => nodeAsync(nc!, jsm));
      await run('goSync', () => goBench(url, ['-mode', 'pub-sync', '-msgs', String(SYNC), '-size', '128']));
      await run('nodeSync', () => nodeSync(nc!));
      // Both read the first 500k messages of the stream as it is now.
      await run('goConsume', () => goBench(url, ['-mode', 'consume', '-msgs', String(ASYNC), '-size', '128']));
      await run('nodeConsume', () => nodeConsume(nc!, jsm, round));
      progress(`  async go/node ${Math.round(r.goAsync!.at(-1)!)}/${Math.round(r.nodeAsync!.at(-1)!)}; sync ${Math.round(r.goSync!.at(-1)!)}/${Math.round(r.nodeSync!.at(-1)!)}; consume ${Math.round(r.goConsume!.at(-1)!)}/${Math.round(r.nodeConsume!.at(-1)!)}`);
    }
    const lat = await latency(nc, jsm);
    progress(`  end-to-end latency at 5,000 msgs/s: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`);
    return {
      comparisons: [
        { group: 'messaging', ours: 'Publisher.publishAsync, window 4000', reference: 'natsbench-go pub-async, window 4000', oursRates: r.nodeAsync!, refRates: r.goAsync!, oursCpu: cpu.nodeAsync, refCpu: cpu.goAsync, unit: 'msgs/s', target: 0.5 },
        { group: 'messaging', ours: 'Publisher.publish (await each ack)', reference: 'natsbench-go pub-sync', oursRates: r.nodeSync!, refRates: r.goSync!, oursCpu: cpu.nodeSync, refCpu: cpu.goSync, unit: 'msgs/s', target: 0.8 },
        { group: 'messaging', ours: 'runConsumer, concurrency 512, ack each', reference: 'natsbench-go consume (Fetch 500 + Ack)', oursRates: r.nodeConsume!, refRates: r.goConsume!, oursCpu: cpu.nodeConsume, refCpu: cpu.goConsume, unit: 'msgs/s' },
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
