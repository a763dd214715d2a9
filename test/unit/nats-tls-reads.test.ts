/**
 * The joining of TLS reads, on a stand-in socket (an EventEmitter: the order of hand-overs
 * is what is tested; the integration tests run it on real TLS connections to nats-server).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { joinsTlsReads, joinTlsReads } from '../../src/connect/nats-tls-reads.js';

function fakeConnection() {
  const socket = Object.assign(new EventEmitter(), { encrypted: true, paused: 0, resumed: 0, pause() { socket.paused++; }, resume() { socket.resumed++; } });
  const seen: string[] = [];
  socket.on('data', (b: Buffer) => void seen.push(b.toString()));
  const nc = { protocol: { transport: { socket } } } as never;
  return { nc, socket, seen };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('joinTlsReads', () => {
  it("hands a turn's first read over at once and the rest joined, in order, in the check phase", async () => {
    const { nc, socket, seen } = fakeConnection();
    joinTlsReads(nc, false);
    expect(joinsTlsReads(nc)).toBe(true);
    socket.emit('data', Buffer.from('a'));
    expect(seen).toEqual(['a']); // a reply awaited alone is not held for a turn
    socket.emit('data', Buffer.from('b'));
    socket.emit('data', Buffer.from('c'));
    expect(seen).toEqual(['a']);
    await nextTurn();
    expect(seen).toEqual(['a', 'bc']);
    // The next turn starts again with a read handed over at once.
    socket.emit('data', Buffer.from('d'));
    expect(seen).toEqual(['a', 'bc', 'd']);
    await nextTurn();
    expect(seen).toEqual(['a', 'bc', 'd']);
  });

  it('pauses the socket once a turn has read 64 KB, and resumes it when that is handed over', async () => {
    const { nc, socket, seen } = fakeConnection();
    joinTlsReads(nc, false);
    socket.emit('data', Buffer.from('first'));
    for (let i = 0; i < 2; i++) socket.emit('data', Buffer.alloc(40 * 1024, 120));
    expect(socket.paused).toBe(1);
    await nextTurn();
    expect(socket.resumed).toBe(1);
    expect(seen.map((s) => s.length)).toEqual([5, 80 * 1024]);
  });

  it('hands over what was read before the socket ends, before nats.js hears of the end', () => {
    const { nc, socket, seen } = fakeConnection();
    joinTlsReads(nc, false);
    socket.on('end', () => void seen.push('end'));
    socket.emit('data', Buffer.from('x'));
    socket.emit('data', Buffer.from('-ERR why'));
    socket.emit('end');
    expect(seen).toEqual(['x', '-ERR why', 'end']);
  });

  it('leaves a plain TCP socket alone', () => {
    const { nc, socket, seen } = fakeConnection();
    socket.encrypted = false;
    joinTlsReads(nc, false);
    expect(joinsTlsReads(nc)).toBe(false);
    socket.emit('data', Buffer.from('a'));
    socket.emit('data', Buffer.from('b'));
    expect(seen).toEqual(['a', 'b']);
  });
});
