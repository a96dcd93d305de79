import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../vitest.base.ts';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['tests/**/*.spec.ts', 'src/**/*.test.ts'],
      // compiles the Tolk sources once (cached in build/) before the test files run
      globalSetup: ['tests/global-setup.ts'],
    },
  }),
);
