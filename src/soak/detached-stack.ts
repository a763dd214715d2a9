/**
 * The stack as production runs it: its supervisor is a process of its own (`dataplane up
 * --detach`), not part of the program that loads it. That is what lets a soak crash the
 * supervisor (SIGKILL) and start it again, as systemd would; and a throw-away stack for a
 * soak runs the same way, optionally on a small filesystem of its own that the disk
 * fault can fill without touching anyone else's disk.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { statePaths } from '../config/paths.js';
import { loadConfig } from '../config/load.js';
import { resolveAccess, type Access } from '../connect/access.js';
import { DataplaneError } from '../errors/index.js';
import { isRecordAlive, readPidFile, run } from '../lib/process.js';
import { ephemeralConfigInput } from '../stack/ephemeral.js';

/** A soak could not set up its stack or carry out a fault. */
export class SoakSetupError extends DataplaneError {
  readonly code = 'SOAK_SETUP';
}

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Run the CLI with the stack's config file; resolves when it exits 0, rejects with its output otherwise. */
function cli(configFile: string | undefined, args: string[], onOutput?: (line: string) => void): Promise<void> {
  const child = spawn(process.execPath, [MAIN, ...(configFile ? ['--config', configFile] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const take = (chunk: Buffer) => {
    output += chunk.toString();
    for (const line of chunk.toString().split('\n')) if (line.trim()) onOutput?.(line);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new SoakSetupError(`dataplane ${args.join(' ')} exited with code ${code}: ${output.trim().split('\n').slice(-5).join(' / ')}`)),
    );
  });
}

/** Crash the supervisor (SIGKILL) and start a new one with the same configuration; it takes over the servers the dead one left. */
export async function restartSupervisor(access: Access, configFile: string | undefined): Promise<void> {
  const rec = readPidFile(statePaths(access.config).pidFile('supervisor'));
  if (!rec || !isRecordAlive(rec)) throw new SoakSetupError('the stack has no running supervisor to restart');
  if (rec.pid === process.pid) throw new SoakSetupError('the supervisor runs inside this process; run the soak against `dataplane up` or with --ephemeral');
  process.kill(rec.pid, 'SIGKILL');
  await cli(configFile, ['up', '--detach']);
}

export interface DetachedStack {
  configFile: string;
  access: Access;
  stateDir: string;
  /** bytes of the filesystem of its own, when it has one */
  diskBytes?: number;
  /** Stop it and delete its folder; `keepLogsIn`: copy its logs there first (a post-mortem of the run). */
  stop(opts?: { keepLogsIn?: string }): Promise<void>;
}

/**
 * A throw-away stack under its own supervisor process: a temporary folder, free loopback
 * ports, generated secrets. With `diskBytes`, its state folder is a size-limited tmpfs.
 */
export async function startDetachedStack(opts: { topology?: 'single' | 'ha'; diskBytes?: number; onProgress?: (line: string) => void } = {}): Promise<DetachedStack> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dataplane-soak-'));
  chmodSync(root, 0o711);
  const stateDir = path.join(root, 'state');
  mkdirSync(stateDir, { mode: 0o711 });
  let mounted = false;
  const cleanup = async () => {
    if (mounted && (await run('umount', [stateDir])).code !== 0) await run('umount', ['-l', stateDir]);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    if (opts.diskBytes) {
      // Root only, as the rest of the stack's set-up; the mount is gone at stop.
      const m = await run('mount', ['-t', 'tmpfs', '-o', `size=${opts.diskBytes},mode=0711`, 'tmpfs', stateDir]);
      if (m.code !== 0) throw new SoakSetupError(`could not mount a ${opts.diskBytes}-byte tmpfs at ${stateDir}: ${m.stderr.trim()}`, { hint: 'a filesystem of its own needs root (mount); leave out --disk-size to run without the disk fault' });
      mounted = true;
    }
    const configFile = path.join(root, 'dataplane.json');
    writeFileSync(configFile, JSON.stringify(await ephemeralConfigInput(stateDir, opts.topology === 'ha' ? { config: { topology: 'ha' } } : {}), null, 2) + '\n', { mode: 0o600 });
    await cli(configFile, ['up', '--detach'], opts.onProgress);
    const access = resolveAccess(loadConfig({ file: configFile }));
    let stopping: Promise<void> | undefined;
    return {
      configFile,
      access,
      stateDir,
      ...(opts.diskBytes ? { diskBytes: opts.diskBytes } : {}),
      stop: (o = {}) =>
        (stopping ??= (async () => {
          try {
            await cli(configFile, ['down'], opts.onProgress);
          } finally {
            if (o.keepLogsIn) cpSync(statePaths(access.config).logs, o.keepLogsIn, { recursive: true });
            await cleanup();
          }
        })()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
