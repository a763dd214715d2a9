/**
 * Which PostgreSQL failures may be retried. Named lists of SQLSTATEs rather than
 * codes scattered around; the rule is in one place.
 */

/** A transaction that failed this way took no effect and can simply run again. */
export const RETRYABLE_IN_TRANSACTION = {
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
} as const;

/** The connection went away; class 08 (connection exception) and shutdowns. */
const CONNECTION_LOST_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN']);

export function sqlState(e: unknown): string | undefined {
  return (e as { code?: string } | undefined)?.code;
}

export function isConnectionLost(e: unknown): boolean {
  const code = sqlState(e);
  if (code && (code.startsWith('08') || CONNECTION_LOST_CODES.has(code))) return true;
  const msg = (e as Error | undefined)?.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(msg);
}

/**
 * The server is (no longer, or not yet) the primary: a write reached a member that was
 * demoted, or that the stable address still sent to during a failover. Nothing was
 * written; once the address points at the new primary the transaction can run again.
 */
export function isNotPrimary(e: unknown): boolean {
  const code = sqlState(e);
  return code === '25006' || (code === '57P03' && /recovery|standby/i.test((e as Error).message ?? ''));
}

export function isRetryableInTransaction(e: unknown): keyof typeof RETRYABLE_IN_TRANSACTION | undefined {
  const code = sqlState(e);
  return code && code in RETRYABLE_IN_TRANSACTION ? (code as keyof typeof RETRYABLE_IN_TRANSACTION) : undefined;
}

/** Full-jitter exponential backoff (AWS architecture blog): spreads retries of many clients. */
export function backoffMs(attempt: number, baseMs = 25, capMs = 500): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
