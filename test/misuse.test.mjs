// Misuse a real user makes (issue 11): each gets a clear DataStoreError, never a hang, a raw TypeError or silent loss.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const tmp = scratch();
let n = 0;
const fresh = (options) => new DataStore(tmp.file(`misuse-${n++}.slabkv`), options);
test.after(() => tmp.remove());

test('keys() and entries() refuse a string or an unknown option at once, before listing anything', () => {
  const db = fresh();
  db.create('tmp:1', { a: 1 });
  db.create('keep:1', { a: 1 });
  throwsCode(() => db.keys('tmp:'), 'OPTION_INVALID');
  throwsCode(() => { for (const key of db.keys('tmp:')) db.delete(key); }, 'OPTION_INVALID');
  throwsCode(() => db.keys({ prefx: 'tmp:' }), 'OPTION_INVALID');
  throwsCode(() => db.keys({ prefix: 5 }), 'OPTION_INVALID');
  throwsCode(() => db.entries('tmp:'), 'OPTION_INVALID');
  throwsCode(() => db.entries(null), 'OPTION_INVALID');
  assert.equal([...db.keys({ prefix: 'tmp:' })], ['tmp:1']);
  assert.equal([...db.keys(undefined)].sort(), ['keep:1', 'tmp:1']);
  assert.is(db.count, 2, 'nothing was deleted');
  db.close();
});

test('unknown constructor options and bad verify options are OPTION_INVALID', () => {
  throwsCode(() => new DataStore(tmp.file('opt.slabkv'), { maxSize: 5 }), 'OPTION_INVALID');
  throwsCode(() => new DataStore(tmp.file('opt.slabkv'), { durabilty: 'always' }), 'OPTION_INVALID');
  throwsCode(() => new DataStore(tmp.file('opt.slabkv'), [1]), 'OPTION_INVALID');
  const db = fresh();
  throwsCode(() => db.verify(123), 'OPTION_INVALID');
  throwsCode(() => db.verify({ onProgres: () => {} }), 'OPTION_INVALID');
  throwsCode(() => db.verify({ onProgress: 5 }), 'OPTION_INVALID');
  assert.ok(db.verify({}).ok);
  db.close();
});

test('a store call from inside verify\'s onProgress works (reads) or is REENTRANT_CALL (changes), not a hang', () => {
  const db = fresh();
  db.create('k', { a: 1 });
  let calls = 0;
  throwsCode(() => db.verify({ onProgress: () => { calls++; db.create('x', { b: 2 }); } }), 'REENTRANT_CALL');
  assert.is(calls, 1);
  assert.not.ok(db.has('x'), 'the refused create changed nothing');
  throwsCode(() => db.verify({ onProgress: () => db.close() }), 'REENTRANT_CALL');
  assert.ok(db.has('k'), 'the refused close left the store open and working');
  let read;
  assert.ok(db.verify({ onProgress: () => { read = db.read('k'); } }).ok);
  assert.equal(read, { a: 1 }, 'a read takes no lock, so it works from inside an operation');
  assert.ok(db.has('k'), 'the lock was released');
  let seen;
  const report = db.verify({ onProgress: (done, total) => { seen = [done, total]; } });
  assert.ok(report.ok);
  assert.is(seen[0], 0);
  assert.ok(seen[1] >= 1);
  // toJSON and getters of a value run before the lock is taken: calls from them work.
  db.create('j', { toJSON: () => ({ sawK: db.has('k') }) });
  assert.equal(db.read('j'), { sawK: true });
  db.close();
});

test('a revoked Proxy as a value is VALUE_INVALID, and so is a Proxy whose traps throw', () => {
  const db = fresh();
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  throwsCode(() => db.create('k', proxy), 'VALUE_INVALID');
  const hostile = new Proxy({}, { ownKeys() { throw new TypeError('no'); } });
  throwsCode(() => db.create('k', hostile), 'VALUE_INVALID');
  assert.not.ok(db.has('k'));
  db.close();
});

