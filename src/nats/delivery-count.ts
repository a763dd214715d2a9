/**
 * The delivery count of a JetStream message, read from its reply subject. `msg.info`
 * splits the whole subject and parses eleven fields into an object: 12% of a busy
 * consumer runner's CPU (bench/messaging.ts), for the one field it needs on every message.
 * Hand-written because the library exports no cheaper accessor. It reads the subject's
 * bytes where nats.js has them (reply-bytes.ts): decoding them to a string cost more
 * than the reading.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { replyBytes } from './reply-bytes.js';

/** The message's reply subject: the library's JsMsg has it, but its type does not declare it. */
function replyOf(msg: JsMsg): string | undefined {
  const reply = (msg as JsMsg & { reply?: unknown }).reply;
  return typeof reply === 'string' ? reply : undefined;
}

/** The decimal number in bytes [start, end), or undefined if they are not all digits. */
function digits(at: (i: number) => number, start: number, end: number): number | undefined {
  if (end <= start) return undefined;
  let count = 0;
  for (let i = start; i < end; i++) {
    const d = at(i) - 48;
    if (d < 0 || d > 9) return undefined;
    count = count * 10 + d;
  }
  return count;
}

/**
 * For the messages of one consumer: their reply subjects are
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<time>.<pending>`, or
 * `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.…` (servers ≥ 2.10), so the
 * count is the token after the consumer's name, found with two searches. Undefined when
 * the subject is neither or unknown: the caller asks `msg.info` then, which parses it or
 * says why not.
 */
export function deliveryCounter(stream: string, consumer: string): (msg: JsMsg) => number | undefined {
  const short = `$JS.ACK.${stream}.${consumer}.`;
  const names = `.${stream}.${consumer}.`;
  const shortBytes = Buffer.from(short);
  const nameBytes = Buffer.from(names);
  const ACK_PREFIX = 8; // `$JS.ACK.`
  const DOT = 46;
  const fromBytes = (b: Uint8Array): number | undefined => {
    // Compared byte by byte: a Buffer view and Buffer.compare per message cost more.
    let same = 0;
    while (same < shortBytes.length && same < b.length && b[same] === shortBytes[same]) same++;
    if (same < ACK_PREFIX) return undefined;
    let start = shortBytes.length;
    if (same < start) {
      const at = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(nameBytes, ACK_PREFIX - 1);
      if (at < 0) return undefined;
      start = at + nameBytes.length;
    }
    const end = b.indexOf(DOT, start);
    return end < 0 ? undefined : digits((i) => b[i]!, start, end);
  };
  return (msg) => {
    const raw = replyBytes(msg);
    if (raw) return fromBytes(raw);
    const reply = replyOf(msg);
    if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
    let start = short.length;
    if (!reply.startsWith(short)) {
      const at = reply.indexOf(names, 7);
      if (at < 0) return undefined;
      start = at + names.length;
    }
    const end = reply.indexOf('.', start);
    return end < 0 ? undefined : digits((i) => reply.charCodeAt(i), start, end);
  };
}
