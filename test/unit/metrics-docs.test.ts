import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { metricsMarkdown } from '../../src/observe/docs.js';

it('docs/metrics.md lists every metric dataplane exposes and is up to date', () => {
  const committed = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const generated = metricsMarkdown();
  expect(generated).toContain('`dataplane_pg_pool_connections`');
  expect(generated).toContain('`nats_consumer_num_pending`');
  expect(committed, 'run: dataplane metrics --markdown > docs/metrics.md').toBe(generated);
});
