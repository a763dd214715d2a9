/**
 * The soak run's ledger: every write the servers acknowledged, kept in memory by the
 * workload and checked against the servers at the end. A row committed must be in its
 * table; its event must have been applied exactly once by the consumer (the inbox makes
 * a redelivery harmless); a malformed event must be in the dead letter stream; a cache
 * write acknowledged by Redis may be lost only within Redis's fsync window (counted).
 */

export interface LedgerCheck {
  rows: { acknowledged: number; lost: number[] };
  effects: { expected: number; missing: number[]; duplicated: number[] };
  deadLetters: { sent: number; missing: string[] };
  cache: { written: number; lost: string[] };
  /** No acknowledged row or event lost, none applied twice, every malformed event dead-lettered. */
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
}

export class Ledger {
  /** committed rows, each with its event in the same transaction */
  readonly rows = new Set<number>();
  /** malformed events committed to the outbox (their tags) */
  readonly malformed = new Set<string>();
  /** the last value Redis acknowledged per key */
  readonly cache = new Map<string, string>();

  async check(read: LedgerReaders): Promise<LedgerCheck> {
    const ids = [...this.rows];
    const present = await read.rowsPresent(ids);
    const lost = ids.filter((id) => !present.has(id));
    const applied = await read.effects(ids);
    const missing = ids.filter((id) => present.has(id) && !applied.has(id));
    const duplicated = ids.filter((id) => (applied.get(id) ?? 0) > 1);
    const dead = await read.deadLetters();
    const deadMissing = [...this.malformed].filter((t) => !dead.has(t));
    const keys = [...this.cache.keys()];
    const values = await read.cacheValues(keys);
    const cacheLost = keys.filter((k) => values.get(k) !== this.cache.get(k));
    return {
      rows: { acknowledged: ids.length, lost },
      effects: { expected: ids.length, missing, duplicated },
      deadLetters: { sent: this.malformed.size, missing: deadMissing },
      cache: { written: keys.length, lost: cacheLost },
      ok: lost.length === 0 && missing.length === 0 && duplicated.length === 0 && deadMissing.length === 0,
    };
  }
}
