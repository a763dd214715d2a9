/**
 * Shared pieces of the benchmarks: interleaved rounds, medians, ratios, and the
 * machine description that goes next to every number.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Measurement {
  /** What was measured, e.g. "COPY, 1 connection". */
  name: string;
  /** Per second (rows, ops, messages). */
  rate: number;
  unit: string;
  extra?: Record<string, string | number>;
}

export interface Comparison {
  group: string;
  /** Which setup: 'plaintext, no auth' or the secured one `up` runs (TLS + login). */
  security?: string;
  ours: string;
  reference: string;
  oursRates: number[];
  refRates: number[];
  unit: string;
  target?: number;
  /** CPU per process during each of our runs and each reference run (% of one core). */
  oursCpu?: Cpu[];
  refCpu?: Cpu[];
  /** What limits the figure (which process is busy, in what). */
  note?: string;
  /**
   * The reference's own parallel rate, when the target asks ours to scale past one
   * reference process: how far the machine lets any client go (e.g. 2 × psql).
   */
  ceilingRates?: number[];
  ceilingName?: string;
}

/** One side's figures over the counted rounds. */
export interface Series {
  rates: number[];
  cpu: Cpu[];
}
export const series = (): Series => ({ rates: [], cpu: [] });

export interface Side {
  label: string;
  into: Series;
  /** Rate per second, with the CPU reading when the side takes its own. */
  run: () => Promise<number | { rate: number; cpu: Cpu }> | number;
  /** Starts a CPU watch when the side does not read its own. */
  watch?: () => (seconds?: number) => Cpu;
  /** Untimed set-up before each run (a truncate, a flush). */
  before?: () => Promise<unknown>;
}

/**
 * Rounds of side-by-side runs. Round 0 is a warm-up that is not recorded (a cold
 * server, JIT, page cache); afterwards the order of the sides inside each stage
 * alternates, so neither always runs first. Stages run in their given order (a
 * consume stage needs the messages a publish stage left).
 */
export async function interleave(label: string, rounds: number, stages: Side[][]): Promise<void> {
  for (let round = 0; round <= rounds; round++) {
    const warmup = round === 0;
    progress(warmup ? `${label}: warm-up round (not counted)` : `${label}: round ${round}/${rounds}`);
    for (const stage of stages) {
      for (const side of round % 2 ? stage : [...stage].reverse()) {
        await side.before?.();
        const stop = side.watch?.();
        const out = await side.run();
        const { rate, cpu } = typeof out === 'number' ? { rate: out, cpu: stop?.() } : out;
        if (!warmup) {
          side.into.rates.push(rate);
          if (cpu) side.into.cpu.push(cpu);
        }
        progress(`  ${side.label}: ${fmt(rate)}/s${cpu ? ` (${describeCpu([cpu])})` : ''}${warmup ? ' · warm-up' : ''}`);
      }
    }
  }
}

/** "median (min–max)" of a series. */
export function spread(xs: number[]): string {
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
}

/** Per-round ratios a / b, in run order. */
function pairRatios(a: number[], b: number[]): number[] {
  return a.map((x, i) => x / (b[i] ?? Number.NaN)).filter((x) => Number.isFinite(x));
}

/** Per-round ratios, ours / reference, in run order. */
export function roundRatios(c: Comparison): number[] {
  return pairRatios(c.oursRates, c.refRates);
}

/** A process at or above this share of one core is what limits a figure. */
const SATURATED = 85;

/** What the numbers say about one comparison, computed: target, spread, which process limits it. */
export function conclusion(c: Comparison): string {
  const r = ratio(c);
  const per = roundRatios(c);
  const lo = Math.min(...per);
  const hi = Math.max(...per);
  const parts = [`**${c.group}, ${c.ours}**${c.security ? ` (${c.security})` : ''}: ${r.toFixed(2)}× ${c.reference} (rounds ${lo.toFixed(2)}–${hi.toFixed(2)})`];
  if (c.target !== undefined) {
    const met = per.filter((x) => x >= c.target!).length;
    parts.push(r >= c.target ? `target ≥ ${c.target} met (in ${met} of ${per.length} rounds)` : `target ≥ ${c.target} **missed** (met in ${met} of ${per.length} rounds)`);
  }
  if (c.ceilingRates?.length) {
    const ceiling = median(pairRatios(c.ceilingRates, c.refRates));
    parts.push(`${c.ceilingName} reached ${ceiling.toFixed(2)}× in the same run, the most this machine gave any client; ours is ${median(pairRatios(c.oursRates, c.ceilingRates)).toFixed(2)}× of that`);
  }
  parts.push(`ours: ${limiter(c.oursCpu)}; reference: ${limiter(c.refCpu)}`);
  return parts.join('; ') + '.';
}

