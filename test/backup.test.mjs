// db.backup(path) (spec section 10, "Backup"): a copy of a store in use, taken under its lock, that opens as a
// cleanly closed store holding the state of one instant; refusals that write nothing; a kill at each crash point
// leaves the store as it was and, at the target, nothing or the whole backup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, existsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataStore } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';
import { valueOf } from './backup-child.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const tmp = scratch();
test.after(() => tmp.remove());
const CHILD = fileURLToPath(new URL('./backup-child.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
let n = 0;
const fresh = () => tmp.file(`store-${n++}.slabkv`);

/** assertClosedStore checks the file's header as a last close leaves it: state 0, its checksum, run-time fields zero. */
function assertClosedStore(path) {
  const bytes = readFileSync(path);
  const { Header } = format;
  assert.is(bytes.readUInt32LE(Header.state), format.STATE_CLEAN, 'state 0');
  assert.is(bytes.readUInt32LE(Header.checksum), format.headerChecksum(bytes), 'the closed checksum');
  for (const field of ['lockWord', 'ownerPid', 'busy', 'sequence']) assert.is(bytes.readUInt32LE(Header[field]), 0, `${field} is 0`);
  assert.ok(bytes.subarray(Header.openBootId, Header.openInode + 8).every((b) => b === 0), 'no open mark');
  assert.is(bytes.readBigUInt64LE(Header.openMount), 0n, 'no open mount');
  assert.is(bytes.readBigUInt64LE(Header.lastWriteAt), 0n, 'lastWriteAt is 0');
  assert.is(bytes.readUInt32LE(Header.fileSize), bytes.length, 'fileSize is the length');
}

/** contents lists a store's entries, sorted by key. */
function contents(db) {
  return [...db.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

/** openBackup opens a backup as a user would, checks it opened without recovery and verifies clean, and returns it. */
function openBackup(path) {
  assertClosedStore(path);
  const db = new DataStore(path);
  assert.is(db.stats().recovered, null, 'opened without recovery');
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  return db;
}

test('a backup of a store in use is a cleanly closed store with the same entries and expiry times; the store goes on', () => {
  const path = fresh();
  const db = new DataStore(path);
  for (let i = 0; i < 3000; i++) db.create(`k:${i}`, valueOf(i), i % 5 === 0 ? 3600 : undefined);
  for (let i = 0; i < 3000; i += 2) db.delete(`k:${i}`); // free chunks and FREE spans
  const target = tmp.file(`backup-${n++}.slabkv`);
  db.backup(target);
  const expected = contents(db);
  const copy = openBackup(target);
  assert.equal(contents(copy), expected);
  assert.is(copy.expiresAt('k:5'), db.expiresAt('k:5'));
  assert.is(copy.stats().records, db.stats().records);
  copy.close();
  assert.is(statSync(target).mode & 0o777, statSync(path).mode & 0o777, 'the store\'s permissions');
  db.create('after', { a: 1 }); // the store is still open, and changes
  db.close();
  assert.equal(readdirSync(tmp.dir).filter((name) => name.endsWith('.backup')), [], 'no temporary file left');
});

test('a backup of a store only read so far (still state 0 on disk) has no run-time fields of the session', () => {
  const path = fresh();
  const setup = new DataStore(path);
  setup.create('a', { a: 1 });
  setup.close();
  const db = new DataStore(path);
  assert.equal(db.read('a'), { a: 1 });
  const target = tmp.file(`backup-${n++}.slabkv`);
  db.backup(target);
  db.close();
  const copy = openBackup(target);
  assert.equal(contents(copy), [['a', { a: 1 }]]);
  copy.close();
});

test('the free space of the store is given back in the backup, as a close gives it back in the store', () => {
  const path = fresh();
  const db = new DataStore(path);
  for (let i = 0; i < 4000; i++) db.create(`k:${i}`, { pad: 'z'.repeat(2000) });
  for (let i = 0; i < 4000; i++) db.delete(`k:${i}`);
  db.create('last', { a: 1 });
  const target = tmp.file(`backup-${n++}.slabkv`);
  db.backup(target);
  db.close();
  const copy = openBackup(target);
  assert.is(copy.stats().keys, 1);
  copy.close();
  // The ~8 MB freed are FREE spans and tail: punched in the backup as in the closed store.
  assert.ok(statSync(target).blocks * 512 < 2 * 1048576, `backup occupies ${statSync(target).blocks * 512} bytes`);
});

test('refused backups write nothing: a file there, the store itself, a folder, a missing folder, a bad path', () => {
  const path = fresh();
  const db = new DataStore(path);
  db.create('a', { a: 1 });
  const folder = join(tmp.dir, `refusals-${n++}`);
  mkdirSync(folder);
  const existing = join(folder, 'existing.slabkv');
  writeFileSync(existing, 'keep me');
  const link = join(folder, 'link.slabkv');
  symlinkSync(path, link);
  const before = readdirSync(folder).sort();
  assert.is(throwsCode(() => db.backup(existing), 'IO_ERROR').cause.code, 'EEXIST');
  assert.is(throwsCode(() => db.backup(path), 'IO_ERROR').cause.code, 'EEXIST');
  assert.is(throwsCode(() => db.backup(link), 'IO_ERROR').cause.code, 'EEXIST');
  throwsCode(() => db.backup(folder), 'FILE_INVALID');
  throwsCode(() => db.backup(join(folder, 'new') + '/'), 'FILE_INVALID');
  assert.is(throwsCode(() => db.backup(join(folder, 'missing', 'b.slabkv')), 'IO_ERROR').cause.code, 'ENOENT');
  throwsCode(() => db.backup(''), 'OPTION_INVALID');
  throwsCode(() => db.backup(42), 'OPTION_INVALID');
  assert.equal(readdirSync(folder).sort(), before, 'nothing made');
  assert.is(readFileSync(existing, 'utf8'), 'keep me');
  assert.equal(db.read('a'), { a: 1 });
  db.close();
  throwsCode(() => db.backup(join(folder, 'closed.slabkv')), 'STORE_CLOSED');
});

test('a backup of a store marked damaged is refused (FILE_CORRUPT) and writes nothing; after repair it is taken', () => {
  const path = fresh();
  const setup = new DataStore(path);
  for (let i = 0; i < 20; i++) setup.create(`k:${i}`, { i });
  setup.close();
  const bytes = readFileSync(path);
  let slab = format.HEADER_SIZE;
  while (bytes.readUInt32LE(slab + format.Span.kind) !== format.SPAN_RECORDS) slab += format.SLAB_SIZE * bytes.readUInt32LE(slab + format.Span.slabCount);
  bytes.writeUInt32LE(slab + format.SLAB_HEADER_SIZE, slab + format.Slab.freeHead); // the free list reaches a live record
  writeFileSync(path, bytes);
  const db = new DataStore(path);
  throwsCode(() => db.create('new', { a: 1 }), 'FILE_CORRUPT');
  const target = tmp.file(`backup-${n++}.slabkv`);
  throwsCode(() => db.backup(target), 'FILE_CORRUPT');
  assert.not.ok(existsSync(target));
  db.repair();
  db.backup(target);
  db.close();
  const copy = openBackup(target);
  assert.is(copy.count, 20);
  copy.close();
});

test('a backup from inside another call on the store is REENTRANT_CALL, not a hang', () => {
  const db = new DataStore(fresh());
  db.create('a', { a: 1 });
  const target = tmp.file(`backup-${n++}.slabkv`);
  throwsCode(() => db.verify({ onProgress: () => db.backup(target) }), 'REENTRANT_CALL');
  assert.not.ok(existsSync(target));
  db.close();
});

test('backups taken while another thread changes the store each hold the store of one instant, never half a change', async () => {
  const path = fresh();
  const db = new DataStore(path);
  for (let i = 0; i < 5000; i++) db.create(`fill:${i}`, valueOf(i)); // a copy that takes a while
  const stop = new SharedArrayBuffer(8);
  const flags = new Int32Array(stop);
  const worker = new Worker(CHILD, { workerData: { path, stop } });
  const done = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  while (Atomics.load(flags, 1) < 10) await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 1))]); // a worker that failed fails the test
  try {
    for (let b = 0; b < 8; b++) {
      const target = tmp.file(`backup-${n++}.slabkv`);
      const begun = Atomics.load(flags, 1);
      db.backup(target);
      const copy = openBackup(target);
      const keys = [...copy.keys({ prefix: 'k:' })].map((key) => Number(key.slice(2))).sort((a, b) => a - b);
      // One instant: k:i alone (after a delete), or k:i-1 and k:i (between a create and the next delete).
      assert.ok(keys.length === 1 || (keys.length === 2 && keys[1] === keys[0] + 1), `backup ${b} holds k:${keys.join(', k:')}`);
      assert.ok(keys.at(-1) >= begun - 1, 'not older than the backup');
      for (const i of keys) assert.equal(copy.read(`k:${i}`), valueOf(i));
      assert.is(copy.count, 5000 + keys.length);
      copy.close();
      await new Promise((resolve) => setTimeout(resolve, 1)); // let the writer move on
    }
  } finally {
    Atomics.store(flags, 0, 1); // a failed assertion must not leave the writer running
  }
  const { last } = await done;
  assert.ok(last >= 10);
  assert.equal([...db.keys({ prefix: 'k:' })], [`k:${last}`]);
  db.close();
});

