/** Stopping a stack from another process: through its supervisor, or directly after a crash. */
import { statePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { RuntimeEnvironment } from '../config/load.js';
import { resolveAccess } from '../connect/access.js';
import { driverOf, enabledDrivers } from '../servers/index.js';
import { InternalError } from '../errors/index.js';
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
    // The supervisor stops its processes one at a time, each cleanly: allow each its full timeout.
    const processes = enabledDrivers(config).reduce((n, d) => n + d.instances(config).length, 0);
    const budget = stopTimeoutMs * Math.max(processes, 1) + 10_000;
    process.kill(sup.pid, 'SIGTERM');
    if (!(await waitForExit(sup, budget))) await terminate(sup, 'SIGKILL', 5000);
  }
  // Whatever a crashed supervisor left behind (or the one we just had to kill).
  const stale = await cleanStale(paths, async (instance, rec) => {
    progress(`stopping ${instance} (pid ${rec.pid}) left without a supervisor`);
    const driver = driverOf(instance);
    // An instance this version does not know: cleanStale falls back to SIGTERM.
    if (!driver) throw new InternalError(`no driver for ${instance}`);
    await driver.stop(resolveAccess({ config, environment }), rec, stopTimeoutMs, instance);
  });
  if (sup) return { kind: 'supervisor', pid: sup.pid };
  if (stale.stoppedOrphans.length) return { kind: 'orphans', stopped: stale.stoppedOrphans };
  return { kind: 'nothing' };
}
