/**
 * The delivery count of a JetStream message, read from its reply subject. `msg.info`
 * splits the whole subject and parses eleven fields into an object: 12% of a busy
 * consumer runner's CPU (bench/messaging.ts), for the one field it needs on every message.
 * Hand-written because the library exports no cheaper accessor.
 */
import type { JsMsg } from '@nats-io/jetstream';

/** The message's reply subject: the library's JsMsg has it, but its type does not declare it. */
function replyOf(msg: JsMsg): string | undefined {
  const reply = (msg as JsMsg & { reply?: unknown }).reply;
  return typeof reply === 'string' ? reply : undefined;
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
  return (msg) => {
    const reply = replyOf(msg);
    if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
    let start = short.length;
    if (!reply.startsWith(short)) {
      const at = reply.indexOf(names, 7);
      if (at < 0) return undefined;
      start = at + names.length;
    }
    const end = reply.indexOf('.', start);
    if (end <= start) return undefined;
    let count = 0;
    for (let i = start; i < end; i++) {
      const d = reply.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      count = count * 10 + d;
    }
    return count;
  };
}
