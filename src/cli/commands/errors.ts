/** `dataplane errors`: every exit code and error code, from the catalog. */
import type { Command } from 'commander';
import { ERROR_CATALOG, RESULT_EXIT_CODES, errorsMarkdown } from '../../errors/index.js';
import { printJson, table } from '../output.js';

export function register(program: Command): void {
  program
    .command('errors')
    .description('list every error code with its exit code, meaning and what to do (docs/errors.md)')
    .option('--json', 'print machine-readable JSON')
    .option('--markdown', 'print docs/errors.md')
    .action((opts: { json?: boolean; markdown?: boolean }) => {
      if (opts.markdown) return void process.stdout.write(errorsMarkdown());
      const rows = Object.entries(ERROR_CATALOG).map(([code, e]) => ({ code, ...e }));
      if (opts.json) return printJson({ exitCodes: RESULT_EXIT_CODES, errors: rows });
      process.stdout.write(table(['CODE', 'EXIT', 'MEANING'], rows.map((r) => [r.code, r.exitCode, r.meaning])) + '\n');
    });
}
