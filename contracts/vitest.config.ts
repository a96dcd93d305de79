import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.spec.ts', 'src/**/*.test.ts'],
    // compiles the Tolk sources once (cached in build/) before the test files run
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
  },
});
