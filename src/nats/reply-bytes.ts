/**
 * A received message's reply subject as the bytes nats.js parsed it from, without
 * decoding it: nats.js decodes it to a string on first use (a TextDecoder call per
 * message), and a JetStream consumer needs it for every message twice, to read the
 * delivery count and to send the ack. nats.js 3.x keeps the bytes on the message's
 * `_msg`, and on a JetStream message's inner `msg`; where a later version moves them,
 * this returns undefined and callers take the string path (slower, not wrong).
 */
import type { JsMsg } from '@nats-io/jetstream';

interface Parsed {
  _msg?: { reply?: unknown };
}

export function replyBytes(msg: JsMsg): Uint8Array | undefined {
  const reply = (msg as unknown as { msg?: Parsed }).msg?._msg?.reply;
  return reply instanceof Uint8Array ? reply : undefined;
}
