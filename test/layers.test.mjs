// Imports flow one way: errors <- format <- table <- store <- api <- redis <- cli, and the public entry (index.ts) <-
// keyv (the Keyv store, which uses slabkv as a user does). A module may import from its own layer or a lower one;
// errors.ts and native.ts (the addon's binding) import nothing of slabkv's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const LAYERS = ['errors.ts', 'native.ts', 'format', 'table', 'store', 'api', 'redis', 'cli', 'index.ts', 'keyv'];
const rank = (file) => {
  const top = relative(SRC, file).split('/')[0];
  const at = LAYERS.indexOf(top);
  if (at < 0) throw new Error(`${top} is in no layer: add it to LAYERS`);
  return top === 'native.ts' ? 0 : at; // errors and native are both leaves
};

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('every import of src/ goes to the same layer or a lower one', () => {
  const wrong = [];
  for (const file of sources(SRC)) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = join(dirname(file), spec.replace(/\.js$/, '.ts'));
      const [from, to] = [rank(file), rank(target)];
      const leaf = from <= 1;
      if (to > from || (leaf && target !== file)) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
    }
  }
  assert.equal(wrong, []);
});

test.run();
