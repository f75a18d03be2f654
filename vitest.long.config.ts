import { defineConfig } from 'vitest/config';

/** `npm run test:long`: fault injection against real SpiceDB and PostgreSQL processes. */
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/long/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The suites kill and restart servers: one file at a time keeps their timings honest.
    fileParallelism: false,
    reporters: ['default'],
  },
});