test('backups taken while another thread runs transactions never hold part of one', async () => {
  const path = fresh();
  const db = new DataStore(path);
  for (let i = 0; i < 3000; i++) db.set(`fill:${i}`, valueOf(i));
  db.set('acct:a', { balance: 1_000_000 });
  db.set('acct:b', { balance: 0 });
  const stop = new SharedArrayBuffer(8);
  const flags = new Int32Array(stop);
  const worker = new Worker(CHILD, { workerData: { path, stop, mode: 'transfers' } });
  const done = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  while (Atomics.load(flags, 1) < 10) await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 1))]);
  try {
    for (let b = 0; b < 6; b++) {
      const target = tmp.file(`backup-${n++}.slabkv`);
      db.backup(target);
      const copy = openBackup(target);
      const [a, bb] = [copy.get('acct:a').balance, copy.get('acct:b').balance];
      assert.is(a + bb, 1_000_000, `backup ${b}: ${a} + ${bb}`);
      copy.close();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    Atomics.store(flags, 0, 1);
  }
  const { transfers } = await done;
  assert.equal([db.get('acct:a').balance, db.get('acct:b').balance], [1_000_000 - transfers, transfers]);
  db.close();
});

test('a backup from inside a transaction is REENTRANT_CALL, and the transaction goes on', () => {
  const db = new DataStore(fresh());
  const target = tmp.file(`backup-${n++}.slabkv`);
  db.transaction(() => {
    db.set('a', { a: 1 });
    throwsCode(() => db.backup(target), 'REENTRANT_CALL');
    db.set('b', { b: 1 });
  });
  assert.not.ok(existsSync(target));
  assert.equal([db.get('a'), db.get('b')], [{ a: 1 }, { b: 1 }]);
  db.close();
});

