import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { rotateLogs } from '../../src/lib/log-rotation.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('copies a large log aside and truncates it under a writer that keeps its file open', () => {
  const file = path.join(dir, 'redis.log');
  // A server holds its log open with O_APPEND, as spawnServer opens it.
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, 'a'.repeat(2000) + '\n');
    expect(rotateLogs(dir, { maxBytes: 1000, keep: 2 })).toEqual(['redis.log']);
    expect(statSync(file).size).toBe(0);
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('a'.repeat(2000) + '\n');
    // The writer carries on at the start of the emptied file, not at its old offset.
    writeSync(fd, 'after\n');
    expect(readFileSync(file, 'utf8')).toBe('after\n');
    expect(rotateLogs(dir, { maxBytes: 1000, keep: 2 })).toEqual([]);
    writeSync(fd, 'b'.repeat(2000) + '\n');
    rotateLogs(dir, { maxBytes: 1000, keep: 2 });
    writeSync(fd, 'c'.repeat(2000) + '\n');
    rotateLogs(dir, { maxBytes: 1000, keep: 2 });
    // Two generations kept: the newest in .1, the one before in .2, the oldest gone.
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('c'.repeat(2000) + '\n');
    expect(readFileSync(`${file}.2`, 'utf8')).toBe('after\n' + 'b'.repeat(2000) + '\n');
  } finally {
    closeSync(fd);
  }
});
