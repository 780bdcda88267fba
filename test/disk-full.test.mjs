// A full disk while a store is created and while it grows: on a small ext4 file system mounted from a loop device.
// That needs root (CI runs as root); elsewhere the test says that it did not run, and why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import {
  closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { DataStore } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';

const tmp = scratch();
const mountPoint = join(tmp.dir, 'small');
let mounted = false;
let skipped = null;
try {
  if (process.getuid?.() !== 0) throw new Error('not root');
  const image = join(tmp.dir, 'small.img');
  writeFileSync(image, '');
  execFileSync('truncate', ['-s', '48M', image]); // room for a store of 16 MiB, whose growth step is 2 MiB
  execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
  mkdirSync(mountPoint);
  execFileSync('mount', ['-o', 'loop', image, mountPoint], { stdio: 'pipe' });
  mounted = true;
} catch (error) {
  skipped = `disk-full tests did not run: cannot mount a small ext4 file system (${String(error.message).split('\n')[0]})`;
}
test.after(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  tmp.remove();
});

/** fillDisk fills the small file system, then gives back about `leave` bytes; the returned function frees it all. */
function fillDisk(leave) {
  const filler = join(mountPoint, `filler-${Date.now()}`);
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (error) {
    if (error.code !== 'ENOSPC') throw error;
  }
  ftruncateSync(fd, Math.max(0, size - leave));
  fsyncSync(fd);
  closeSync(fd);
  return () => rmSync(filler);
}

const leftovers = () => readdirSync(mountPoint).filter((name) => name.endsWith('.creating'));

test('a full disk while a store is created leaves the path as it was, and usable once there is room', () => {
  if (skipped) { console.log(skipped); return; }
  const free = fillDisk(32 * 1024);
  const missing = join(mountPoint, 'new.slabkv');
  const empty = join(mountPoint, 'empty.slabkv');
  writeFileSync(empty, '');
  const err = throwsCode(() => new DataStore(missing), 'IO_ERROR');
  assert.is(err.cause?.code, 'ENOSPC', String(err.cause));
  assert.ok(!existsSync(missing) || statSync(missing).size === 0, 'no file, or an empty one, was left');
  throwsCode(() => new DataStore(empty), 'IO_ERROR');
  assert.is(statSync(empty).size, 0, 'the empty file is still empty');
  assert.equal(leftovers(), []);
  free();
  for (const path of [missing, empty]) {
    const db = new DataStore(path);
    db.create('k', { ok: true });
    db.close();
  }
  rmSync(missing);
  rmSync(empty);
});

test('a full disk while a store grows: IO_ERROR with cause.code ENOSPC, and the store goes on', () => {
  if (skipped) { console.log(skipped); return; }
  const path = join(mountPoint, 'grow.slabkv');
  const db = new DataStore(path);
  const free = fillDisk(600 * 1024);
  let written = 0;
  let err;
  try {
    for (; written < 100000; written++) db.create(`k:${written}`, { i: written, pad: 'g'.repeat(900) });
  } catch (error) {
    err = error;
  }
  assert.ok(err, 'the disk filled up');
  assert.is(err.code, 'IO_ERROR', err.message);
  assert.is(err.cause?.code, 'ENOSPC', String(err.cause));
  assert.ok(written > 0);
  assert.equal(db.read(`k:${written - 1}`), { i: written - 1, pad: 'g'.repeat(900) });
  assert.is(db.count, written);
  assert.is(db.stats().fileBytes, statSync(path).size, 'the file was cut back to the size the header records');
  free();
  db.create('after', { room: true });
  db.close();
  const again = new DataStore(path);
  assert.is(again.count, written + 1);
  assert.ok(again.verify().ok);
  again.close();
});

test('a disk without room for a growth step still gives a large store what it needs: the file grows by less', () => {
  if (skipped) { console.log(skipped); return; }
  const path = join(mountPoint, 'large.slabkv');
  const db = new DataStore(path);
  const value = (i) => ({ i, pad: 'L'.repeat(1000) });
  let written = 0;
  while (db.stats().fileBytes <= 16 * 1024 * 1024) db.create(`k:${written}`, value(written++)); // past 16 MiB: steps of 2 MiB and more
  const before = db.stats().fileBytes;
  const free = fillDisk(1024 * 1024); // less than the next step (an eighth of the file's length), more than a span
  let err;
  try {
    for (; written < 1_000_000; written++) db.create(`k:${written}`, value(written));
  } catch (error) {
    err = error;
  }
  assert.is(err?.code, 'IO_ERROR', String(err));
  assert.is(err.cause?.code, 'ENOSPC', String(err.cause));
  assert.ok(db.stats().fileBytes > before, `the file grew on the full disk (${before} to ${db.stats().fileBytes} bytes)`);
  assert.is(db.stats().fileBytes, statSync(path).size);
  assert.equal(db.read(`k:${written - 1}`), value(written - 1));
  assert.is(db.count, written);
  assert.ok(db.verify().ok);
  db.close();
  free();
  rmSync(path);
});

test.run();
