#!/usr/bin/env node
/**
 * The dataplane CLI. Commands are thin: parse, call the library, print.
 */
import { CommanderError, type Command } from 'commander';
import { exitWith, serializeError } from './errors.js';
import { allowColor } from './output.js';
import { usageLine } from './program.js';
import { buildProgram, commandNamed } from './registry.js';
import { UsageError } from '../errors/index.js';
import { choosePortsFrom } from '../lib/ports.js';

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

async function main(): Promise<void> {
  // Files the supervisor and servers create are private unless made otherwise.
  process.umask(0o077);
  // The only environment the CLI reads besides the config loader's (https://no-color.org).
  allowColor(!process.env.NO_COLOR && process.env.TERM !== 'dumb');
  const portRange = process.env.DATAPLANE_EPHEMERAL_PORTS;
  const args = process.argv.slice(2);
  const version = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
  const program = await buildProgram(version ? null : commandNamed(args));
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
