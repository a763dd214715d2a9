import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/worker-ports.ts'],
    pool: 'forks',
    // Two cores: at most two test files (each with its own real servers) at a time. The
    // three-host test (fifteen servers and a load in namespaces) runs on its own after the
    // rest: `npm test` runs it in a second vitest run, so neither starves the other.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