test('an iterator stops with STORE_CLOSED at its next step after close(), even inside a batch', () => {
  const db = fresh();
  for (let i = 0; i < 50; i++) db.create(`k:${i}`, { i });
  const keys = db.keys();
  const entries = db.entries();
  assert.ok(keys.next().value.startsWith('k:'));
  assert.ok(entries.next().value[0].startsWith('k:'));
  db.close();
  throwsCode(() => keys.next(), 'STORE_CLOSED');
  throwsCode(() => entries.next(), 'STORE_CLOSED');
});

test('create with { expiresAt } keeps that exact time; a past or malformed one is TTL_INVALID', () => {
  const db = fresh();
  const at = Date.now() + 3_600_123;
  db.create('k', { a: 1 }, { expiresAt: at });
  assert.is(db.expiresAt('k'), at);
  for (const bad of [{ expiresAt: Date.now() - 1 }, { expiresAt: 1.5 }, { expiresAt: '1' }, {}, { expiresAt: at, ttl: 5 }, [at]]) {
    throwsCode(() => db.create('j', { a: 1 }, bad), 'TTL_INVALID');
  }
  assert.not.ok(db.has('j'));
  db.close();
});

test('stats().maxFileBytes is maxFileSize rounded down to whole slabs after the header, as documented', () => {
  const db = fresh();
  assert.is(db.stats().maxFileBytes, 1_073_680_384);
  db.close();
  const small = fresh({ maxFileSize: 1_000_000 });
  assert.is(small.stats().maxFileBytes, format.HEADER_SIZE + 15 * format.SLAB_SIZE);
  small.close();
});

/** damagedStore writes a cleanly closed store whose first slab's free list points at a live record. */
function damagedStore() {
  const path = tmp.file(`damaged-${n++}.slabkv`);
  const db = new DataStore(path);
  for (let i = 0; i < 20; i++) db.create(`k:${i}`, { i });
  db.close();
  const bytes = readFileSync(path);
  let slab = format.HEADER_SIZE;
  while (bytes.readUInt32LE(slab + format.Span.kind) !== format.SPAN_RECORDS) slab += format.SLAB_SIZE * bytes.readUInt32LE(slab + format.Span.slabCount);
  bytes.writeUInt32LE(slab + format.SLAB_HEADER_SIZE, slab + format.Slab.freeHead); // not in any checksum
  writeFileSync(path, bytes);
  return path;
}

test('verify counts the keys that still read when a damaged span header stops its walk', async () => {
  const path = tmp.file(`span-damage-${n++}.slabkv`);
  const db = new DataStore(path);
  for (let i = 0; i < 30; i++) db.create(`small:${i}`, { i });
  for (let i = 0; i < 30; i++) db.create(`large:${i}`, { i, pad: 'x'.repeat(2000) });
  db.create('expiring', { e: 1 }, { expiresAt: Date.now() + 1500 }); // live at the first verify, even on a busy machine
  db.close();
  const bytes = readFileSync(path);
  const recordSpans = [];
  for (let span = format.HEADER_SIZE; span < bytes.readUInt32LE(format.Header.heapEnd); span += format.SLAB_SIZE * bytes.readUInt32LE(span + format.Span.slabCount)) {
    if (bytes.readUInt32LE(span + format.Span.kind) === format.SPAN_RECORDS) recordSpans.push(span);
  }
  assert.ok(recordSpans.length >= 2, 'the two sizes of value lie in spans of their own');
  bytes[recordSpans.at(-1) + format.Span.checksum] ^= 0x01;
  writeFileSync(path, bytes);
  const damaged = new DataStore(path);
  const before = damaged.verify();
  assert.not.ok(before.ok);
  assert.is(before.details[0].kind, 'span-header');
  assert.is(before.keys, 61, 'every key still reads: keys says so (it said 0)');
  const expiresAt = damaged.expiresAt('expiring');
  while (Date.now() <= expiresAt) await new Promise((resolve) => setTimeout(resolve, expiresAt + 1 - Date.now()));
  const after = damaged.verify();
  assert.is(after.keys, 60, 'an expired key is not counted as a key');
  assert.is(after.records, 61, 'but as a record');
  for (let i = 0; i < 30; i++) assert.equal(damaged.read(`large:${i}`).i, i);
  damaged.close();
});

