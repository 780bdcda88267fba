import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataStoreError } from 'slabkv';

/** scratch makes a temporary folder; the returned function removes it. */
export function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'slabkv-test-'));
  return { dir, file: (name = 'store.slabkv') => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** throwsCode asserts that fn throws a DataStoreError with the code, and returns it. */
export function throwsCode(fn, code) {
  try {
    fn();
  } catch (error) {
    assert.instance(error, DataStoreError, `expected a DataStoreError, got ${error}`);
    assert.is(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.unreachable(`expected ${code}, nothing was thrown`);
}

/** withClock runs fn with Date.now() shifted by offsetMs (the store reads time through Date.now). */
export function withClock(offsetMs, fn) {
  const real = Date.now;
  Date.now = () => real() + offsetMs;
  try { return fn(); } finally { Date.now = real; }
}

/** atTime runs fn with Date.now() fixed at ms. */
export function atTime(ms, fn) {
  const real = Date.now;
  Date.now = () => ms;
  try { return fn(); } finally { Date.now = real; }
}
