/** Run the built `dataplane` CLI against a temporary project folder with free ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePorts } from '../../src/lib/ports.js';
import { haPortBlocks, testMonitoring } from '../../src/stack/ephemeral.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Project {
  dir: string;
  stateDir: string;
  ports: { postgres: number; redis: number; redisTls: number; nats: number; natsMonitor: number; health: number; prometheus: number; alertmanager: number };
  config: Record<string, unknown>;
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** Start a long-running CLI process (foreground `up`, `logs --follow`). */
  spawn(args: string[], opts?: { env?: Record<string, string> }): ChildProcess;
  cleanup(): Promise<void>;
}

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // No DATAPLANE_* from the outer environment leaks into a test project.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DATAPLANE_')));
  // …except this worker's port slice (test/helpers/worker-ports.ts).
  const ports = process.env.DATAPLANE_EPHEMERAL_PORTS;
  return { ...env, NO_COLOR: '1', ...(ports ? { DATAPLANE_EPHEMERAL_PORTS: ports } : {}), ...extra };
}

export function runCli(args: string[], cwd: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dataplane ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A project folder with dataplane.config.yaml on free loopback ports. */
export async function tempProject(extra: Record<string, unknown> = {}): Promise<Project> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-cli-'));
  const [pg, redis, redisTls, nats, natsMonitor, health, prom, am, nodeExp, pgExp, redisExp] = await freePorts(11);
  const config: Record<string, unknown> = {
    resources: { memory: '1gb' },
    supervisor: { restartDelayMs: 100 },
    postgres: { port: pg },
    redis: { port: redis, tlsPort: redisTls },
    nats: { port: nats, monitorPort: natsMonitor },
    health: { port: health },
    backup: { intervalHours: 0 },
    monitoring: testMonitoring([prom!, am!, nodeExp!, pgExp!, redisExp!]),
  };
  if (extra.topology === 'ha') {
    // Nodes of a kind take consecutive ports from their base port.
    const blocks = await haPortBlocks(extra);
    config.nats = { ...(config.nats as object), ...blocks.nats };
    config.redis = { ...(config.redis as object), ...blocks.redis };
    config.postgres = { ...(config.postgres as object), ...blocks.postgres };
  }
  for (const [k, v] of Object.entries(extra)) {
    const base = config[k];
    config[k] = base && typeof base === 'object' && v && typeof v === 'object' && !Array.isArray(v) ? { ...base, ...v } : v;
  }
  writeFileSync(path.join(dir, 'dataplane.config.yaml'), stringify(config));
  const project: Project = {
    dir,
    stateDir: path.join(dir, '.dataplane'),
    ports: { postgres: pg!, redis: redis!, redisTls: redisTls!, nats: nats!, natsMonitor: natsMonitor!, health: health!, prometheus: prom!, alertmanager: am! },
    config,
    run: (args, opts) => runCli(args, dir, opts),
    spawn: (args, opts = {}) => spawn(process.execPath, [CLI, ...args], { cwd: dir, env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] }),
    async cleanup() {
      await runCli(['down'], dir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return project;
}
