/**
 * The delivery count of a JetStream message, read from its reply subject. `msg.info`
 * splits the whole subject and parses eleven fields into an object: 12% of a busy
 * consumer runner's CPU (bench/messaging.ts), for the one field it needs on every message.
 * Hand-written because the library exports no cheaper accessor.
 */

import type { JsMsg } from '@nats-io/jetstream';

// Dot positions of the subject being read: reused, so that a message allocates nothing here.
const dots = new Int32Array(16);

/** The message's reply subject: the library's JsMsg has it, but its type does not declare it. */
function replyOf(msg: JsMsg): string | undefined {
  const reply = (msg as JsMsg & { reply?: unknown }).reply;
  return typeof reply === 'string' ? reply : undefined;
}

/**
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<time>.<pending>` (9 tokens), or
 * `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.…` (12 and more, servers ≥ 2.10):
 * the count, or undefined when the reply subject is neither or unknown (the caller asks
 * `msg.info` then, which parses it or says why not).
 */
export function deliveryCount(msg: JsMsg): number | undefined {
  const reply = replyOf(msg);
  if (!reply?.startsWith('$JS.ACK.')) return undefined;
  let n = 0;
  for (let i = 0; i < reply.length && n < dots.length; i++) if (reply.charCodeAt(i) === 46) dots[n++] = i;
  const tokens = n + 1;
  const at = tokens === 9 ? 4 : tokens >= 11 ? 6 : -1;
  if (at < 0 || dots[at]! - dots[at - 1]! < 2) return undefined;
  let count = 0;
  for (let i = dots[at - 1]! + 1; i < dots[at]!; i++) {
    const d = reply.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    count = count * 10 + d;
  }
  return count;
}
