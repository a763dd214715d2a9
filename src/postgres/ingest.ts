/**
 * Bulk ingest through COPY, for a service that receives a continuous flow of rows
 * (telemetry): rows are buffered, sent as one COPY per batch (by size or by time),
 * over up to `connections` COPY streams at once, with backpressure on the writer.
 *
 *   const ingest = createIngestor(db, { table: 'telemetry.measurements', columns: ['time', 'org_id', 'source_id', 'metric_id', 'value'] });
 *   for await (const m of feed) await ingest.write([m.time, m.org, m.source, m.metric, m.value]);
 *   await ingest.close(); // flushes what is buffered
 *
 * Rows go in COPY's binary format when every column has a binary encoder
 * (copy-binary.ts: the server then copies values instead of parsing text), else in
 * the text format (copy-text.ts: escaping, and a timestamp text cache per second,
 * because that formatting is where the client's time goes; docs/benchmarks.md).
 * A binary batch whose rows all fall into one partition the role may write to is
 * sent to that partition (partition-targets.ts); any other to the table.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { counter, histogram } from '../lib/metrics.js';
import type { Database } from './database.js';
import { isConnectionLost } from './errors.js';
import { DataplaneError, InvalidArgumentError } from '../errors/index.js';
import { BINARY_HEADER, BINARY_TRAILER, BinaryRows, binaryEncodable, type IngestValue } from './copy-binary.js';
import { formatRow } from './copy-text.js';
import { PartitionTargets } from './partition-targets.js';

export type { IngestValue };

const ingested = counter('dataplane_ingest_rows_total', 'Rows written by COPY ingest', ['table', 'outcome']);
const batchDuration = histogram('dataplane_ingest_batch_duration_seconds', 'Time to COPY one batch', ['table'], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);


export interface IngestOptions {
  /** Qualified table name, e.g. telemetry.measurements. */
  table: string;
  columns: string[];
  /** Rows per COPY (default 10,000). */
  batchRows?: number;
  /** Longest a row waits before its batch is sent (default 1 s). */
  flushIntervalMs?: number;
  /** COPY streams at once, each on its own connection (default 1). */
  connections?: number;
  /** Rows buffered or in flight before write() makes the caller wait (default 4 batches per connection). */
  maxPendingRows?: number;
  /**
   * COPY format: 'binary' when every column's type has an encoder ('auto', the default,
   * looks the types up once and falls back to text), or 'text'.
   */
  format?: 'auto' | 'binary' | 'text';
  /** A batch that failed for good (e.g. a constraint); without it, flush() and close() reject. */
  onError?: (error: Error, rows: number) => void;
}

export interface IngestStats {
  rows: number;
  failedRows: number;
  batches: number;
  /** Batches written straight into one partition of the table. */
  partitionBatches: number;
  pendingRows: number;
  rowsPerSecond: number;
}

