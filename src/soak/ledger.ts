/**
 * The soak run's ledger: every write the servers acknowledged, kept in memory by the
 * workload and checked against the servers at the end. A row committed must be in its
 * table; its event must have been applied exactly once by the consumer (the inbox makes
 * a redelivery harmless); a malformed event must be in the dead letter stream; a cache
 * write acknowledged by Redis may be lost only within Redis's fsync window (counted).
 * A telemetry COPY batch acknowledged must be there with all its rows, and only once.
 */

export interface LedgerCheck {
  rows: { acknowledged: number; lost: number[] };
  effects: { expected: number; missing: number[]; duplicated: number[] };
  deadLetters: { sent: number; missing: string[] };
  cache: { written: number; lost: string[] };
  /** COPY batches of telemetry samples: lost (fewer rows than acknowledged) or written twice (more) */
  telemetry: { batches: number; rows: number; lostBatches: number[]; duplicatedBatches: number[] };
  /** What could not be read back from a server (a failed check: nothing is known of those writes) */
  unreadable: { what: string; reason: string }[];
  /** No acknowledged row, batch or event lost, none applied or written twice, every malformed event dead-lettered. */
  ok: boolean;
}

/** What the check reads back from the servers. */
export interface LedgerReaders {
  rowsPresent(ids: number[]): Promise<Set<number>>;
  /** applied count per event id (the consumer's effect table) */
  effects(ids: number[]): Promise<Map<number, number>>;
  /** tags of the malformed events found in the dead letter stream */
  deadLetters(): Promise<Set<string>>;
  cacheValues(keys: string[]): Promise<Map<string, string | null>>;
  /** rows found per telemetry batch number */
  telemetryBatches(): Promise<Map<number, number>>;
}

export class Ledger {
  /** committed rows, each with its event in the same transaction */
  readonly rows = new Set<number>();
  /** malformed events committed to the outbox (their tags) */
  readonly malformed = new Set<string>();
  /** the last value Redis acknowledged per key */
  readonly cache = new Map<string, string>();
  /** telemetry COPY batches committed: batch number to its rows */
  readonly telemetry = new Map<number, number>();

  async check(read: LedgerReaders): Promise<LedgerCheck> {
    const unreadable: LedgerCheck['unreadable'] = [];
    // A server that does not answer fails the check, with the reason, instead of ending the run without a report.
    const attempt = async <T>(what: string, fn: () => Promise<T>, none: T): Promise<T> => {
      try {
        return await fn();
      } catch (e) {
        unreadable.push({ what, reason: (e as Error).message });
        return none;
      }
    };
    const ids = [...this.rows];
    const present = await attempt('rows', () => read.rowsPresent(ids), new Set(ids));
    const lost = ids.filter((id) => !present.has(id));
    const applied = await attempt('consumer effects', () => read.effects(ids), new Map(ids.map((id) => [id, 1])));
    const missing = ids.filter((id) => present.has(id) && !applied.has(id));
    const duplicated = ids.filter((id) => (applied.get(id) ?? 0) > 1);
    const dead = await attempt('dead letters', () => read.deadLetters(), new Set(this.malformed));
    const deadMissing = [...this.malformed].filter((t) => !dead.has(t));
    const keys = [...this.cache.keys()];
    const values = await attempt('cache values', () => read.cacheValues(keys), new Map(this.cache));
    const cacheLost = keys.filter((k) => values.get(k) !== this.cache.get(k));
    const found = await attempt('telemetry batches', () => read.telemetryBatches(), new Map(this.telemetry));
    const batches = [...this.telemetry.entries()];
    const lostBatches = batches.filter(([b, n]) => (found.get(b) ?? 0) < n).map(([b]) => b);
    const duplicatedBatches = batches.filter(([b, n]) => (found.get(b) ?? 0) > n).map(([b]) => b);
    return {
      rows: { acknowledged: ids.length, lost },
      effects: { expected: ids.length, missing, duplicated },
      deadLetters: { sent: this.malformed.size, missing: deadMissing },
      cache: { written: keys.length, lost: cacheLost },
      telemetry: { batches: batches.length, rows: batches.reduce((a, [, n]) => a + n, 0), lostBatches, duplicatedBatches },
      unreadable,
      ok: unreadable.length === 0 && lost.length === 0 && missing.length === 0 && duplicated.length === 0 && deadMissing.length === 0 && lostBatches.length === 0 && duplicatedBatches.length === 0,
    };
  }
}
