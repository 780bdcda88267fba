// @keyv/test-suite runs under vitest; test/keyv-suite.test.mjs runs this configuration (in `npm test`).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    // Not named *.test.mjs: uvu runs those (npm test's pattern), and this one needs vitest.
    include: ['suite.mjs'],
  },
});
