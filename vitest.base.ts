import { defineConfig } from 'vitest/config';

/**
 * What every package's tests share. Timeouts are generous because CI has two cores and real servers
 * (PGlite's first open of a data folder, llama.cpp, Postgres) start slowly under load; no test relies on
 * them for speed (benchmarks measure speed).
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
