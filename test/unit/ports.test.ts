import { describe, expect, it } from 'vitest';
import { choosePortsFrom, freePortBlock, freePorts } from '../../src/lib/ports.js';
import { runCli } from '../helpers/cli.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

describe('ephemeral ports', () => {
  it('stay within the chosen range (this worker\'s slice)', async () => {
    const [low, high] = process.env.DATAPLANE_EPHEMERAL_PORTS!.split('-').map(Number) as [number, number];
    expect(high - low).toBeGreaterThan(1000);
    choosePortsFrom(low, low + 200);
    try {
      const ports = await freePorts(30);
      expect(new Set(ports).size).toBe(30);
      for (const p of ports) expect(p >= low && p < low + 200, String(p)).toBe(true);
      const base = await freePortBlock(10);
      expect(base >= low && base + 10 <= low + 200).toBe(true);
    } finally {
      choosePortsFrom(low, high);
    }
  });

  it('never hands out a port again while its taker may not have bound it (a block, then single ports)', async () => {
    const [low, high] = process.env.DATAPLANE_EPHEMERAL_PORTS!.split('-').map(Number) as [number, number];
    // A narrow range: without the memory of what was handed out, overlaps are all but certain.
    choosePortsFrom(low + 1000, low + 1200);
    try {
      const base = await freePortBlock(50);
      const singles = await freePorts(100);
      expect(singles.filter((p) => p >= base && p < base + 50)).toEqual([]);
      expect(new Set(singles).size).toBe(100);
    } finally {
      choosePortsFrom(low, high);
    }
  });

  it('a malformed DATAPLANE_EPHEMERAL_PORTS is a usage error', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-ports-'));
    try {
      const r = await runCli(['config', 'docs'], dir, { env: { DATAPLANE_EPHEMERAL_PORTS: '30000-20000' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/DATAPLANE_EPHEMERAL_PORTS=30000-20000 is not a port range/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
