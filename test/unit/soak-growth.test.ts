/** The soak's leak finder: a line fitted to the second half of the run, with thresholds. */
import { describe, expect, it } from 'vitest';
import { growth, type ResourceSample } from '../../src/soak/resources.js';

const run = (rss: (t: number) => number, files: (t: number) => number): ResourceSample[] =>
  Array.from({ length: 20 }, (_, i) => ({ t: i * 10, processes: { redis: { cpuPct: 5, memoryBytes: rss(i * 10), openFiles: files(i * 10) } }, diskBytes: {} }));

describe('soak growth', () => {
  it('reports memory and open files that keep rising at a constant load', () => {
    const g = growth(run((t) => 50e6 + t * 100_000, (t) => 20 + Math.floor(t / 20)));
    expect(g).toEqual([
      { what: 'redis memory', perMinute: 6_000_000, unit: 'bytes' },
      // a step every 20 s: about 3 a minute (a least-squares fit of a staircase)
      { what: 'redis open files', perMinute: 2.9, unit: 'files' },
    ]);
  });

  it('ignores warm-up growth in the first half, noise, and runs too short to judge', () => {
    // Grows for the first 100 s, then flat with a little jitter.
    expect(growth(run((t) => (t < 100 ? 10e6 + t * 1e6 : 110e6 + (t % 20 ? 4096 : 0)), () => 30))).toEqual([]);
    expect(growth(run((t) => 50e6 + t * 100_000, () => 20).slice(0, 10))).toEqual([]);
  });
});

describe('soak growth across a restart', () => {
  it('fits only the process running at the end: a restart with a new pid is not a leak', () => {
    // 10 samples of pid 1 at 50 MB, then pid 2 at 150 MB, flat: one line over both would climb.
    const samples: ResourceSample[] = Array.from({ length: 20 }, (_, i) => ({
      t: i * 10,
      processes: { supervisor: { pid: i < 14 ? 1 : 2, cpuPct: 5, memoryBytes: i < 14 ? 50e6 : 150e6, openFiles: i < 14 ? 20 : 30 } },
      diskBytes: {},
    }));
    expect(growth(samples)).toEqual([]);
    // The same climb under one pid is reported.
    expect(growth(samples.map((s) => ({ ...s, processes: { supervisor: { ...s.processes.supervisor!, pid: 1 } } })))).toEqual([
      expect.objectContaining({ what: 'supervisor memory', unit: 'bytes' }),
      expect.objectContaining({ what: 'supervisor open files', unit: 'files' }),
    ]);
  });
});
