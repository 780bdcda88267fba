import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const tmp = scratch();
test.after(() => tmp.remove());

test('verify() reports a sound store as ok, with its key count, and changes nothing', () => {
  const path = tmp.file('verify.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 20000; i++) db.create(`v:${i}`, { i, pad: 'q'.repeat(i % 2000) }, i % 10 === 0 ? 3600 : undefined);
  for (let i = 0; i < 20000; i += 3) db.delete(`v:${i}`);
  db.flush();
  const before = readFileSync(path);
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  assert.is(report.records, db.stats().records); // keys may differ: 1-second TTLs can pass meanwhile
  // Nothing but the header's run-time fields: taking the lock notes the time in lastWriteAt (spec section 10).
  const after = readFileSync(path);
  for (const file of [before, after]) file.fill(0, format.Header.lastWriteAt, format.Header.lastWriteAt + 8);
  assert.ok(after.equals(before), 'verify wrote nothing');
  db.close();
});

test('verify() names the damage it finds', () => {
  const path = tmp.file('damaged.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 100; i++) db.create(`d:${i}`, { i });
  db.close();
  const bytes = readFileSync(path);
  const firstRecord = format.HEADER_SIZE + format.SLAB_SIZE + format.SLAB_HEADER_SIZE; // slab 1 holds the records
  assert.is(bytes.readUInt32LE(firstRecord), 1);
  bytes[firstRecord + format.Record.key + 4] ^= 0x20; // a key byte: checksum no longer holds
  writeFileSync(path, bytes);
  const again = new DataStore(path);
  const report = again.verify();
  assert.not.ok(report.ok);
  assert.ok(report.problems.some((p) => p.includes('damaged')), report.problems.join('; '));
  again.close();
});

test("durability 'always' flushes each change; bad values are OPTION_INVALID", () => {
  const db = new DataStore(tmp.file('always.slabkv'), { durability: 'always' });
  db.create('k', { a: 1 });
  db.delete('k');
  db.create('k', { a: 2 });
  assert.equal(db.read('k'), { a: 2 });
  db.close();
  for (const durability of ['sometimes', true, 1, null]) {
    throwsCode(() => new DataStore(tmp.file('opt.slabkv'), { durability }), 'OPTION_INVALID');
  }
});

// The syncs themselves, counted with strace (CI installs it and sets SLABKV_REQUIRE_STRACE=1; elsewhere a machine
// without strace says that this test did not run, and why).
test("durability 'always' syncs each change before it returns, and 'flush' none; a transaction syncs its commit if any handle that changed the store in it is 'always'", () => {
  const traced = spawnSync('strace', ['-f', '-qq', '-s', '256', '-e', 'trace=msync,write', '-e', 'signal=none', '-o', tmp.file('trace.txt'),
    process.execPath, new URL('./sync-child.mjs', import.meta.url).pathname, tmp.file('synced.slabkv')], { encoding: 'utf8' });
  if (traced.error?.code === 'ENOENT') {
    if (process.env.SLABKV_REQUIRE_STRACE === '1') throw new Error('SLABKV_REQUIRE_STRACE=1, but strace is not installed');
    console.log('the sync test did not run: strace is not installed');
    return;
  }
  assert.is(traced.status, 0, traced.stderr);
  const syncs = {};
  let step = null;
  for (const line of readFileSync(tmp.file('trace.txt'), 'utf8').split('\n')) {
    const marker = /write\(2, "@@(.*)\\n"/.exec(line);
    if (marker) step = marker[1];
    else if (step !== null && /msync\(.*MS_SYNC\) = 0/.test(line)) syncs[step] = (syncs[step] ?? 0) + 1;
  }
  assert.is(syncs['flush: create'], undefined, 'a create of a flush handle syncs nothing');
  assert.is(syncs['flush: transaction'], undefined, 'nor does its transaction');
  assert.ok(syncs['always: create'] >= 1, `a create of an always handle syncs: ${JSON.stringify(syncs)}`);
  assert.ok(syncs['always: transaction'] >= 2, `an always transaction syncs its commit step by step: ${JSON.stringify(syncs)}`);
  assert.ok(syncs["flush: transaction with a change through an 'always' handle"] >= 2, `a change through an always handle makes the transaction it joins sync its commit: ${JSON.stringify(syncs)}`);
  assert.is(syncs['flush: transaction after it'], undefined, 'the next transaction of the flush handle syncs nothing');
});

test('power loss: a crash image with its last written pages torn opens recovered, never with a wrong value', () => {
  const path = tmp.file('power.slabkv');
  const db = new DataStore(path);
  const values = new Map();
  for (let i = 0; i < 3000; i++) {
    const value = { i, pad: 'w'.repeat((i * 31) % 700) };
    db.create(`p:${i}`, value);
    values.set(`p:${i}`, JSON.stringify(value));
  }
  db.flush();
  for (let i = 3000; i < 3200; i++) {
    const value = { i, late: true };
    db.create(`p:${i}`, value);
    values.set(`p:${i}`, JSON.stringify(value));
  }
  const image = tmp.file('power-image.slabkv');
  copyFileSync(path, image); // no flush since the last 200 creates: the header says open
  db.close();
  const bytes = readFileSync(image);
  // Tear the pages that held the late records: half of each page keeps its new bytes, half is garbage.
  const torn = new Set();
  for (let i = 3000; i < 3200; i += 7) {
    const at = bytes.indexOf(Buffer.from(`p:${i}{`));
    const page = at - (at % 4096);
    if (page > format.HEADER_SIZE) torn.add(page);
  }
  for (const page of torn) for (let b = page + 2048; b < page + 4096; b++) bytes[b] = (b * 131) & 0xff;
  writeFileSync(image, bytes);
  const reopened = new DataStore(image);
  const { recovered } = reopened.stats();
  assert.ok(recovered, 'recovery ran');
  assert.ok(recovered.dropped > 0, 'torn records were dropped');
  let kept = 0;
  for (const [key, text] of values) {
    if (reopened.has(key)) { assert.is(reopened.readText(key), text, key); kept++; }
  }
  assert.ok(kept >= 3000 - recovered.dropped - 200, `${kept} kept`);
  const report = reopened.verify();
  assert.ok(report.ok, report.problems.join('; '));
  reopened.close();
});

test('power loss: a header page that reached the disk before the file\'s new length opens recovered, with every synced key', () => {
  const path = tmp.file('length.slabkv');
  const db = new DataStore(path);
  const values = new Map();
  let i = 0;
  for (; i < 2000; i++) {
    const value = { i, pad: 'l'.repeat((i * 17) % 900) };
    db.create(`l:${i}`, value);
    values.set(`l:${i}`, JSON.stringify(value));
  }
  db.flush(); // every key so far is durable, and so is the file's length
  const synced = readFileSync(path);
  const { Header } = format;
  // Grow the file, and take its heap past the old length.
  while (db.stats().heapBytes + format.HEADER_SIZE <= synced.length) db.create(`late:${i++}`, { pad: 'z'.repeat(2000) });
  // The power-loss image: the old length (the growth not committed), the header page and data pages of now.
  const image = readFileSync(path).subarray(0, synced.length);
  db.close();
  assert.ok(image.readUInt32LE(Header.fileSize) > image.length && image.readUInt32LE(Header.heapEnd) > image.length, 'the header counts on the lost length');
  assert.is(image.readUInt32LE(Header.state), 1);
  const imagePath = tmp.file('length-image.slabkv');
  writeFileSync(imagePath, image);
  const reopened = new DataStore(imagePath);
  assert.ok(reopened.stats().recovered, 'recovered');
  for (const [key, text] of values) assert.is(reopened.readText(key), text, key);
  const report = reopened.verify();
  assert.ok(report.ok, report.problems.join('; '));
  reopened.close();
});

test.run();
