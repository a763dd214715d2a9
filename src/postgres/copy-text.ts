/**
 * Rows in COPY's text format (https://www.postgresql.org/docs/16/sql-copy.html):
 * tab-separated, backslash escapes, \N for NULL. The ingestor's format for columns
 * without a binary encoder, and where asked for.
 */
import type { IngestValue } from './copy-binary.js';

/** COPY text format escapes (https://www.postgresql.org/docs/16/sql-copy.html). */
function escapeText(s: string): string {
  // Fast path: most values have nothing to escape.
  // eslint-disable-next-line no-control-regex
  if (!/[\\\n\r\t]/.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

/** toISOString costs more than the rest of a row; the seconds part repeats, so cache it. */
let cachedSecond = -1;
let cachedPrefix = '';
function timestampText(d: Date): string {
  const ms = d.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = d.toISOString().slice(0, 19);
  }
  const frac = ms - second * 1000;
  return `${cachedPrefix}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}

export function formatValue(v: IngestValue): string {
  if (v === null || v === undefined) return '\\N';
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 't' : 'f';
    case 'string':
      return escapeText(v);
    default:
      return v instanceof Date ? timestampText(v) : escapeText(JSON.stringify(v));
  }
}

export function formatRow(row: readonly IngestValue[]): string {
  let line = formatValue(row[0]);
  for (let i = 1; i < row.length; i++) line += '\t' + formatValue(row[i]);
  return line + '\n';
}
