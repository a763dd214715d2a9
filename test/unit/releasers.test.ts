import { describe, expect, it } from 'vitest';
import { Releasers } from '../../src/stack/releasers.js';

describe('releasers', () => {
  it('release newest first, every one even when some fail; the first failure is returned, all are logged', async () => {
    const logged: string[] = [];
    const r = new Releasers({ info() {}, warn() {}, error: (m) => logged.push(m) });
    const order: string[] = [];
    r.push('lock', () => order.push('lock'));
    r.push('postgres', async () => {
      order.push('postgres');
      throw new Error('postgres did not stop');
    });
    r.push('workers', () => {
      order.push('workers');
      throw new Error('relay stuck');
    });
    r.push('health', async () => void order.push('health'));
    const first = await r.unwind();
    expect(order).toEqual(['health', 'workers', 'postgres', 'lock']);
    expect(first?.message).toBe('relay stuck');
    expect(logged).toEqual(['workers: relay stuck', 'postgres: postgres did not stop']);
    // Each runs once: a second unwind (stop after a failed stop) does nothing.
    expect(await r.unwind()).toBeUndefined();
    expect(order).toHaveLength(4);
  });
});
