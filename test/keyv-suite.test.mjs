// Runs Keyv's own store test suite (@keyv/test-suite, under vitest: test/keyv/) on KeyvSlabkv, in `npm test`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from './helpers.mjs';

const repo = new URL('..', import.meta.url).pathname;
const tmp = scratch();
test.after(() => tmp.remove());

test('@keyv/test-suite passes on KeyvSlabkv: every test ran, none failed or skipped', () => {
  const report = join(tmp.dir, 'vitest.json');
  const run = spawnSync(process.execPath, [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/keyv/vitest.config.mjs', '--reporter=json', `--outputFile=${report}`],
    { cwd: repo, encoding: 'utf8' });
  const { numTotalTests, numPassedTests, numPendingTests, numTodoTests, testResults } = JSON.parse(readFileSync(report, 'utf8'));
  const failed = testResults.flatMap((file) => file.assertionResults.filter((t) => t.status !== 'passed').map((t) => `${t.fullName}: ${t.status}\n${t.failureMessages.join('\n')}`));
  assert.equal(failed, [], `${run.stdout}${run.stderr}`);
  assert.is(run.status, 0, `${run.stdout}${run.stderr}`);
  assert.is(numPendingTests + numTodoTests, 0, 'no test skipped');
  // The API, values and namespace tests (38) and the iterator tests (4), as in @keyv/test-suite 2.1.
  assert.ok(numTotalTests >= 42 && numPassedTests === numTotalTests, `${numPassedTests} of ${numTotalTests} passed`);
});

test.run();
