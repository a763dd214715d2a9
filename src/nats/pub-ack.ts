/**
 * Reads a JetStream publish ack. Nearly every ack is `{"stream":"<name>","seq":<n>}`
 * as nats-server writes it; that shape is read from the bytes, the stream name kept
 * from the previous ack when its bytes are the same. Anything else (a duplicate, a
 * domain, an error, an escape in the name) goes to JSON.parse.
 *
 * Hand-written because the ack is read once per published message: decoding it to a
 * string and parsing it as JSON was 5-8% of a publisher's CPU here (docs/benchmarks.md).
 */
export interface AckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  domain?: string;
  error?: { code: number; description: string };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEAD = encoder.encode('{"stream":"');
const SEQ = encoder.encode('","seq":');
const QUOTE = 34;
const BACKSLASH = 92;
const CLOSE = 125;
/** More digits could pass 2^53; JSON.parse decides what such a number is. */
const MAX_DIGITS = 15;

let lastName: Uint8Array = new Uint8Array(0);
let lastStream = '';

function matchAt(data: Uint8Array, at: number, want: Uint8Array): boolean {
  if (data.length < at + want.length) return false;
  for (let i = 0; i < want.length; i++) if (data[at + i] !== want[i]) return false;
  return true;
}

function streamName(data: Uint8Array, from: number, to: number): string {
  const n = to - from;
  if (n === lastName.length && matchAt(data, from, lastName)) return lastStream;
  lastName = data.slice(from, to);
  lastStream = decoder.decode(lastName);
  return lastStream;
}

/** The ack's fields; throws (SyntaxError) if it is not JSON. */
export function readAck(data: Uint8Array): AckBody {
  if (!matchAt(data, 0, HEAD)) return JSON.parse(decoder.decode(data)) as AckBody;
  let i = HEAD.length;
  const nameStart = i;
  while (i < data.length && data[i] !== QUOTE) {
    if (data[i] === BACKSLASH) return JSON.parse(decoder.decode(data)) as AckBody;
    i++;
  }
  const nameEnd = i;
  if (!matchAt(data, i, SEQ)) return JSON.parse(decoder.decode(data)) as AckBody;
  i += SEQ.length;
  const digits = i;
  let seq = 0;
  for (; i < data.length && data[i]! >= 48 && data[i]! <= 57; i++) seq = seq * 10 + data[i]! - 48;
  if (i === digits || i - digits > MAX_DIGITS || i !== data.length - 1 || data[i] !== CLOSE) return JSON.parse(decoder.decode(data)) as AckBody;
  return { stream: streamName(data, nameStart, nameEnd), seq };
}
