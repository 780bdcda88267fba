// @keyv/test-suite runs under vitest; test/keyv-suite.test.mjs runs this configuration (in `npm test`).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['*.vitest.mjs'],
    // The suite freezes the clock (timekeeper) and clears the store between tests: one test at a time.
    fileParallelism: false,
  },
});
