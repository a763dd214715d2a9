/**
 * Byte sizes in config files ("512mb", "2GB", 1048576).
 *
 * Hand-written because the common `bytes` package silently reads "2g" as 2 bytes
 * and "512MiB" as 512: a config typo must be an error, not a tiny buffer.
 * Units are powers of 1024, as in PostgreSQL ("MB") and Redis ("mb").
 */

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** Returns the size in bytes, or undefined when `value` is not a size. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const m = SIZE_RE.exec(value.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const factor = UNITS[unit];
  if (factor === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * factor);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Human form for messages and tables: 1536 -> "1.5kB". */
export function formatSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]}`;
}

/**
 * PostgreSQL memory setting: the largest unit that represents the value exactly
 * after rounding down to whole kB (PostgreSQL's smallest unit for these settings).
 */
export function formatPgSize(n: number): string {
  // PostgreSQL counts in kB; a positive size under 1kB rounds up, since 0 often means "disabled".
  const kb = n > 0 ? Math.max(1, Math.floor(n / 1024)) : 0;
  if (kb > 0 && kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb > 0 && kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}kB`;
}
