/**
 * Rows in COPY's binary format (https://www.postgresql.org/docs/16/sql-copy.html,
 * "Binary Format"), for the column types telemetry uses. In binary the server copies
 * fixed-size values instead of parsing text (timestamps and floats are most of a text
 * COPY's server time), and the client writes numbers into a buffer instead of
 * formatting strings.
 *
 * Written here rather than taken from npm: pg-copy-streams-binary encodes through a
 * stream of one object per field, which costs more client CPU per row than the text
 * format it would replace; this encoder writes each row straight into one growing
 * buffer, with an encoder chosen once per column.
 */
import { InvalidArgumentError } from '../errors/index.js';

/** A value of an ingested row, in either COPY format. */
export type IngestValue = string | number | bigint | boolean | Date | null | undefined | Record<string, unknown> | unknown[];

/** PGCOPY\n\377\r\n\0, flags, header extension length. */
export const BINARY_HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
/** The file trailer: a field count of -1. */
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 UTC). */
const PG_EPOCH_MS = 946_684_800_000;

type Encode = (w: BinaryRows, v: Exclude<IngestValue, null | undefined>) => void;

/** Types with a binary encoder; any other column keeps the ingestor on the text format. */
const ENCODERS: Record<string, Encode> = {
  boolean: (w, v) => w.fixed(1).writeUInt8(v ? 1 : 0, w.at),
  smallint: (w, v) => w.fixed(2).writeInt16BE(Number(v), w.at),
  integer: (w, v) => w.fixed(4).writeInt32BE(Number(v), w.at),
  bigint: (w, v) => (typeof v === 'bigint' ? w.fixed(8).writeBigInt64BE(v, w.at) : w.int64(Number(v))),
  real: (w, v) => w.fixed(4).writeFloatBE(Number(v), w.at),
  'double precision': (w, v) => w.fixed(8).writeDoubleBE(Number(v), w.at),
  'timestamp with time zone': (w, v) => {
    const ms = v instanceof Date ? v.getTime() : new Date(v as string).getTime();
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a timestamp: ${String(v)}`);
    w.int64((ms - PG_EPOCH_MS) * 1000);
  },
  text: (w, v) => w.text(typeof v === 'string' ? v : JSON.stringify(v)),
  'character varying': (w, v) => w.text(typeof v === 'string' ? v : JSON.stringify(v)),
  json: (w, v) => w.text(typeof v === 'string' ? v : JSON.stringify(v)),
  // jsonb's binary form is a version byte (1) and the JSON text.
  jsonb: (w, v) => w.text(typeof v === 'string' ? v : JSON.stringify(v), 1),
};

export function binaryEncodable(types: readonly string[]): boolean {
  return types.every((t) => t in ENCODERS);
}

/** A growing buffer of binary rows for one column list. */
export class BinaryRows {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private off = 0;
  /** Where the value being written starts (after its length word). */
  at = 0;
  rows = 0;
  private readonly encoders: Encode[];

  constructor(types: readonly string[]) {
    this.encoders = types.map((t) => {
      const e = ENCODERS[t];
      if (!e) throw new InvalidArgumentError(`no binary COPY encoder for type ${t}`);
      return e;
    });
  }

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** Reserve a fixed-size value: its length word is written, `at` points at the value. */
  fixed(n: number): Buffer {
    this.room(4 + n);
    this.buf.writeInt32BE(n, this.off);
    this.at = this.off + 4;
    this.off += 4 + n;
    return this.buf;
  }

  /** A 64-bit integer from a number (exact up to 2^53: ±285 years in microseconds), without a BigInt per value. */
  int64(n: number): void {
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`not a 64-bit integer: ${n}`);
    const buf = this.fixed(8);
    const hi = Math.floor(n / 4294967296);
    buf.writeInt32BE(hi, this.at);
    buf.writeUInt32BE(n - hi * 4294967296, this.at + 4);
  }

  text(s: string, prefix?: number): void {
    const max = Buffer.byteLength(s) + (prefix === undefined ? 0 : 1);
    this.room(4 + max);
    let p = this.off + 4;
    if (prefix !== undefined) this.buf[p++] = prefix;
    p += this.buf.write(s, p, 'utf8');
    this.buf.writeInt32BE(p - this.off - 4, this.off);
    this.off = p;
  }

  write(row: readonly IngestValue[]): void {
    const encoders = this.encoders;
    if (row.length !== encoders.length) throw new InvalidArgumentError(`a row has ${row.length} values for ${encoders.length} columns`);
    this.room(2);
    this.buf.writeInt16BE(encoders.length, this.off);
    this.off += 2;
    for (let i = 0; i < encoders.length; i++) {
      const v = row[i];
      if (v === null || v === undefined) {
        this.room(4);
        this.buf.writeInt32BE(-1, this.off);
        this.off += 4;
      } else encoders[i]!(this, v);
    }
    this.rows++;
  }

  /** The rows written so far (a copy), and an empty buffer for the next ones. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.off));
    this.off = 0;
    this.rows = 0;
    return out;
  }
}
