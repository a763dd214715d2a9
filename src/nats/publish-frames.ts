/**
 * PUB frames (and HPUB frames carrying only a Nats-Msg-Id) for the publisher, built
 * here rather than by nats.js `publish`.
 *
 * nats.js checks the subject with a regular expression, encodes the protocol line
 * with a TextEncoder and queues line, payload and CRLF as three buffers that are then
 * copied together, on every call: 13% of a TLS publisher's CPU here. This checks each
 * subject once (they repeat), writes the line as Latin-1 into one buffer with the
 * payload and queues that (docs/benchmarks.md). The frame is the NATS client
 * protocol's `PUB <subject> <reply> <size>`, unchanged since NATS 1.0, or with a message
 * id `HPUB <subject> <reply> <header size> <total size>` with the header block nats.js
 * writes for it (`NATS/1.0`, `Nats-Msg-Id: <id>`, a blank line): nats.js builds a
 * headers object, checks its key and value with regular expressions and encodes it, for
 * every outbox row and every publish with a message id.
 *
 * nats.js has no API to queue a frame, so this calls its protocol handler's
 * `sendCommand` (nats.js 3.x), which also buffers while reconnecting; anything this
 * cannot do the same way (a closed or draining connection, a subject with characters
 * beyond ASCII, a payload over the server's limit) goes through nats.js `publish`,
 * with its errors.
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';

export interface Protocol {
  sendCommand(frame: Uint8Array): void;
  outMsgs: number;
  outBytes: number;
  noMorePublishing?: boolean;
  info?: { max_payload?: number; headers?: boolean };
}

/** Printable ASCII, no spaces: a subject or reply that can go on the line as it is. */
const PLAIN_TOKEN = /^[\x21-\x7e]+$/;
/** A message id nats.js would send as it is: printable ASCII, no leading or trailing space (it trims). */
const PLAIN_ID = /^(?:[\x21-\x7e]|[\x21-\x7e][\x20-\x7e]*[\x21-\x7e])$/;
const CHECKED_MAX = 10_000;

/** The connection's protocol handler, if it has what frames are queued with (nats.js 3.x). */
export function protocolOf(nc: NatsConnection): Protocol | undefined {
  const p = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
  return typeof p?.sendCommand === 'function' && typeof p.outMsgs === 'number' ? (p as Protocol) : undefined;
}

export class PublishFrames {
  private readonly checked = new Set<string>();
  private readonly protocol: Protocol | undefined;

  constructor(private readonly nc: NatsConnection) {
    this.protocol = protocolOf(nc);
  }

  /** True if frames are built here (the pinned nats.js has the protocol handler this expects). */
  get direct(): boolean {
    return this.protocol !== undefined;
  }

  private plain(subject: string): boolean {
    if (this.checked.has(subject)) return true;
    if (!PLAIN_TOKEN.test(subject)) return false;
    // Subjects made per message (an id in them) would grow the set without end.
    if (this.checked.size >= CHECKED_MAX) this.checked.clear();
    this.checked.add(subject);
    return true;
  }

  /** `reply` must be printable ASCII (the publisher's own inbox). */
  publish(subject: string, reply: string, payload: Uint8Array | string, msgId?: string): void {
    const p = this.protocol;
    if (!p || p.noMorePublishing || this.nc.isClosed() || !this.plain(subject) || (msgId !== undefined && (!p.info?.headers || !PLAIN_ID.test(msgId)))) {
      return this.viaNatsJs(subject, reply, payload, msgId);
    }
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const size = data.length;
    if (p.info?.max_payload !== undefined && size > p.info.max_payload) return this.viaNatsJs(subject, reply, payload, msgId);
    const head = msgId === undefined ? '' : `NATS/1.0\r\nNats-Msg-Id: ${msgId}\r\n\r\n`;
    const line = head ? `HPUB ${subject} ${reply} ${head.length} ${head.length + size}\r\n${head}` : `PUB ${subject} ${reply} ${size}\r\n`;
    const frame = Buffer.allocUnsafe(line.length + size + 2);
    frame.write(line, 0, 'latin1');
    frame.set(data, line.length);
    frame[line.length + size] = 13;
    frame[line.length + size + 1] = 10;
    p.outMsgs++;
    p.outBytes += size;
    p.sendCommand(frame);
  }

  /** What this cannot frame the same way: nats.js publishes it, with its checks and errors. */
  private viaNatsJs(subject: string, reply: string, payload: Uint8Array | string, msgId: string | undefined): void {
    if (msgId === undefined) return this.nc.publish(subject, payload, { reply });
    const headers = natsHeaders();
    headers.set('Nats-Msg-Id', msgId);
    this.nc.publish(subject, payload, { reply, headers });
  }
}