/** Which process limits a run, from its median CPU. */
function limiter(runs: Cpu[] | undefined): string {
  if (!runs?.length) return 'CPU not measured';
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const med = names.map((n) => [n, median(runs.map((r) => r[n] ?? 0))] as const).sort((a, b) => b[1] - a[1]);
  const busy = med.filter(([, v]) => v >= SATURATED);
  if (busy.length) return `limited by ${busy.map(([n, v]) => `${n} (${Math.round(v)}% of a core)`).join(' and ')}`;
  const total = med.reduce((sum, [, v]) => sum + v, 0);
  if (total >= os.availableParallelism() * SATURATED) return `all ${os.availableParallelism()} cores busy (${med.map(([n, v]) => `${n} ${Math.round(v)}%`).join(', ')})`;
  const [top] = med;
  return `no process saturated (busiest ${top?.[0]} ${Math.round(top?.[1] ?? 0)}%): the time goes to waiting (round trips, commits, I/O)`;
}

/** % of one core per process over one run, e.g. { node: 98, redis: 85 }. */
export type Cpu = Record<string, number>;

/**
 * Start watching CPU: this Node process, the tools it spawns (reaped children, named
 * `tool`), and the servers by PID (with their exited children). The returned
 * function ends the watch.
 */
export function watchCpu(servers: Record<string, number>, tool = 'tool'): (seconds?: number) => Cpu {
  const t0 = performance.now();
  const own0 = process.cpuUsage();
  const children0 = childrenSeconds();
  const server0 = Object.fromEntries(Object.entries(servers).map(([k, pid]) => [k, cpuSeconds(pid)]));
  // `seconds`: the run's own duration, when the reading is taken a little later (a
  // PostgreSQL backend's CPU shows in the postmaster only once it has exited).
  return (seconds?: number) => {
    const s = seconds ?? (performance.now() - t0) / 1000;
    const own = process.cpuUsage(own0);
    const pct = (seconds: number) => Math.round((seconds / s) * 100);
    const cpu: Cpu = { node: pct((own.user + own.system) / 1e6), [tool]: pct(childrenSeconds() - children0) };
    for (const [k, pid] of Object.entries(servers)) cpu[k] = pct(cpuSeconds(pid) - server0[k]!);
    return cpu;
  };
}

/** Median CPU per process over runs, as "node 98% · redis 85%" (processes under 5% left out). */
export function describeCpu(runs: Cpu[] | undefined): string {
  if (!runs?.length) return '';
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return names
    .map((n) => [n, median(runs.map((r) => r[n] ?? 0))] as const)
    .filter(([, v]) => v >= 5)
    .map(([n, v]) => `${n} ${Math.round(v)}%`)
    .join(' · ');
}

/** CPU seconds of the children this process has spawned and reaped. */
function childrenSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The median of the rounds' ratios. Each round runs the two sides back to back, so a
 * machine that slows down between rounds (a neighbour on this shared host) cancels out
 * within a round; a ratio of the two sides' medians can pair a fast round of one side
 * with a slow round of the other (an outbox run gave 0.84 that way, where 3 of its 9
 * rounds reached 0.7 and their median ratio was 0.69).
 */
export function ratio(c: Comparison): number {
  return median(roundRatios(c));
}

export const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export function progress(msg: string): void {
  process.stderr.write(`• ${msg}\n`);
}

/**
 * CPU seconds a process and its children used (user + system), from /proc: who was
 * busy during a run. Children still running are read one by one (a PostgreSQL pool's
 * backends live through a whole run); exited ones are in the parent's own figures.
 */
export function cpuSeconds(pid: number): number {
  const read = (p: number | string): { ppid: number; seconds: number } | undefined => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(f[1]), seconds: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100 };
    } catch {
      return undefined;
    }
  };
  const own = read(pid);
  if (!own) return 0;
  let total = own.seconds;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = read(entry);
    if (child?.ppid === pid) total += child.seconds;
  }
  return total;
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${os.availableParallelism()} × ${cpu}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export function versionOf(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]!;
  } catch {
    return 'unknown';
  }
}

/**
 * One redis-benchmark run (`--csv`), its requests per second. Its login is a
 * password-less user of the throwaway server: no secret on its command line.
 */
export function redisBenchmark(args: string[]): number {
  const r = spawnSync('redis-benchmark', ['--csv', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  const line = r.stdout.split('\n').find((l) => /^"[A-Z]/.test(l));
  const rate = Number(/^"[^"]*","([\d.]+)"/.exec(line ?? '')?.[1]);
  if (r.status !== 0 || !rate) throw new Error(`redis-benchmark ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return rate;
}