test('a change that meets damage is refused, and so is every later change, until repair(); nothing is rebuilt unasked', () => {
  const path = damagedStore();
  const db = new DataStore(path);
  throwsCode(() => db.create('new', { a: 1 }), 'FILE_CORRUPT');
  // Before the fix, the flag left set made this call rebuild the store silently, and it succeeded.
  throwsCode(() => db.create('new', { a: 1 }), 'FILE_CORRUPT');
  throwsCode(() => db.delete('k:1'), 'FILE_CORRUPT');
  assert.is(db.stats().recovered, null, 'no rebuild ran');
  assert.not.ok(db.verify().ok, 'the damage is still there to see');
  for (let i = 0; i < 20; i++) assert.equal(db.read(`k:${i}`), { i }, 'reads go on');
  const report = db.repair();
  assert.is(report.records, 20, 'every record whose checksum holds is kept');
  assert.is(report.dropped, 0);
  assert.ok(db.verify().ok);
  db.create('new', { a: 1 });
  db.delete('k:1');
  db.close();
  const again = new DataStore(path);
  assert.is(again.count, 20);
  assert.ok(again.verify().ok);
  again.close();
});

test('a transaction that meets damage is undone as far as the damage lets it: reads do not see what it never committed', () => {
  const path = damagedStore();
  const db = new DataStore(path);
  throwsCode(() => db.transaction(() => {
    db.delete('k:1'); // superseded, not yet freed
    db.set('k:2', { i: 'new' }); // the free list leads to a live record: FILE_CORRUPT
  }), 'FILE_CORRUPT');
  assert.equal(db.get('k:1'), { i: 1 }, 'the delete is undone');
  assert.equal(db.get('k:2'), { i: 2 });
  throwsCode(() => db.set('k:3', { i: 3 }), 'FILE_CORRUPT'); // changes are refused until repair()
  db.repair();
  assert.is(db.count, 20);
  db.close();
});

test('a damaged store closed without repair is not rebuilt on close: the next session refuses the change again', () => {
  const path = damagedStore();
  const db = new DataStore(path);
  throwsCode(() => db.create('new', { a: 1 }), 'FILE_CORRUPT');
  db.close();
  const again = new DataStore(path);
  assert.is(again.stats().recovered, null);
  throwsCode(() => again.create('new', { a: 1 }), 'FILE_CORRUPT');
  assert.equal(again.read('k:3'), { i: 3 });
  assert.is(again.repair().records, 20);
  again.create('new', { a: 1 });
  again.close();
});

test('a path that ends in a slash names a folder: FILE_INVALID, and no file is made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slabkv-slash-'));
  throwsCode(() => new DataStore(join(dir, 'x.slabkv') + '/'), 'FILE_INVALID');
  assert.equal(readdirSync(dir), []);
  rmSync(dir, { recursive: true });
});

test('a path of 4,095 bytes works; one byte more is IO_ERROR (ENAMETOOLONG), never a TypeError', () => {
  const base = mkdtempSync(join(tmpdir(), 'slabkv-long-'));
  let dir = base;
  while (dir.length < 4095 - 260) dir = join(dir, 'd'.repeat(200));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'f'.repeat(4095 - dir.length - 1));
  assert.is(Buffer.byteLength(path), 4095);
  const db = new DataStore(path);
  db.create('k', { a: 1 });
  assert.equal(db.read('k'), { a: 1 });
  db.close();
  const err = throwsCode(() => new DataStore(path + 'x'), 'IO_ERROR');
  assert.is(err.cause?.code, 'ENAMETOOLONG');
  rmSync(base, { recursive: true });
});

test.run();
