import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The package's own entry points (package.json "exports"), as tool packs and examples import them
    // (paths from the project root, where the npm scripts run vitest).
    alias: {
      'bosun/tools': path.resolve('src/sdk/tools.ts'),
      'bosun/worker': path.resolve('src/worker/index.ts'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
    // Each end-to-end file runs its own worker process; two files at a time suit two cores.
    maxWorkers: 2,
  },
});
