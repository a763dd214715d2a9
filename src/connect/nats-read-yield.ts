/**
 * Lets a TLS connection's writes out between its reads.
 *
 * Node completes a TLS socket's write only in the event loop's check phase, after the
 * poll phase that reads sockets; until then the socket holds every later write. While
 * acks (or messages) keep arriving, one poll phase goes on reading chunk after chunk,
 * so the publishes their handlers make wait, the server runs dry, and then both sides
 * take turns idling. Measured publishing over TLS: node and nats-server each at 75% of
 * a core, 2 cores 25% idle, 64-240 KB of acks waiting unread, 700 KB written at once.
 * Pausing the socket after a chunk and resuming it on the next turn ends the poll phase
 * there, so what the chunk's handlers wrote leaves before the next chunk is read:
 * +30% publishing over TLS here (docs/benchmarks.md). Plain TCP completes writes at
 * once, so plaintext sockets are left alone.
 *
 * nats.js has no hook for its socket, so this reaches into the connection
 * (`protocol.transport.socket`, nats.js 3.x). If a later nats.js moves it, the
 * connection works as before, only slower; test/integration/nats-client.test.ts fails
 * on the pinned version if the socket is not found, so the move is noticed.
 */
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';

const yielding = new WeakSet<Socket>();

function socketOf(nc: NatsConnection): Socket | undefined {
  return (nc as unknown as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;
}

function yieldAfterEachRead(socket: Socket): void {
  if (yielding.has(socket)) return;
  yielding.add(socket);
  let paused = false;
  socket.on('data', () => {
    if (paused) return;
    paused = true;
    socket.pause();
    setImmediate(() => {
      paused = false;
      socket.resume();
    });
  });
}

/** True if the connection's current socket yields between reads (a TLS socket that was found). */
export function yieldsBetweenReads(nc: NatsConnection): boolean {
  const s = socketOf(nc);
  return s !== undefined && yielding.has(s);
}

/** Apply to the connection's socket, and to each new one after a reconnect. */
export function yieldBetweenReads(nc: NatsConnection, reconnects: boolean): void {
  const apply = (): void => {
    const s = socketOf(nc);
    if (s && (s as Socket & { encrypted?: boolean }).encrypted) yieldAfterEachRead(s);
  };
  apply();
  if (!reconnects) return;
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'reconnect') apply();
  })();
}
