/** How errors reach the user: message, hint, and a stable exit code per condition. */
import { isDataplaneError } from '../errors/index.js';
import { paint } from './output.js';

export interface SerializedError {
  code: string;
  message: string;
  hint?: string | undefined;
  exitCode: number;
}

export function serializeError(e: unknown): SerializedError {
  if (isDataplaneError(e)) return { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode };
  return { code: 'INTERNAL', message: e instanceof Error ? (e.stack ?? e.message) : String(e), exitCode: 1 };
}

export function exitWith(err: SerializedError): void {
  process.stderr.write(`${paint('error:', 'red', process.stderr)} ${err.message}\n`);
  if (err.hint) process.stderr.write(`${paint('hint:', 'yellow', process.stderr)}  ${err.hint}\n`);
  process.exitCode = err.exitCode;
}
