/** `dataplane down`: clean shutdown; nothing acknowledged is lost. */
import type { Command } from 'commander';
import { loadFor } from '../context.js';
import { progress } from '../output.js';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop the stack cleanly: PostgreSQL fast shutdown, Redis SHUTDOWN SAVE, NATS SIGTERM')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, environment } = loadFor(cmd);
      const { stopStack } = await import('../../stack/control.js');
      const outcome = await stopStack(config, progress, environment);
      if (outcome.kind === 'supervisor') process.stdout.write(`stopped the stack in ${config.stateDir}\n`);
      else if (outcome.kind === 'orphans') {
        process.stdout.write(`stopped ${outcome.stopped.map((o) => `${o.service} (pid ${o.pid})`).join(', ')}, left running by a crashed supervisor\n`);
      } else process.stdout.write(`nothing is running in ${config.stateDir}\n`);
    });
}
