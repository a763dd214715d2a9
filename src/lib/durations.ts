/** Durations as the library's declarations write them: milliseconds, or "500ms", "30s", "5m", "1h", "7d". */
import { InvalidArgumentError } from '../errors/index.js';

export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function durationMs(d: Duration): number {
  if (typeof d === 'number') return d;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new InvalidArgumentError(`not a duration: ${d}`);
  return Math.round(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]);
}
