// Loading the package: `import` and `require` give one module instance (one registry of open stores), and loading
// it pulls in nothing it does not need at once (node:crypto is loaded only by the rare paths that use it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import slabkv, { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const require = createRequire(import.meta.url);
const tmp = scratch();
test.after(() => tmp.remove());

test('import and require give the same module: one DataStore class, one registry of open stores', () => {
  assert.is(require('slabkv'), slabkv);
  assert.is(require('slabkv').DataStore, DataStore);
  const path = tmp.file('both.slabkv');
  const viaImport = new DataStore(path);
  const viaRequire = new (require('slabkv').DataStore)(path);
  viaImport.create('a', { a: 1 });
  viaImport.close();
  assert.equal(viaRequire.read('a'), { a: 1 }, 'closing one handle leaves the other working');
  viaRequire.close();
});

test('require(\'slabkv\') in a new process loads no node:crypto', () => {
  const script = tmp.file('load.cjs');
  writeFileSync(script, `require(${JSON.stringify(require.resolve('slabkv'))});
console.log(JSON.stringify(process.moduleLoadList.filter((name) => /\\bcrypto\\b/.test(name))));\n`);
  assert.equal(JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' })), []);
});

test.run();
