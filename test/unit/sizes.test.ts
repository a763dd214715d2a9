import { describe, expect, it } from 'vitest';
import { formatPgSize, formatSize, parseSize } from '../../src/lib/sizes.js';

describe('parseSize', () => {
  it.each([
    ['512mb', 512 * 1024 ** 2],
    ['2GB', 2 * 1024 ** 3],
    ['1.5gb', 1.5 * 1024 ** 3],
    ['64 kB', 64 * 1024],
    ['10', 10],
    [4096, 4096],
    ['2g', 2 * 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
  ])('reads %s', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['lots', '-1mb', '1 zb', '', 'mb', -5, 1.5, true, null, '1e9'])('rejects %s', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});

describe('formatting', () => {
  it('uses the largest exact PostgreSQL unit', () => {
    expect(formatPgSize(256 * 1024 ** 2)).toBe('256MB');
    expect(formatPgSize(3 * 1024 ** 3)).toBe('3GB');
    expect(formatPgSize(5368709)).toBe('5242kB');
    // Below 1kB is still something: 0 would mean "off" for several settings.
    expect(formatPgSize(100)).toBe('1kB');
    expect(formatPgSize(0)).toBe('0kB');
  });
  it('gives humans one decimal', () => {
    expect(formatSize(1536)).toBe('1.5kB');
    expect(formatSize(1024 ** 3)).toBe('1GB');
  });
});
