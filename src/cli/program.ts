/**
 * The commander program with dataplane's handling of usage errors: every bad
 * argument or option, commander's own and ours (UsageError), prints the message and
 * the command's usage line and exits with the catalog's USAGE exit code (2), where
 * commander alone would exit 1 and print no usage.
 */
import { Command } from 'commander';
import { ERROR_CATALOG } from '../errors/index.js';

export const USAGE_EXIT = ERROR_CATALOG.USAGE.exitCode;

/** `Usage: dataplane backup prune [options]` for any command. */
export function usageLine(cmd: Command): string {
  return `Usage: ${cmd.createHelp().commandUsage(cmd)}\n(add --help for the description of every option)`;
}

export class DataplaneCommand extends Command {
  override createCommand(name?: string): DataplaneCommand {
    return new DataplaneCommand(name);
  }

  override error(message: string, errorOptions?: { code?: string; exitCode?: number }): never {
    this.showHelpAfterError(usageLine(this));
    return super.error(message, { ...errorOptions, exitCode: USAGE_EXIT });
  }
}
