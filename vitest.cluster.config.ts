import { defineConfig } from 'vitest/config';

/** `npm run test:cluster`: the scale-out test (two instances behind a real nginx), kept out of `npm test`. */
export default defineConfig({
  test: {
    include: ['test/scale-out/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
