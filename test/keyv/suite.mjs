// Keyv's own test suite for stores (@keyv/test-suite 2, keyv 5), run on KeyvSlabkv: its API, values and
// namespace tests, and its iterator tests.
import * as vitest from 'vitest';
import Keyv from 'keyv';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyvSlabkv } from 'slabkv/keyv';

const dir = mkdtempSync(join(tmpdir(), 'slabkv-keyv-suite-'));
const file = join(dir, 'keyv.slabkv');
const stores = [];
// The suite makes a store for each Keyv it makes: every one on the same file, as several adapters on one path.
const store = () => {
  const created = new KeyvSlabkv(file);
  stores.push(created);
  return created;
};
vitest.afterAll(async () => {
  for (const created of stores) await created.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

keyvTestSuite(vitest, Keyv, store);

// Keyv 5 wires keyv.iterator() only for the stores it names; this Keyv wires the store's iterator as Keyv does for
// those, so that the suite's iterator tests run against KeyvSlabkv.iterator(namespace).
class IteratingKeyv extends Keyv {
  constructor(...args) {
    super(...args);
    this.iterator = this.generateIterator(this.store.iterator.bind(this.store));
  }
}
keyvIteratorTests(vitest, IteratingKeyv, store);
