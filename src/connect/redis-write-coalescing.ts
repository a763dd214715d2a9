/**
 * Few socket writes per event-loop turn for a shared Redis connection.
 *
 * ioredis writes each command to its socket as it is issued: on a plain TCP socket that
 * is a system call per command. Its auto-pipelining joins the commands of one turn, but
 * through a Pipeline object per batch whose bookkeeping costs more per command than the
 * write it saves. ioredis has no option for the plain thing, so it is done here: the
 * socket is corked at a turn's first write and uncorked on the next tick, so the commands
 * that concurrent callers issue in one turn leave in one write, and each keeps the plain
 * command path. Measured on this machine (50 callers on one connection, keyspace set /
 * get, medians of 4 runs): auto-pipelining 61.5k / 83.2k ops/s, plain writes 73.6k /
 * 74.4k, corked per turn 78.5k / 103.7k (docs/benchmarks.md has the bench's figures).
 *
 * Every WRITES_PER_FLUSH commands the socket is uncorked early as well: with the whole
 * turn in one write, Redis waited while node handled 50 replies and made 50 commands,
 * then node waited while Redis ran them, and both were idle half the time (node 57%
 * idle in a profile). Sent in groups, Redis starts on the first while node makes the
 * rest. Keyspace set, 50 callers, 3 runs each: whole turn 107-115k ops/s, groups of
 * 32 141-154k, of 16 160-181k, of 5 149-164k.
 */
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';

/** Commands per write at most: Redis starts on a group while node makes the next. */
export const WRITES_PER_FLUSH = 16;

function corkPerTurn(stream: Duplex): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let corked = false;
  let writes = 0;
  const uncork = () => {
    if (!corked) return; // flushed early, and not corked again since
    corked = false;
    writes = 0;
    stream.uncork();
  };
  stream.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(uncork);
    }
    const ok = write(...args);
    if (++writes >= WRITES_PER_FLUSH) uncork();
    return ok;
  }) as Duplex['write'];
}

/**
 * Cork every socket the client connects with (a reconnect or a failover makes a new
 * one). Commands written before a socket's 'connect' event (the handshake) go out
 * uncorked, as they would anyway.
 */
export function coalesceWrites(redis: Redis): Redis {
  redis.on('connect', () => {
    const stream = (redis as unknown as { stream?: Duplex }).stream;
    if (stream && !(stream as { dpCorked?: boolean }).dpCorked) {
      (stream as { dpCorked?: boolean }).dpCorked = true;
      corkPerTurn(stream);
    }
  });
  return redis;
}
