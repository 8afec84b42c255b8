import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // both cores of a 2-core CI machine: test files run two at a time (vitest's default leaves one idle)
    maxWorkers: 2,
  },
});
