/** Port checks before anything starts, and free loopback ports for ephemeral stacks. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { InternalError } from '../errors/index.js';

/** Resolves true when host:port can be bound right now. */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * The kernel's range for outgoing connections' local ports. A listening port chosen
 * inside it can be taken by any client socket between choosing and binding (seen as
 * EADDRINUSE in parallel tests), so servers' ports are chosen below it.
 */
function clientPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: the usual default
  }
  return [32768, 60999];
}

/**
 * Where ephemeral stacks choose ports, when narrowed: two test workers choosing ports
 * at random from one range can both pick a port before either binds it (seen as
 * "Address already in use" in CI); disjoint ranges per worker make that impossible.
 */
let chosenRange: [number, number] | undefined;

export function choosePortsFrom(low: number, high: number): void {
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1024 || high > 65535 || high - low < 100) {
    throw new InternalError(`port range ${low}-${high} must be within 1024-65535 and span at least 100 ports`);
  }
  chosenRange = [low, high];
}

/** [floor, ceiling) servers' ports are drawn from. */
function serverPortRange(): [number, number] {
  if (chosenRange) return chosenRange;
  return [10_000, clientPortRange()[0]];
}

/**
 * Ports this process handed out lately. Whoever asked has not bound them yet, so a later
 * call must not hand them out again: an ha test stack takes a block and then single
 * ports, and a single port inside the block was seen taken twice.
 */
const handedOut = new Map<number, number>();
const HOLD_MS = 120_000;

function recentlyHandedOut(port: number): boolean {
  const until = handedOut.get(port);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  handedOut.delete(port);
  return false;
}

function handOut(ports: number[]): void {
  const until = Date.now() + HOLD_MS;
  for (const p of ports) handedOut.set(p, until);
}

function listenOn(host: string, port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host, port, exclusive: true }, () => resolve(srv));
  });
}

/**
 * `n` distinct ports free on `host` right now, chosen at random outside the range
 * client sockets draw from (held open together while choosing, so none repeats).
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const [floor, low] = serverPortRange();
  const span = low - floor;
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 1000) throw new InternalError(`no ${n} free ports on ${host} between ${floor} and ${low}`);
      const port = chosenRange || span > 1000 ? floor + Math.floor(Math.random() * span) : 0;
      if (port && recentlyHandedOut(port)) continue;
      const srv = await listenOn(host, port);
      if (!srv) continue;
      servers.push(srv);
      const addr = srv.address();
      ports.push(typeof addr === 'object' && addr ? addr.port : port);
    }
    handOut(ports);
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/**
 * The first of `count` consecutive ports all free on `host` right now (a cluster on
 * one host numbers its nodes' ports from a base port), outside the client range.
 */
export async function freePortBlock(count: number, host = '127.0.0.1'): Promise<number> {
  const [floor, low] = serverPortRange();
  for (let tries = 0; tries < 200; tries++) {
    const start = floor + Math.floor(Math.random() * (low - floor - count));
    const held: net.Server[] = [];
    try {
      for (let p = start; p < start + count; p++) {
        const srv = recentlyHandedOut(p) ? undefined : await listenOn(host, p);
        if (!srv) break;
        held.push(srv);
      }
      if (held.length === count) {
        handOut(Array.from({ length: count }, (_, i) => start + i));
        return start;
      }
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new InternalError(`no ${count} consecutive free ports on ${host} between ${floor} and ${low}`);
}