const IDENT = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** COPY batches failed: their rows were not written (`errors` has each batch's cause). */
export class IngestError extends DataplaneError {
  readonly code = 'INGEST_FAILED';
  constructor(readonly errors: Error[], message: string) {
    super(message, { cause: errors[0] });
  }
}

interface Batch {
  text: string[];
  /** Encoded when the batch was cut (binary, types known by then). */
  binary?: Buffer[];
  /** Rows kept as given, encoded when the batch is sent (binary or auto format). */
  raw: (readonly IngestValue[])[];
  rows: number;
  /** The partition the batch is sent to, when all its rows fall into one; else the table. */
  target?: string;
  /** Whether `target` has been chosen (while the raw rows were still there). */
  aimed?: boolean;
}

/** The column types, in `columns` order, as format_type() names them. */
async function columnTypes(db: Database, table: string, columns: string[]): Promise<string[]> {
  const r = await db.query<{ name: string; type: string }>(
    'select attname as name, format_type(atttypid, null) as type from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped',
    [table],
  );
  const byName = new Map(r.rows.map((x) => [x.name, x.type]));
  return columns.map((c) => byName.get(c) ?? 'unknown');
}

export class Ingestor {
  private readonly batchRows: number;
  private readonly flushIntervalMs: number;
  private readonly connections: number;
  private readonly maxPending: number;
  private readonly columnList: string;
  private current: Batch = { text: [], raw: [], rows: 0 };
  /** Resolved to the encoder's types for binary, or undefined for text (format 'auto' or 'binary' only). */
  private readonly binaryTypes: Promise<string[] | undefined> | undefined;
  private resolvedTypes: string[] | undefined;
  private readonly partitions: Promise<PartitionTargets | undefined> | undefined;
  private resolvedPartitions: PartitionTargets | undefined;
  private chunk = '';
  private chunkRows = 0;
  private readonly queue: Batch[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private inFlightRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly errors: Error[] = [];
  private closed = false;
  private readonly started = performance.now();
  private readonly totals = { rows: 0, failedRows: 0, batches: 0, partitionBatches: 0 };

  constructor(
    private readonly db: Database,
    private readonly opts: IngestOptions,
  ) {
    for (const name of [opts.table, ...opts.columns]) {
      if (!IDENT.test(name)) throw new InvalidArgumentError(`not a plain identifier: ${name}`);
    }
    this.batchRows = opts.batchRows ?? 10_000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.connections = Math.max(1, opts.connections ?? 1);
    this.maxPending = opts.maxPendingRows ?? this.batchRows * this.connections * 4;
    this.columnList = opts.columns.join(', ');
    const format = opts.format ?? 'auto';
    if (format !== 'text') {
      this.binaryTypes = columnTypes(db, opts.table, opts.columns).then(
        (types) => {
          if (binaryEncodable(types)) return (this.resolvedTypes = types);
          if (format === 'binary') throw new InvalidArgumentError(`binary COPY into ${opts.table}: no encoder for ${types.filter((t) => !binaryEncodable([t])).join(', ')}`);
          return undefined;
        },
        (e: unknown) => {
          if (format === 'binary') throw e;
          return undefined; // the text format needs no types; COPY itself reports a missing table
        },
      );
      this.binaryTypes.catch(() => undefined); // reported by the first batch that needs it
      // Without the list every batch goes to the table, as it always could.
      this.partitions = PartitionTargets.load(db, opts.table, opts.columns).then(
        (p) => (this.resolvedPartitions = p),
        () => undefined,
      );
    }
  }

  get pendingRows(): number {
    return this.current.rows + this.chunkRows + this.queuedRows + this.inFlightRows;
  }

  /**
   * Queue one row (values in `columns` order). The row is taken at once; the result is
   * a promise only when the caller should wait: too much is pending, or (every 1000
   * rows) to let a COPY in flight write to its socket.
   */
  write(row: readonly IngestValue[]): Promise<void> | void {
    if (this.closed) throw new InvalidArgumentError(`ingestor for ${this.opts.table} is closed`);
    if (this.binaryTypes) this.current.raw.push(row);
    else this.chunk += formatRow(row);
    let sealed = false;
    // Strings of ~1000 rows: fewer, larger writes into the COPY stream.
    if (++this.chunkRows >= 1000) sealed = this.sealChunk();
    if (this.current.rows + this.chunkRows >= this.batchRows) this.cut();
    else this.timer ??= setTimeout(() => this.cut(), this.flushIntervalMs);
    if (this.pendingRows >= this.maxPending) return new Promise((r) => this.waiters.push(r));
    // A caller writing rows in a tight loop would otherwise keep the event loop, and so
    // the COPY streams, from running until maxPending: the server would sit idle.
    if (sealed && this.inFlight) return new Promise((r) => setImmediate(r));
  }

  async writeMany(rows: Iterable<readonly IngestValue[]>): Promise<void> {
    for (const r of rows) {
      const wait = this.write(r);
      if (wait) await wait;
    }
  }

  private sealChunk(): boolean {
    if (!this.chunkRows) return false;
    if (!this.binaryTypes) this.current.text.push(this.chunk);
    this.current.rows += this.chunkRows;
    this.chunk = '';
    this.chunkRows = 0;
    return true;
  }

  /** Close the current batch and hand it to a connection. */
  private cut(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sealChunk();
    if (!this.current.rows) return;
    // Encoded now, while an earlier batch is still streaming, so the server does not
    // wait for this one to be encoded after that one commits.
    // A value that cannot be encoded fails the batch when it is sent, reported like any other failure.
    if (this.resolvedTypes) {
      this.aim(this.current, this.resolvedPartitions);
      try {
        this.current.binary = this.encodeBinary(this.resolvedTypes, this.current);
      } catch {
        this.current.binary = undefined;
      }
    }
    this.queue.push(this.current);
    this.queuedRows += this.current.rows;
    this.current = { text: [], raw: [], rows: 0 };
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.connections && this.queue.length) {
      const batch = this.queue.shift()!;
      this.queuedRows -= batch.rows;
      this.inFlight++;
      this.inFlightRows += batch.rows;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.inFlightRows -= batch.rows;
        this.wake();
        this.pump();
      });
    }
  }

  private wake(): void {
    while (this.waiters.length && this.pendingRows < this.maxPending) this.waiters.shift()!();
    if (!this.inFlight && !this.queue.length) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  /**
   * One COPY. A connection lost while the rows were still streaming means the COPY
   * was rolled back, so it is sent again; any other failure is reported with the
   * number of rows it cost.
   */
  private async send(batch: Batch): Promise<void> {
    const stop = batchDuration.startTimer({ table: this.opts.table });
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient | undefined;
      let finishing = false;
      try {
        const chunks = await this.encode(batch);
        client = await this.db.acquire();
        const stream = client.query(copyStreams.from(chunks.sql));
        const source = Readable.from(chunks.data, { objectMode: false });
        source.on('end', () => (finishing = true));
        await pipeline(source, stream);
        client.release();
        this.totals.rows += batch.rows;
        this.totals.batches++;
        if (batch.target) this.totals.partitionBatches++;
        ingested.inc({ table: this.opts.table, outcome: 'ok' }, batch.rows);
        stop();
        return;
      } catch (e) {
        const lost = isConnectionLost(e);
        client?.release(lost ? (e as Error) : undefined);
        if (lost && !finishing && attempt < 3) continue;
        // A partition dropped by retention, or any other refusal: the table gives the
        // answer it would have given without the shortcut (often: it takes the rows).
        if (batch.target && !(lost && finishing)) {
          batch.target = undefined;
          this.resolvedPartitions?.refresh().catch(() => undefined);
          continue;
        }
        this.totals.failedRows += batch.rows;
        ingested.inc({ table: this.opts.table, outcome: 'failed' }, batch.rows);
        const err = e instanceof Error ? e : new Error(String(e));
        if (this.opts.onError) this.opts.onError(err, batch.rows);
        else this.errors.push(err);
        stop();
        return;
      }
    }
  }

  /** The batch's COPY statement and data: binary where the types allow, else text. */
  private async encode(batch: Batch): Promise<{ sql: string; data: (string | Buffer)[] }> {
    const sql = (into: string) => `copy ${into} (${this.columnList}) from stdin`;
    if (!this.binaryTypes) return { sql: sql(this.opts.table), data: batch.text };
    const types = await this.binaryTypes;
    if (!types) return { sql: sql(this.opts.table), data: [batch.raw.map(formatRow).join('')] };
    this.aim(batch, await this.partitions);
    batch.binary ??= this.encodeBinary(types, batch);
    return { sql: `${sql(batch.target ?? this.opts.table)} with (format binary)`, data: batch.binary };
  }

  /** Choose the batch's partition once, before encoding lets go of its raw rows. */
  private aim(batch: Batch, partitions: PartitionTargets | undefined): void {
    if (batch.aimed) return;
    batch.aimed = true;
    batch.target = partitions?.targetOf(batch.raw);
  }

  private encodeBinary(types: string[], batch: Batch): Buffer[] {
    const rows = new BinaryRows(types);
    const data: Buffer[] = [BINARY_HEADER];
    for (const row of batch.raw) {
      rows.write(row);
      if (rows.rows === 1000) data.push(rows.take());
    }
    data.push(rows.take(), BINARY_TRAILER);
    batch.raw = [];
    return data;
  }

  /** Send everything buffered and wait until it is written (or failed). */
  async flush(): Promise<void> {
    this.cut();
    if (this.inFlight || this.queue.length) await new Promise<void>((r) => this.idleWaiters.push(r));
    if (this.errors.length) {
      const errs = this.errors.splice(0);
      throw new IngestError(errs, `${errs.length} COPY batch(es) into ${this.opts.table} failed: ${errs[0]!.message}`);
    }
  }

  /** Flush and stop accepting rows (call it on shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  stats(): IngestStats {
    const seconds = (performance.now() - this.started) / 1000;
    return { ...this.totals, pendingRows: this.pendingRows, rowsPerSecond: seconds > 0 ? this.totals.rows / seconds : 0 };
  }
}

export function createIngestor(db: Database, opts: IngestOptions): Ingestor {
  return new Ingestor(db, opts);
}
