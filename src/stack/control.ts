/** Stopping a stack from another process: through its supervisor, or directly after a crash. */
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess } from '../connect/access.js';
import { allDrivers } from '../servers/index.js';
import { terminate, waitForExit } from '../lib/process.js';
import { cleanStale, liveSupervisor } from './state.js';

export type StopOutcome =
  | { kind: 'supervisor'; pid: number }
  | { kind: 'orphans'; stopped: { service: string; pid: number }[] }
  | { kind: 'nothing' };

/** `environment`: what the config loader read (DATAPLANE_SECRET_* values, to log in to servers left behind). */
export async function stopStack(config: Config, progress: (msg: string) => void = () => {}, environment?: RuntimeEnvironment): Promise<StopOutcome> {
  const paths = statePaths(config);
  const sup = liveSupervisor(paths);
  const { stopTimeoutMs } = config.supervisor;
  if (sup) {
    progress(`stopping the stack (supervisor pid ${sup.pid})`);
    // The supervisor stops servers in reverse order, each cleanly; allow each its full timeout (three servers, five monitoring processes).
    const budget = stopTimeoutMs * 8 + 10_000;
    process.kill(sup.pid, 'SIGTERM');
    if (!(await waitForExit(sup, budget))) await terminate(sup, 'SIGKILL', 5000);
  }
  // Whatever a crashed supervisor left behind (or the one we just had to kill).
  const stale = await cleanStale(paths, async (service, rec) => {
    progress(`stopping ${service} (pid ${rec.pid}) left without a supervisor`);
    await allDrivers[service].stop(resolveAccess({ config, environment }), rec, stopTimeoutMs);
  });
  if (sup) return { kind: 'supervisor', pid: sup.pid };
  if (stale.stoppedOrphans.length) return { kind: 'orphans', stopped: stale.stoppedOrphans };
  return { kind: 'nothing' };
}
