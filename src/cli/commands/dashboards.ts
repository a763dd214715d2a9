/** `dataplane dashboards`: the Grafana dashboards and provisioning files, generated from code. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { printJson, progress, table } from '../output.js';

export function register(program: Command): void {
  program
    .command('dashboards')
    .description('list the Grafana dashboards, or write them with their provisioning files (--out)')
    .option('-o, --out <dir>', 'write dashboards/*.json and provisioning/ there (this repository keeps them in deploy/grafana)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nGrafana reads the folder through its provisioning; see docs/observability.md.')
    .action(async (opts: { out?: string; json?: boolean }) => {
      // The Grafana SDK is only needed here.
      const { allBoards, dashboardFiles } = await import('../../observe/dashboards/index.js');
      if (opts.out) {
        for (const f of dashboardFiles()) {
          const file = path.resolve(opts.out, f.path);
          mkdirSync(path.dirname(file), { recursive: true });
          writeFileSync(file, f.content);
          progress(`wrote ${file}`);
        }
        return;
      }
      const list = allBoards().map((b) => ({ uid: b.uid, title: b.title, panels: new Set(b.queries().map((q) => q.panel)).size, queries: b.queries().length }));
      if (opts.json) return printJson(list);
      process.stdout.write(table(['UID', 'TITLE', 'PANELS', 'QUERIES'], list.map((b) => [b.uid, b.title, b.panels, b.queries])) + '\n');
    });
}
