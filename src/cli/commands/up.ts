/**
 * `dataplane up`: start the stack and supervise it in the foreground (Ctrl-C stops
 * it), or with --detach hand it to a background supervisor and return once ready.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { statePaths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { DataplaneError } from '../../errors/index.js';
import { createLogger } from '../../lib/logger.js';
import type { ServiceSnapshot, Supervisor } from '../../stack/supervisor.js';
import { monitorUrl } from '../../servers/monitoring.js';
import { loadFor } from '../context.js';
import { paint, progress, status, table } from '../output.js';
import { exitWith, type SerializedError, serializeError } from '../errors.js';

type DaemonMessage =
  | { type: 'progress'; msg: string }
  | { type: 'ready'; services: ServiceSnapshot[]; healthUrl: string | undefined }
  | { type: 'error'; error: SerializedError };

interface UpOptions {
  detach?: boolean;
  install: boolean;
  daemon?: boolean;
}

export function readyReport(config: Config, services: ServiceSnapshot[], healthUrl: string | undefined, foreground: boolean): string {
  const rows = services.map((s) => [s.name, s.version, s.address, status(s.state === 'running' ? 'running' : s.state), s.pid]);
  const lines = [table(['SERVICE', 'VERSION', 'ADDRESS', 'STATUS', 'PID'], rows), ''];
  if (healthUrl) lines.push(`health       ${healthUrl}/readyz  ${healthUrl}/metrics`);
  if (config.monitoring.enabled) {
    lines.push(`prometheus   ${monitorUrl(config, 'prometheus')}  (alerts: ${monitorUrl(config, 'alertmanager')}; login: dataplane credentials monitoring --reveal)`);
  }
  lines.push(`credentials  dataplane credentials        (add --reveal to show passwords)`);
  lines.push(`logs         dataplane logs [service] --follow`);
  lines.push(`state        ${config.stateDir}`);
  lines.push(foreground ? paint('Supervising in the foreground; Ctrl-C stops the stack.', 'dim') : 'Running in the background; `dataplane down` stops it.');
  return lines.join('\n');
}

async function runSupervisor(cmd: Command, opts: UpOptions): Promise<void> {
  const { config, environment } = loadFor(cmd);
  const paths = statePaths(config);
  // The parent may be gone (its terminal closed, its output piped into `head`): the daemon
  // must carry on starting and then supervising, so a closed channel is not an error here.
  const send = (m: DaemonMessage) => {
    if (process.connected) process.send?.(m, undefined, undefined, () => {});
  };
  const daemon = Boolean(opts.daemon);
  if (daemon) {
    // The daemon's stdout and stderr are its log file. On a full disk a write to them fails,
    // and without a listener that failure ends the process: anything that prints (a library,
    // a Node warning) would take the supervisor down with the disk (seen in the soak's disk fault).
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  }
  const logger = createLogger({
    file: paths.log('supervisor'),
    ...(daemon ? {} : { console: (line: string) => process.stderr.write(line + '\n') }),
  });
  const onProgress = daemon ? (msg: string) => send({ type: 'progress', msg }) : progress;

  let sup: Supervisor;
  try {
    const { Supervisor } = await import('../../stack/supervisor.js');
    sup = await Supervisor.start({ config, environment, logger, progress: onProgress, installPackages: opts.install });
  } catch (e) {
    if (daemon) {
      send({ type: 'error', error: serializeError(e) });
      if (process.connected) process.disconnect();
      process.exitCode = e instanceof DataplaneError ? e.exitCode : 1;
      return;
    }
    throw e;
  }

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn(`received ${sig} again; already stopping (each server gets up to ${config.supervisor.stopTimeoutMs} ms)`);
      return;
    }
    logger.info(`received ${sig}; stopping the stack`);
    void sup.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);
  // SIGHUP, as for other daemons: re-read secrets and certificates (rotation).
  process.on('SIGHUP', () => void sup.reload());

  if (daemon) {
    send({ type: 'ready', services: sup.snapshot(), healthUrl: sup.healthUrl });
    if (process.connected) process.disconnect();
  } else {
    process.stdout.write(readyReport(config, sup.snapshot(), sup.healthUrl, true) + '\n');
  }
  await sup.stopped;
  process.exitCode = 0;
}

/** Start a detached supervisor process and relay its progress until it is ready. */
async function detach(cmd: Command): Promise<void> {
  // The configuration is checked here; the declarations module by the supervisor, before it
  // creates anything (importing it here too cost every start its load time a second time).
  const { config, file } = loadFor(cmd);
  const paths = statePaths(config);
  const createdState = !existsSync(paths.root);
  mkdirSync(paths.logs, { recursive: true, mode: 0o750 });
  const out = openSync(paths.log('supervisor'), 'a', 0o640);
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  const args = [main, ...(file ? ['--config', file] : []), 'up', '--daemon', ...(cmd.opts<UpOptions>().install ? [] : ['--no-install'])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out, 'ipc'], cwd: process.cwd() });
  const outcome = await new Promise<DaemonMessage | { type: 'exit'; code: number | null }>((resolve) => {
    child.on('message', (m: DaemonMessage) => {
      if (m.type === 'progress') progress(m.msg);
      else resolve(m);
    });
    child.on('exit', (code) => resolve({ type: 'exit', code }));
  });
  child.unref();
  child.disconnect?.();
  if (outcome.type === 'ready') {
    process.stdout.write(readyReport(config, outcome.services, outcome.healthUrl, false) + '\n');
    return;
  }
  if (outcome.type === 'error') {
    // A configuration error stops the supervisor before it starts anything: a bad configuration
    // leaves no state folder behind, only the message.
    if (createdState && (outcome.error.code === 'CONFIG_INVALID' || outcome.error.code === 'USAGE')) rmSync(paths.root, { recursive: true, force: true });
    return exitWith(outcome.error);
  }
  if (outcome.type === 'exit') {
    return exitWith({ code: 'SUPERVISOR_EXITED', message: `the background supervisor exited (code ${outcome.code}) before the stack was ready`, hint: `see ${paths.log('supervisor')}`, exitCode: 1 });
  }
}

export function register(program: Command): void {
  program
    .command('up')
    .description('start PostgreSQL, Redis and NATS (tuned, authenticated) and supervise them')
    .option('-d, --detach', 'run the supervisor in the background and return once the stack is ready')
    .option('--no-install', 'do not install missing Debian packages; fail with the command to run instead')
    .addOption(new Option('--daemon', 'internal: run as the background supervisor').hideHelp())
    .action(async (opts: UpOptions, cmd: Command) => {
      if (opts.detach && !opts.daemon) await detach(cmd);
      else await runSupervisor(cmd, opts);
    });
}
