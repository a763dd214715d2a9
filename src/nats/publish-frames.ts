/**
 * PUB frames for the publisher, built here rather than by nats.js `publish`.
 *
 * nats.js checks the subject with a regular expression, encodes the protocol line
 * with a TextEncoder and queues line, payload and CRLF as three buffers that are then
 * copied together, on every call: 13% of a TLS publisher's CPU here. This checks each
 * subject once (they repeat), writes the line as Latin-1 into one buffer with the
 * payload and queues that (docs/benchmarks.md). The frame is the NATS client
 * protocol's `PUB <subject> <reply> <size>`, unchanged since NATS 1.0.
 *
 * nats.js has no API to queue a frame, so this calls its protocol handler's
 * `sendCommand` (nats.js 3.x), which also buffers while reconnecting; anything this
 * cannot do the same way (a closed or draining connection, a subject with characters
 * beyond ASCII, a payload over the server's limit) goes through nats.js `publish`,
 * with its errors.
 */
import type { NatsConnection } from '@nats-io/transport-node';

interface Protocol {
  sendCommand(frame: Uint8Array): void;
  outMsgs: number;
  outBytes: number;
  noMorePublishing?: boolean;
  info?: { max_payload?: number };
}

/** Printable ASCII, no spaces: a subject or reply that can go on the line as it is. */
const PLAIN_TOKEN = /^[\x21-\x7e]+$/;
const CHECKED_MAX = 10_000;

export class PublishFrames {
  private readonly checked = new Set<string>();
  private readonly protocol: Protocol | undefined;

  constructor(private readonly nc: NatsConnection) {
    const p = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
    this.protocol = typeof p?.sendCommand === 'function' && typeof p.outMsgs === 'number' ? (p as Protocol) : undefined;
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
  publish(subject: string, reply: string, payload: Uint8Array | string): void {
    const p = this.protocol;
    if (!p || p.noMorePublishing || this.nc.isClosed() || !this.plain(subject)) return this.nc.publish(subject, payload, { reply });
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const size = data.length;
    if (p.info?.max_payload !== undefined && size > p.info.max_payload) return this.nc.publish(subject, payload, { reply });
    const line = `PUB ${subject} ${reply} ${size}\r\n`;
    const frame = Buffer.allocUnsafe(line.length + size + 2);
    frame.write(line, 0, 'latin1');
    frame.set(data, line.length);
    frame[line.length + size] = 13;
    frame[line.length + size + 1] = 10;
    p.outMsgs++;
    p.outBytes += size;
    p.sendCommand(frame);
  }
}
