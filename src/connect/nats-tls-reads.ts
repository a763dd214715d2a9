/**
 * Hands a TLS connection's incoming bytes to nats.js joined, per event-loop turn.
 *
 * Node emits a TLS socket's data one TLS record at a time, and nats-server writes small
 * records when it delivers messages as they are acked: about two messages (500 bytes)
 * per record, 43,000 'data' events a second for a consumer here, against 900 of 40 KB
 * on plain TCP. nats.js runs each through its async iterator and parser, so a consumer
 * took 2.4 times the CPU per message over TLS (95% of a core at 70-100k msgs/s, the
 * Go client 130-150k). Joined, nats.js sees one buffer for the rest of a turn's reads.
 *
 * The first read of a turn goes to nats.js at once; only those after it wait for the
 * check phase (setImmediate). A request and its reply (a publish awaiting its ack) read
 * one record per turn, and handing that one over a turn later cost an extra trip round
 * the event loop per round trip: synchronous publishing over TLS ran at 0.93 and 0.96 of
 * the Go client's rate with every read joined, 0.95 and 0.99 like this (two runs of 9 and
 * 11 alternating rounds); consuming and windowed publishing, which read many records a
 * turn, did not change (1.15 and 1.02 of Go either way).
 *
 * Joining also lets writes out between reads: Node completes a TLS write only in the
 * event loop's check phase, after the poll phase that reads sockets, and holds every
 * later write until then. Before, while acks kept arriving a publisher's writes waited,
 * the server ran dry, and both sides took turns idling (node and nats-server at 75% of a
 * core each, 700 KB written at once). Now what was read after the first record is handled
 * in the check phase, where the first write leaves at once, and the socket pauses once a
 * turn has read 64 KB, so the poll phase ends and the writes go out between reads.
 * Plain TCP reads 64 KB chunks and completes writes at once: left alone.
 *
 * nats.js has no hook for its socket, so this reaches into the connection
 * (`protocol.transport.socket` and its 'data' listener, nats.js 3.x). If a later nats.js
 * moves them, the connection works as before, only slower; nats-client.test.ts fails on
 * the pinned version if they are not found, so the move is noticed.
 */
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';

/** One socket read's worth (libuv reads 64 KB at a time): more waits for the next turn. */
const TURN_BYTES = 64 * 1024;

type DataListener = (chunk: Buffer) => void;

const joined = new WeakSet<Socket>();

function socketOf(nc: NatsConnection): Socket | undefined {
  return (nc as unknown as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;
}

function joinReadsPerTurn(socket: Socket): void {
  const readers = socket.listeners('data') as DataListener[];
  if (joined.has(socket) || !readers.length) return;
  joined.add(socket);
  for (const r of readers) socket.removeListener('data', r);
  let chunks: Buffer[] = [];
  let size = 0;
  let paused = false;
  /** A read was handed over in this turn: later ones wait for deliver(). */
  let turn = false;
  const deliver = (): void => {
    turn = false;
    if (paused) {
      paused = false;
      socket.resume();
    }
    if (!chunks.length) return;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    chunks = [];
    size = 0;
    for (const r of readers) r.call(socket, data);
  };
  socket.on('data', (chunk: Buffer) => {
    if (!turn) {
      turn = true;
      setImmediate(deliver);
      for (const r of readers) r.call(socket, chunk);
      return;
    }
    chunks.push(chunk);
    size += chunk.length;
    if (size >= TURN_BYTES && !paused) {
      paused = true;
      socket.pause();
    }
  });
  // The last bytes before a close (an -ERR saying why) reach nats.js before it hears of the close.
  socket.prependListener('end', deliver);
  socket.prependListener('close', deliver);
}

/** True if the connection's current socket has its reads joined per turn (a TLS socket, found). */
export function joinsTlsReads(nc: NatsConnection): boolean {
  const s = socketOf(nc);
  return s !== undefined && joined.has(s);
}

/** Apply to the connection's TLS socket, and to each new one after a reconnect. */
export function joinTlsReads(nc: NatsConnection, reconnects: boolean): void {
  const apply = (): void => {
    const s = socketOf(nc);
    if (s && (s as Socket & { encrypted?: boolean }).encrypted) joinReadsPerTurn(s);
  };
  apply();
  if (!reconnects) return;
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'reconnect') apply();
  })();
}