test('a kill after the copy, after sealing it, or after linking it leaves the store as it was and, at the target, nothing or the whole backup', () => {
  for (const point of ['backup.copied', 'backup.written', 'backup.placed']) {
    const path = fresh();
    const target = tmp.file(`backup-${point}.slabkv`);
    const count = 600;
    const child = spawnSync(process.execPath, [CHILD, path, target, String(count)], {
      encoding: 'utf8', env: { ...process.env, SLABKV_CRASH_POINT: point }, timeout: 60000,
    });
    assert.is(child.stderr, '', child.stderr);
    assert.is(child.signal, 'SIGKILL', `${point}: the child died at the point`);
    const events = child.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    assert.equal(events.map(({ written }) => written), [count], `${point}: killed in the backup`);
    const heap = createHash('sha256').update(readFileSync(path).subarray(format.HEADER_SIZE)).digest('hex');
    assert.is(heap, events[0].heap, `${point}: the backup wrote nothing after the store's header`);
    const expected = [];
    for (let i = 0; i < count; i++) if (i % 3 !== 0) expected.push([`k:${i}`, valueOf(i)]);
    expected.sort(([a], [b]) => (a < b ? -1 : 1));
    const db = new DataStore(path);
    // Resumed as its writer left it, or rebuilt (when the open cannot prove that nothing else wrote the file since
    // its writer's last write), as after any death of its writer: nothing lost either way.
    const { recovered } = db.stats();
    assert.ok(recovered === null || (recovered.dropped === 0 && recovered.records === expected.length), `${point}: ${JSON.stringify(recovered)}`);
    assert.equal(contents(db), expected, `${point}: the store's entries`);
    assert.ok(db.verify().ok);
    db.close();
    if (point === 'backup.placed') {
      const copy = openBackup(target);
      assert.equal(contents(copy), expected, `${point}: the backup's entries`);
      copy.close();
    } else {
      assert.not.ok(existsSync(target), `${point}: nothing at the target`);
    }
  }
});

test('slabkv backup TARGET copies a store not in use; a second time to the same target is refused (exit 23)', () => {
  const path = fresh();
  const db = new DataStore(path);
  db.create('a', { a: 1 });
  db.close();
  const target = tmp.file(`backup-${n++}.slabkv`);
  const first = spawnSync(process.execPath, [CLI, 'backup', target, '--file', path], { encoding: 'utf8' });
  assert.is(first.status, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout), { backup: target, of: path });
  const copy = openBackup(target);
  assert.equal(contents(copy), [['a', { a: 1 }]]);
  copy.close();
  const second = spawnSync(process.execPath, [CLI, 'backup', target, '--file', path], { encoding: 'utf8' });
  assert.is(second.status, 23);
  assert.match(second.stderr, /IO_ERROR.*EEXIST/);
});

test.run();
