/**
 * Acks for many JetStream messages as one frame: `PUB <reply> 4\r\n+ACK\r\n` for each,
 * built from the reply subject's bytes as received, queued with one call.
 *
 * nats.js acks one message at a time: it decodes the reply subject to a string, formats
 * a protocol line, encodes it again and queues line, payload and CRLF as three buffers,
 * per message. That was a fifth of a consumer runner's CPU here (bench/messaging.ts),
 * spent on bytes that only go back to the server as they came. A message this cannot
 * ack the same way (its bytes not found, the connection closing) is acked by nats.js.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { protocolOf, type Protocol } from './publish-frames.js';
import { replyBytes } from './reply-bytes.js';

const PUB = Buffer.from('PUB ', 'latin1');
const ACK_TAIL = Buffer.from(' 4\r\n+ACK\r\n', 'latin1');
const ACK_SIZE = 4;

/** nats.js 3.x JsMsg: `didAck` makes later ack/nak/term calls on the message no-ops. */
type Ackable = JsMsg & { didAck?: boolean };

export class AckFrames {
  private readonly protocol: Protocol | undefined;

  constructor(private readonly nc: NatsConnection) {
    this.protocol = protocolOf(nc);
  }

  /** True if acks are framed here (the pinned nats.js has what this expects). */
  get direct(): boolean {
    return this.protocol !== undefined;
  }

  /** Ack each message (once, as `msg.ack()`): in one frame where it can. */
  ack(msgs: readonly JsMsg[]): void {
    const p = this.protocol;
    if (!p || p.noMorePublishing || this.nc.isClosed()) {
      for (const m of msgs) m.ack();
      return;
    }
    const replies: (Uint8Array | undefined)[] = new Array(msgs.length);
    let size = 0;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i] as Ackable;
      if (m.didAck) continue;
      const reply = typeof m.didAck === 'boolean' ? replyBytes(m) : undefined;
      if (!reply?.length) {
        m.ack();
        continue;
      }
      replies[i] = reply;
      size += PUB.length + reply.length + ACK_TAIL.length;
    }
    if (!size) return;
    const frame = Buffer.allocUnsafe(size);
    let at = 0;
    let count = 0;
    for (let i = 0; i < msgs.length; i++) {
      const reply = replies[i];
      if (!reply) continue;
      (msgs[i] as Ackable).didAck = true;
      frame.set(PUB, at);
      frame.set(reply, at + PUB.length);
      frame.set(ACK_TAIL, at + PUB.length + reply.length);
      at += PUB.length + reply.length + ACK_TAIL.length;
      count++;
    }
    p.outMsgs += count;
    p.outBytes += count * ACK_SIZE;
    p.sendCommand(frame);
  }
}
