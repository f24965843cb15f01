import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The package's own entry points (package.json "exports"), as tool packs and examples import them.
    alias: {
      'bosun/tools': path.resolve(__dirname, 'src/sdk/tools.ts'),
      'bosun/worker': path.resolve(__dirname, 'src/worker/index.ts'),
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
