/** Pacing for the soak's workers: each runs its operation at a target rate, on its own. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why an operation failed, in a word or two (the series counts errors by kind). */
export function kindOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code ? code : ((e as Error).name ?? 'error');
}

/**
 * Run `op` about `perSec` times a second until `stopping()`; a slow operation slows its
 * own worker only, and a worker that fell behind during a fault does not burst to catch up.
 */
export async function paced(perSec: number, stopping: () => boolean, op: (n: number) => Promise<void>): Promise<void> {
  const interval = 1000 / perSec;
  let next = performance.now();
  for (let n = 1; !stopping(); n++) {
    await op(n);
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -1000) next = performance.now();
  }
}
