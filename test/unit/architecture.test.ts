/** docs/architecture.md shows the layers the dependency rules enforce, in their order. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
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

function sources(dir = new URL('../../src/', import.meta.url).pathname): { file: string; text: string }[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [{ file: path.relative(new URL('../../src/', import.meta.url).pathname, p), text: readFileSync(p, 'utf8') }] : [];
  });
}

it('only the CLI entry and the config loader read the environment; only access resolution reads secrets', () => {
  const env = sources().filter((s) => /process\.env\b(?!\s*\*)/.test(s.text.replace(/^\s*(\*|\/\/).*$/gm, '')));
  expect(env.map((s) => s.file).sort()).toEqual(['cli/main.ts', 'config/load.ts']);
  const secrets = sources().filter((s) => /\b(readSecrets|ensureSecrets)\(/.test(s.text));
  expect(secrets.map((s) => s.file).sort()).toEqual(['connect/access.ts', 'secrets/store.ts']);
});

it('no file under src/ is over 350 lines without saying at its top why', () => {
  const long = sources()
    .filter((s) => s.text.split('\n').length > 350)
    .filter((s) => !/^\/\*\*[\s\S]*?Long because[\s\S]*?\*\//.test(s.text));
  expect(long.map((s) => `${s.file}: ${s.text.split('\n').length} lines`)).toEqual([]);
});
