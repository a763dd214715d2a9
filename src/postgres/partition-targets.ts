/**
 * Which partition of a range-partitioned table a batch of rows can be written to
 * directly. A COPY that names the partition costs the server less than one routed
 * through the table (no routing per row, and rows inserted in batches: PostgreSQL
 * inserts them one by one into a partitioned table whose triggers have transition
 * tables). The database decides who may: migration 0013 opens a partition for INSERT
 * only where a statement naming it is checked as one naming its table, so the list
 * holds only partitions this role may insert into.
 *
 * Only a batch whose rows all fall into one partition is sent there; any other batch
 * (straddling a boundary, a time beyond the known partitions, a value that is not a
 * Date) goes to the table, as before.
 */
import type { Database } from './database.js';

export interface PartitionRange {
  /** Qualified, quoted name. */
  name: string;
  fromMs: number;
  toMs: number;
}

/** Longest the list is kept when a batch finds no partition for its rows. */
const STALE_MS = 60_000;

// Bounds of the single-column timestamptz range partitions this role may insert into.
// The bound text is in the session's own output format, so the same session casts it back.
const LIST_SQL = `
select format('%I.%I', n.nspname, c.relname) as name,
       (extract(epoch from m.b[1]::timestamptz) * 1000)::float8 as from_ms,
       (extract(epoch from m.b[2]::timestamptz) * 1000)::float8 as to_ms
  from pg_partitioned_table pt
  join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
  join pg_inherits i on i.inhparent = pt.partrelid
  join pg_class c on c.oid = i.inhrelid
  join pg_namespace n on n.oid = c.relnamespace,
  lateral regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$^FOR VALUES FROM \\('([^']+)'\\) TO \\('([^']+)'\\)$$re$) m(b)
 where pt.partrelid = $1::regclass and pt.partstrat = 'r' and pt.partnatts = 1
   and a.attname = $2 and a.atttypid = 'timestamptz'::regtype
   and c.relkind = 'r' and has_table_privilege(c.oid, 'INSERT')
 order by 2`;

export class PartitionTargets {
  private ranges: PartitionRange[] = [];
  private loadedAt = -Infinity;
  private loading: Promise<void> | undefined;

  /** `timeIndex`: where the partition key's value sits in each row. */
  private constructor(
    private readonly db: Database,
    private readonly table: string,
    private readonly keyColumn: string,
    readonly timeIndex: number,
  ) {}

  /**
   * Targets for `table` when one of `columns` is its partition key; undefined for a
   * table that is not range-partitioned on a timestamptz column (a plain table, a
   * hypertable) or when none of its partitions is open to this role.
   */
  static async load(db: Database, table: string, columns: string[]): Promise<PartitionTargets | undefined> {
    const key = await db.query<{ column: string }>(
      `select a.attname as column from pg_partitioned_table pt join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
        where pt.partrelid = $1::regclass and pt.partstrat = 'r' and pt.partnatts = 1`,
      [table],
    );
    const column = key.rows[0]?.column;
    const timeIndex = column === undefined ? -1 : columns.indexOf(column);
    if (column === undefined || timeIndex < 0) return undefined;
    const targets = new PartitionTargets(db, table, column, timeIndex);
    await targets.refresh();
    return targets;
  }

  get size(): number {
    return this.ranges.length;
  }

  /** Read the partitions again (new ones from maintenance, dropped ones from retention). */
  refresh(): Promise<void> {
    this.loading ??= this.db
      .query<{ name: string; from_ms: number; to_ms: number }>(LIST_SQL, [this.table, this.keyColumn])
      .then((r) => {
        this.ranges = r.rows.map((x) => ({ name: x.name, fromMs: x.from_ms, toMs: x.to_ms }));
        this.loadedAt = performance.now();
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /**
   * The partition holding every row's key, or undefined. One pass, stopping at the first
   * row outside the first row's partition.
   */
  targetOf(rows: readonly (readonly unknown[])[]): string | undefined {
    const first = rows[0]?.[this.timeIndex];
    if (!(first instanceof Date)) return undefined;
    const range = this.find(first.getTime());
    if (!range) {
      // A day maintenance has created since the list was read, or a time beyond them all.
      if (performance.now() - this.loadedAt > STALE_MS) this.refresh().catch(() => undefined);
      return undefined;
    }
    for (const row of rows) {
      const t = row[this.timeIndex];
      if (!(t instanceof Date)) return undefined;
      const ms = t.getTime();
      if (!(ms >= range.fromMs && ms < range.toMs)) return undefined;
    }
    return range.name;
  }

  private find(ms: number): PartitionRange | undefined {
    // Few partitions (days of retention plus a week ahead), the newest most often hit.
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i]!;
      if (ms >= r.fromMs && ms < r.toMs) return r;
    }
    return undefined;
  }
}
