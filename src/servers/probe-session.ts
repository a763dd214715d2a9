/** A probe from a session: log in, one round trip, log out; the latency covers all three. */
import { performance } from 'node:perf_hooks';
import type { ProbeResult, ProbeSession } from './types.js';

export async function probeOnce(open: () => Promise<ProbeSession>): Promise<ProbeResult> {
  const started = performance.now();
  const session = await open();
  try {
    const { version } = await session.probe();
    return { version, latencyMs: performance.now() - started };
  } finally {
    await session.close();
  }
}
