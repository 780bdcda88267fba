// The addon refuses misuse with an exception, never a crash: missing or mistyped arguments, offsets past a buffer,
// and views of a mapping used after it was unmapped (they read as empty). A failed OS call is a result, -errno, and
// changes nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
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
  assert.throws(() => native.descriptor(999999), /no such lock/);
  assert.throws(() => native.unmap(999999), /no such mapping/);
  assert.throws(() => native.sync(999999, 0, 4096), /no such mapping/);
  assert.throws(() => native.prefault(999999, 0, 4096), /no such mapping/);
  assert.throws(() => native.acquire(42), /path must be a string/);
});

const { ENOENT, EISDIR, EINVAL, EBADF } = constants.errno;

test('a failed OS call returns -errno, whatever the call', () => {
  assert.is(native.acquire('/nonexistent-folder/x'), -ENOENT);
  const folder = tmp.file('folder');
  mkdirSync(folder);
  assert.is(native.acquire(folder), -EISDIR);
  const fifo = tmp.file('fifo');
  execFileSync('mkfifo', [fifo]);
  assert.is(native.acquire(fifo), -EINVAL, 'not a regular file');
  assert.is(native.acquire(`${tmp.file('mapped')}\0tail`), -EINVAL, 'a path with a NUL names no file');
  const closed = openSync(tmp.file('closed'), 'w');
  closeSync(closed);
  assert.is(native.map(closed, 4096), -EBADF);
  assert.is(native.allocate(closed, 0, 4096), -EBADF);
  assert.is(native.punch(closed, 0, 4096), -EBADF);
});

test('a lock taken and given back: its id and descriptor, then nothing left of it', () => {
  const path = tmp.file('locked');
  writeFileSync(path, Buffer.alloc(8192));
  const lockId = native.acquire(path);
  assert.ok(lockId >= 1, `lock id ${lockId}`);
  assert.is(native.acquire(path), lockId, 'the same file: the same lock, another reference');
  assert.is(native.references(lockId), 2);
  const fd = native.descriptor(lockId);
  assert.ok(fd > 2, `descriptor ${fd}`);
  const mapping = native.map(fd, 8192);
  assert.ok(mapping >= 1, `mapping id ${mapping}`);
  assert.is(native.sync(mapping, 0, 8192), 0);
  assert.is(native.allocate(fd, 8192, 4096), 0);
  assert.is(native.unmap(mapping), 0);
  assert.throws(() => native.unmap(mapping), /no such mapping/, 'unmapped once');
  for (let i = 0; i < 2; i++) {
    native.setupEnter(lockId);
    assert.throws(() => native.setupEnter(lockId), /already holds/);
    native.setupLeave(lockId, 0, 1);
  }
  assert.is(native.references(lockId), 0);
  assert.throws(() => native.descriptor(lockId), /no such lock/);
});

test('prefault changes no byte, and a range past the end of the file is an error, not a SIGBUS', () => {
  const path = tmp.file('prefaulted');
  const content = Buffer.alloc(3 * 4096);
  for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff;
  writeFileSync(path, content);
  const lockId = native.acquire(path);
  const mapping = native.map(native.descriptor(lockId), 1 << 20);
  assert.is(native.prefault(mapping, 100, 2 * 4096), 0, 'a range inside the file, not page-aligned');
  assert.equal(Buffer.from(native.view(mapping, content.length)), content);
  // Past the file's end there is no page to make present: the call says so (-EFAULT) or, on a kernel without
  // MADV_POPULATE_WRITE, -EINVAL; the process is not killed.
  const past = native.prefault(mapping, content.length, 4096);
  assert.ok(past === -constants.errno.EFAULT || past === -EINVAL, `prefault past the end: ${past}`);
  assert.is(native.prefault(mapping, 0, 64 << 20), past, 'a length past the mapping is cut to it, and fails as past the end');
  assert.is(native.unmap(mapping), 0);
  native.setupEnter(lockId);
  native.setupLeave(lockId, 0, 1);
});

test('every view of a mapping reads as empty once it is unmapped', () => {
  const path = tmp.file('mapped');
  writeFileSync(path, Buffer.alloc(8192, 7));
  const lockId = native.acquire(path);
  native.setupEnter(lockId);
  const mapping = native.map(native.descriptor(lockId), 1 << 20);
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
