/**
 * Supervisor event log: JSON lines in logs/supervisor.log for machines, one human
 * line per event for the terminal. Callers never pass secrets; nothing here could
 * tell them apart.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** JSON-lines file; omitted = no file. */
  file?: string;
  /** Human-readable sink, e.g. a line to stderr. */
  console?: (line: string, level: Level) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  if (opts.file) mkdirSync(path.dirname(opts.file), { recursive: true });
  const write = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    const time = new Date().toISOString();
    if (opts.file) {
      try {
        appendFileSync(opts.file, JSON.stringify({ time, level, msg, ...fields }) + '\n', { mode: 0o640 });
      } catch {
        /* a full disk must not take the supervisor down */
      }
    }
    opts.console?.(`${time.slice(11, 19)} ${level === 'info' ? '' : level.toUpperCase() + ' '}${msg}`, level);
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
