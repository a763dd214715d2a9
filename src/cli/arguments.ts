/**
 * Parsers for option and argument values (and reading options a parent shares). They throw commander's own
 * InvalidArgumentError, so a bad value is reported like every other usage error:
 * the message, the command's usage, exit code 2.
 */
import { InvalidArgumentError, type Command } from 'commander';

export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}.`);
    return n;
  };
}

/** An ISO 8601 time such as 2026-11-27T10:15:00Z. */
export function isoTime(value: string): Date {
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new InvalidArgumentError('expected a time in ISO 8601, e.g. 2026-11-27T10:15:00Z.');
  return t;
}

/**
 * The subcommands' options merged with this command's: a parent such as `credentials` has a --json of its
 * own, and commander gives a --json after the subcommand's name to the parent.
 */
export function jsonOption(c: Command): { json: boolean } {
  return { json: Boolean(c.optsWithGlobals<{ json?: boolean }>().json) };
}
