/**
 * Every command of the CLI, loaded on demand, and the program built from them.
 */
import type { Command } from 'commander';
import { VERSION } from '../lib/version.js';
import { DataplaneCommand } from './program.js';

type Registrar = () => Promise<{ register(program: Command): void }>;

/**
 * Every command, in the order --help lists them, loaded on demand: a command module
 * imports its implementation (pg, ioredis, nats, zod, prom-client...), and loading all
 * of them cost every invocation about half a second, twice for `up --detach` (the CLI,
 * then the background supervisor).
 */
const COMMANDS: [string, Registrar][] = [
  ['up', () => import('./commands/up.js')],
  ['down', () => import('./commands/down.js')],
  ['status', () => import('./commands/status.js')],
  ['logs', () => import('./commands/logs.js')],
  ['credentials', () => import('./commands/credentials.js')],
  ['migrate', () => import('./commands/migrate.js')],
  ['schema', () => import('./commands/schema.js')],
  ['cache', () => import('./commands/cache.js')],
  ['streams', () => import('./commands/streams.js')],
  ['outbox', () => import('./commands/outbox.js')],
  ['postgres', () => import('./commands/postgres.js')],
  ['certs', () => import('./commands/certs.js')],
  ['backup', () => import('./commands/backup.js')],
  ['metrics', () => import('./commands/metrics.js')],
  ['dashboards', () => import('./commands/dashboards.js')],
  ['doctor', () => import('./commands/doctor.js')],
  ['soak', () => import('./commands/soak.js')],
  ['deploy', () => import('./commands/deploy.js')],
  ['config', () => import('./commands/config.js')],
  ['errors', () => import('./commands/errors.js')],
];

/** The command an argument list names (skipping global options), if it is one of ours. */
export function commandNamed(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') i++;
    else if (!a.startsWith('-')) return COMMANDS.some(([name]) => name === a) ? a : undefined;
  }
  return undefined;
}

/**
 * The program with every command, or with only `only` (the command being run: its
 * parsing and help are complete, the others are not loaded). `--version` loads none.
 */
export async function buildProgram(only?: string | null): Promise<Command> {
  const program = new DataplaneCommand('dataplane')
    .description('PostgreSQL 16, Redis 7 and NATS JetStream for an application: tuned, secured, supervised')
    .version(VERSION)
    .option('-c, --config <file>', 'config file (default: ./dataplane.config.yaml, or $DATAPLANE_CONFIG)')
    .exitOverride();
  if (only === null) return program;
  const wanted = COMMANDS.filter(([name]) => only === undefined || name === only);
  for (const m of await Promise.all(wanted.map(([, load]) => load()))) m.register(program);
  return program;
}
