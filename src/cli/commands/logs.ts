/** `dataplane logs [service] [--follow]`: server and supervisor logs from the state dir. */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Argument, Option, type Command } from 'commander';
import { statePaths, type LogName } from '../../config/paths.js';
import { MONITORS, SERVICES } from '../../config/schema.js';
import { wholeNumber } from '../arguments.js';
import { tailFile } from '../../lib/process.js';
import { loadFor } from '../context.js';
import { paint } from '../output.js';

const LOGS: LogName[] = ['supervisor', ...SERVICES, ...MONITORS];

/** Supervisor lines are JSON for machines; show them as "time level message". */
function humanize(name: LogName, line: string): string {
  if (name !== 'supervisor' || !line.startsWith('{')) return line;
  try {
    const { time, level, msg } = JSON.parse(line) as { time: string; level: string; msg: string };
    return `${time} ${level === 'info' ? '' : level.toUpperCase() + ' '}${msg}`;
  } catch {
    return line;
  }
}

function emit(name: LogName, text: string, prefix: boolean): void {
  for (const line of text.split('\n')) {
    if (!line) continue;
    process.stdout.write(`${prefix ? paint(`${name.padEnd(10)}| `, 'dim') : ''}${humanize(name, line)}\n`);
  }
}

/**
 * Poll the files for growth. Hand-written (no tail library): a few lines with
 * statSync, and a truncated or replaced file is simply read again from the start.
 */
async function follow(files: { name: LogName; file: string }[], prefix: boolean, signal: AbortSignal): Promise<void> {
  const offsets = new Map(files.map((f) => [f.file, existsSync(f.file) ? statSync(f.file).size : 0]));
  const partial = new Map<string, string>();
  while (!signal.aborted) {
    for (const { name, file } of files) {
      if (!existsSync(file)) continue;
      const size = statSync(file).size;
      let from = offsets.get(file) ?? 0;
      if (size < from) from = 0;
      if (size === from) continue;
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      closeSync(fd);
      offsets.set(file, size);
      const text = (partial.get(file) ?? '') + buf.toString('utf8');
      const cut = text.lastIndexOf('\n');
      partial.set(file, text.slice(cut + 1));
      emit(name, text.slice(0, cut + 1), prefix);
    }
    await sleep(250, undefined, { signal }).catch(() => {});
  }
}

export function register(program: Command): void {
  program
    .command('logs')
    .addArgument(new Argument('[service]', 'the log to show (default: all)').choices(LOGS))
    .description('print the last lines of server logs; --follow keeps printing new lines')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .addOption(new Option('-n, --lines <n>', 'lines to show from the end of each log').argParser(wholeNumber(0)).default(50))
    .action(async (service: LogName | undefined, opts: { follow?: boolean; lines: number }, cmd: Command) => {
      const lines = opts.lines;
      const { config } = loadFor(cmd);
      const paths = statePaths(config);
      const names = service ? [service] : LOGS;
      const files = names.map((name) => ({ name, file: paths.log(name) }));
      const prefix = names.length > 1;
      for (const { name, file } of files) {
        if (!existsSync(file)) {
          if (service) process.stderr.write(`no log yet at ${file}\n`);
          continue;
        }
        emit(name, tailFile(file, lines), prefix);
      }
      if (opts.follow) {
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        process.once('SIGTERM', () => ac.abort());
        await follow(files, prefix, ac.signal);
      }
    });
}
