/** `dataplane schema diagram`: the Mermaid ER diagram of the live database. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { erDiagram, replaceDiagram } from '../../postgres/diagram.js';
import { progress } from '../output.js';
import { ownerOf } from './migrate.js';

export function register(program: Command): void {
  const cmd = program.command('schema').description('describe the database schema');
  cmd
    .command('diagram')
    .description('print a Mermaid ER diagram generated from the running database')
    .option('--write <file>', 'replace the generated block of a Markdown file (e.g. docs/schema.md) instead of printing')
    .action(async (opts: { write?: string }, c: Command) => {
      const diagram = await ownerOf(c, (db) => erDiagram(db));
      if (!opts.write) return void process.stdout.write(diagram + '\n');
      writeFileSync(opts.write, replaceDiagram(readFileSync(opts.write, 'utf8'), diagram));
      progress(`updated the diagram in ${opts.write}`);
    });
}
