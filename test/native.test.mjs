// The addon refuses misuse with an exception, never a crash: missing or mistyped arguments, offsets past a buffer,
// and views of a mapping used after it was unmapped (they read as empty).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { scratch } from './helpers.mjs';

const native = createRequire(import.meta.url)('../build/Release/slabkv_native.node');
const tmp = scratch();
test.after(() => tmp.remove());

test('missing and mistyped arguments throw', () => {
  assert.throws(() => native.acquire(), /missing argument/);
  assert.throws(() => native.map('x', 4096), /expected a number/);
  assert.throws(() => native.allocate(0, -1, 10), /non-negative size/);
  assert.throws(() => native.view(999999, 4096), /no such mapping/);
  assert.throws(() => native.setupLeave(999999, 0, 1), /does not hold/);
  assert.equal(native.acquire('/nonexistent-folder/x')[0], 0);
});

test('every view of a mapping reads as empty once it is unmapped', () => {
  const path = tmp.file('mapped');
  writeFileSync(path, Buffer.alloc(8192, 7));
  const [lockId, , fd] = native.acquire(path);
  native.setupEnter(lockId);
  const mapping = native.map(fd, 1 << 20);
  const first = new Uint8Array(native.view(mapping, 4096));
  const second = new Uint32Array(native.view(mapping, 8192));
  assert.is(first[5], 7);
  assert.is(native.unmap(mapping), 0);
  assert.is(first.length, 0);
  assert.is(second.length, 0);
  assert.is(first[5], undefined);
  native.setupLeave(lockId, 0, 1);
});

test('a word offset past the buffer is a RangeError, even one that would wrap around', () => {
  const buffer = Buffer.alloc(64);
  assert.throws(() => native.wait(buffer, 4294967292, 0, 10), RangeError);
  assert.throws(() => native.wake(buffer, 64), RangeError);
  assert.throws(() => native.wait(buffer, 2, 0, 10), RangeError);
});

test.run();
