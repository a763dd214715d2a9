/**
 * Clean-up as one stack of releasers, run in reverse: every step that starts
 * something pushes how to undo it, and the same stack unwinds a start that fails
 * part-way and a stop. One path, so the two can never drift apart.
 */
import type { Logger } from '../lib/logger.js';

export class Releasers {
  private readonly stack: { name: string; release: () => Promise<unknown> | unknown }[] = [];

  constructor(private readonly logger: Logger) {}

  push(name: string, release: () => Promise<unknown> | unknown): void {
    this.stack.push({ name, release });
  }

  get size(): number {
    return this.stack.length;
  }

  /**
   * Release everything, newest first, each once. Every failure is logged and the
   * rest still run; the first failure is returned for the caller to report.
   */
  async unwind(): Promise<Error | undefined> {
    let first: Error | undefined;
    for (let r = this.stack.pop(); r; r = this.stack.pop()) {
      try {
        await r.release();
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.logger.error(`${r.name}: ${err.message}`);
        first ??= err;
      }
    }
    return first;
  }
}
