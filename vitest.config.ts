import { defineConfig } from 'vitest/config';

/**
 * `npm test`: two projects. `in-process` (unit tests and tests of the app built in the test's own
 * process) runs from source with no build step; `system` (test/system/: tests that start processes,
 * among them `node dist/…`) builds dist/ once first. Each runs only when a selected file is its own,
 * so `npx vitest run test/modules/tasks` builds nothing. The scale-out test needs nginx and runs on
 * its own: `npm run test:cluster`.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'in-process',
          include: ['test/**/*.test.ts'],
          exclude: ['test/system/**', 'test/scale-out/**', '**/node_modules/**'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          globalSetup: ['test/system/build.ts', 'test/global-setup.ts'],
        },
      },
    ],
  },
});
