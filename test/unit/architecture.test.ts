/** docs/architecture.md shows the layers the dependency rules enforce, in their order. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';

interface Layer {
  name: string;
  folders: string[];
  owns: string;
  independent?: boolean;
}

const require = createRequire(import.meta.url);

it('docs/architecture.md lists the layers of .dependency-cruiser.cjs', () => {
  const rules = require('../../.dependency-cruiser.cjs') as { layers: Layer[]; forbidden: { name: string }[] };
  expect(rules.layers.length).toBeGreaterThan(10);
  // Every layer but the top one has its rule; every independent folder has one too.
  const names = rules.forbidden.map((r) => r.name);
  for (const l of rules.layers.slice(0, -1)) expect(names).toContain(`layer:${l.name}`);
  for (const f of rules.layers.filter((l) => l.independent).flatMap((l) => l.folders)) expect(names).toContain(`independent:${f}`);
  const table = [
    '| layer | folders | owns |',
    '| --- | --- | --- |',
    ...rules.layers.map(
      (l, i) => `| ${i + 1} | ${l.folders.map((f) => `\`src/${f}${f.endsWith('.ts') ? '' : '/'}\``).join(', ')}${l.independent ? ' (independent)' : ''} | ${l.owns} |`,
    ),
  ].join('\n');
  const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
  const block = /<!-- layers:begin[^>]*-->\n([\s\S]*?)\n<!-- layers:end -->/.exec(doc)?.[1];
  expect(block, 'replace the block between the layers markers of docs/architecture.md with this table').toBe(table);
});
