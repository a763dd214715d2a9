#!/usr/bin/env node
/**
 * The dataplane CLI. Commands are thin: parse, call the library, print.
 */
import { CommanderError, type Command } from 'commander';
import { register as registerBackup } from './commands/backup.js';
import { register as registerCache } from './commands/cache.js';
import { register as registerCerts } from './commands/certs.js';
import { register as registerConfig } from './commands/config.js';
import { register as registerCredentials } from './commands/credentials.js';
import { register as registerDashboards } from './commands/dashboards.js';
import { register as registerDeploy } from './commands/deploy.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerDown } from './commands/down.js';
import { register as registerErrors } from './commands/errors.js';
import { register as registerLogs } from './commands/logs.js';
import { register as registerMetrics } from './commands/metrics.js';
import { register as registerMigrate } from './commands/migrate.js';
import { register as registerOutbox } from './commands/outbox.js';
import { register as registerPostgres } from './commands/postgres.js';
import { register as registerStreams } from './commands/streams.js';
import { register as registerSchema } from './commands/schema.js';
import { register as registerSoak } from './commands/soak.js';
import { register as registerStatus } from './commands/status.js';
import { register as registerUp } from './commands/up.js';
import { exitWith, serializeError } from './errors.js';
import { allowColor } from './output.js';
import { DataplaneCommand, usageLine } from './program.js';
import { UsageError } from '../errors/index.js';
import { choosePortsFrom } from '../lib/ports.js';
import { VERSION } from '../lib/version.js';

/**
 * DATAPLANE_EPHEMERAL_PORTS=low-high narrows where ephemeral stacks (soak --ephemeral,
 * restore drills) choose their loopback ports, e.g. to keep them clear of other services.
 */
function narrowEphemeralPorts(value: string | undefined): void {
  if (value === undefined || value === '') return;
  const m = /^(\d+)-(\d+)$/.exec(value);
  if (!m || Number(m[2]) - Number(m[1]) < 100 || Number(m[1]) < 1024 || Number(m[2]) > 65535) {
    throw new UsageError(`DATAPLANE_EPHEMERAL_PORTS=${value} is not a port range like 20000-30000 (within 1024-65535, at least 100 ports)`);
  }
  choosePortsFrom(Number(m[1]), Number(m[2]));
}

export function buildProgram(): Command {
  const program = new DataplaneCommand('dataplane')
    .description('PostgreSQL 16, Redis 7 and NATS JetStream for an application: tuned, secured, supervised')
    .version(VERSION)
    .option('-c, --config <file>', 'config file (default: ./dataplane.config.yaml, or $DATAPLANE_CONFIG)')
    .exitOverride();
  for (const register of [registerUp, registerDown, registerStatus, registerLogs, registerCredentials, registerMigrate, registerSchema, registerCache, registerStreams, registerOutbox, registerPostgres, registerCerts, registerBackup, registerMetrics, registerDashboards, registerDoctor, registerSoak, registerDeploy, registerConfig, registerErrors]) {
    register(program);
  }
  return program;
}

async function main(): Promise<void> {
  // Files the supervisor and servers create are private unless made otherwise.
  process.umask(0o077);
  // The only environment the CLI reads besides the config loader's (https://no-color.org).
  allowColor(!process.env.NO_COLOR && process.env.TERM !== 'dumb');
  const portRange = process.env.DATAPLANE_EPHEMERAL_PORTS;
  const program = buildProgram();
  // The command that runs, for the usage line of a UsageError its action throws.
  let active: Command = program;
  program.hook('preAction', (_program, actionCommand) => {
    active = actionCommand;
  });
  try {
    narrowEphemeralPorts(portRange);
    await program.parseAsync(process.argv);
  } catch (e) {
    // Commander printed its message (and the usage, for errors) already.
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    exitWith(serializeError(e));
    if (e instanceof UsageError) process.stderr.write(usageLine(active) + '\n');
  }
}

await main();
