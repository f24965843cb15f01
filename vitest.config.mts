import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
    // Each end-to-end file runs its own worker process; two files at a time suit two cores.
    maxWorkers: 2,
  },
});
