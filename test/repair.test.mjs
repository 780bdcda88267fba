// Repair of a file that a plain open refuses (spec section 10, "Repair"): a damaged header, a file cut short.
// Every record whose bytes are still whole comes back; a file that is not a store of this version is refused
// unchanged; a kill in the middle of a repair leaves a file that is refused, or recovered, never one that has lost
// records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const { Header, HEADER_SIZE, SLAB_SIZE } = format;
const tmp = scratch();
test.after(() => tmp.remove());
const CHILD = fileURLToPath(new URL('./lifecycle-child.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));

const COUNT = 3000;
// Values from 20 to about 3,000 bytes: records of many size classes, in spans of 1 to 8 slabs.
const valueOf = (i) => ({ i, pad: 'y'.repeat((i * 7919) % 3000) });

/** makeStore writes COUNT keys, deletes every seventh (free chunks, maybe free spans), closes; returns the live keys. */
function makeStore(name) {
  const path = tmp.file(name);
  const db = new DataStore(path);
  for (let i = 0; i < COUNT; i++) db.create(`k:${i}`, valueOf(i));
  const live = new Set();
  for (let i = 0; i < COUNT; i++) {
    if (i % 7 === 0) db.delete(`k:${i}`);
    else live.add(i);
  }
  db.close();
  return { path, live };
}

function patchU32(path, offset, value) {
  const bytes = readFileSync(path);
  bytes.writeUInt32LE(value, offset);
  writeFileSync(path, bytes);
}

/** refusedUnchanged asserts that a plain open throws FILE_CORRUPT and writes nothing. */
function refusedUnchanged(path, what) {
  const before = readFileSync(path);
  throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
  assert.ok(readFileSync(path).equals(before), `${what}: a refused open wrote nothing`);
}

/** assertHolds asserts that exactly the expected keys are in the store, with their values, and verify passes. */
function assertHolds(db, expected, what) {
  for (let i = 0; i < COUNT; i++) {
    if (expected.has(i)) assert.equal(db.read(`k:${i}`), valueOf(i), `${what}: k:${i}`);
    else assert.not.ok(db.has(`k:${i}`), `${what}: k:${i} is not there`);
  }
  const report = db.verify();
  assert.ok(report.ok, `${what}: ${report.problems.join('; ')}`);
  assert.is(report.keys, expected.size, `${what}: verify counts the keys`);
}

/** reopensClean closes db and checks that a plain open takes the file again and finds the same keys. */
function reopensClean(db, path, expected, what) {
  db.close();
  const bytes = readFileSync(path);
  assert.is(bytes.readUInt32LE(Header.state), format.STATE_CLEAN, `${what}: closed cleanly`);
  assert.is(bytes.readUInt32LE(Header.checksum), format.headerChecksum(bytes), `${what}: header checksum`);
  const again = new DataStore(path);
  assert.is(again.stats().keys, expected.size, `${what}: the plain open after repair`);
  again.close();
}

test('a clean file with a damaged header is refused until repair, which keeps every record', () => {
  const damages = {
    // A counter: only the checksum tells.
    recordCount: (path) => patchU32(path, Header.recordCount, 12345),
    // heapEnd set back to the first slab: the records past it must not be lost.
    heapEnd: (path) => patchU32(path, Header.heapEnd, HEADER_SIZE),
    // heapEnd not a slab boundary.
    'heapEnd unaligned': (path) => patchU32(path, Header.heapEnd, HEADER_SIZE + 123),
    fileSize: (path) => patchU32(path, Header.fileSize, 7),
    // A fixed field and the class table: constants of the version, written anew.
    slabSize: (path) => patchU32(path, Header.slabSize, 4096),
    'class table': (path) => patchU32(path, Header.classTable + 5 * format.CLASS_ENTRY_SIZE, 1),
    state: (path) => patchU32(path, Header.state, 9),
    'bucket array offset': (path) => patchU32(path, Header.tableOffset, HEADER_SIZE + 3 * SLAB_SIZE),
  };
  for (const [what, damage] of Object.entries(damages)) {
    const { path, live } = makeStore(`header-${what.replace(/ /g, '-')}.slabkv`);
    damage(path);
    refusedUnchanged(path, what);
    const db = new DataStore(path, { repair: true });
    const report = db.stats().recovered;
    assert.ok(report !== null, `${what}: the report is in stats().recovered`);
    assert.is(report.records, live.size, `${what}: every record found`);
    assert.is(report.dropped, 0, `${what}: none dropped`);
    assertHolds(db, live, what);
    db.create('after', { repaired: what });
    reopensClean(db, path, new Set([...live, 'after']), what);
  }
});

/** wholeRecords lists, from the file's bytes, the keys whose records lie wholly below `end` (spec sections 5 and 6). */
function wholeRecords(bytes, end) {
  const words = format.wordsOf(bytes);
  const heapEnd = bytes.readUInt32LE(Header.heapEnd);
  const keys = new Set();
  for (let span = HEADER_SIZE; span < heapEnd; span += format.spanSlabCount(words, span) * SLAB_SIZE) {
    if (format.spanKind(words, span) !== format.SPAN_RECORDS) continue;
    const sizeClass = format.spanParam(words, span);
    for (let i = 0; i < format.chunksPerSpan(sizeClass); i++) {
      const chunk = format.chunkAt(span, sizeClass, i);
      if (!format.isSoundRecord(words, bytes, chunk, span, sizeClass)) continue;
      const size = format.recordSize(format.keyLength(words, chunk), format.valueLength(words, chunk));
      const key = bytes.toString('utf8', format.keyStart(chunk), format.keyStart(chunk) + format.keyLength(words, chunk));
      if (chunk + size <= end) keys.add(Number(key.slice(2)));
    }
  }
  return keys;
}

test('a clean file cut short is repaired: its length comes back, every record wholly before the cut is kept', () => {
  for (const [what, cutAt] of [['at a slab boundary', (heapEnd) => heapEnd - 3 * SLAB_SIZE], ['inside a slab', (heapEnd) => heapEnd - 2 * SLAB_SIZE - 1000], ['inside the header', () => HEADER_SIZE - 100]]) {
    const { path, live } = makeStore(`cut-${what.replace(/ /g, '-')}.slabkv`);
    const original = readFileSync(path);
    const heapEnd = original.readUInt32LE(Header.heapEnd);
    const cut = cutAt(heapEnd);
    const expected = cut < HEADER_SIZE ? null : wholeRecords(original, cut);
    truncateSync(path, cut);
    if (cut < HEADER_SIZE) {
      // Shorter than its header: nothing to repair from.
      const before = readFileSync(path);
      throwsCode(() => new DataStore(path, { repair: true }), 'FILE_CORRUPT');
      assert.ok(readFileSync(path).equals(before), `${what}: a refused repair writes nothing`);
      continue;
    }
    assert.ok(expected.size > 0 && expected.size < live.size, `${what}: the cut takes some records (${expected.size} of ${live.size} left)`);
    refusedUnchanged(path, what);
    const db = new DataStore(path, { repair: true });
    assert.is(statSync(path).size, original.length, `${what}: the file has its length back`);
    assert.is(db.stats().recovered.records, expected.size, `${what}: the records wholly before the cut`);
    assertHolds(db, expected, what);
    reopensClean(db, path, expected, what);
  }
});

test('repair refuses, unchanged, a file that is not a store of this version, and creates no file', () => {
  const foreign = tmp.file('foreign.slabkv');
  writeFileSync(foreign, Buffer.alloc(HEADER_SIZE + SLAB_SIZE, 7));
  throwsCode(() => new DataStore(foreign, { repair: true }), 'FILE_INVALID');
  assert.ok(readFileSync(foreign).equals(Buffer.alloc(HEADER_SIZE + SLAB_SIZE, 7)), 'the foreign file is unchanged');

  const { path } = makeStore('later-version.slabkv');
  patchU32(path, Header.formatVersion, 4);
  const before = readFileSync(path);
  throwsCode(() => new DataStore(path, { repair: true }), 'FILE_INVALID');
  assert.ok(readFileSync(path).equals(before), 'a later version is unchanged');

  const missing = tmp.file('missing.slabkv');
  const cli = spawnSync(process.execPath, [CLI, 'repair', '--file', missing], { encoding: 'utf8' });
  assert.is(cli.status, 23, cli.stderr);
  assert.not.ok(existsSync(missing), 'slabkv repair creates no file');

  throwsCode(() => new DataStore(tmp.file('options.slabkv'), { repair: 'yes' }), 'OPTION_INVALID');
});

test('slabkv repair rebuilds a file whose header is damaged and prints the report', () => {
  const { path, live } = makeStore('cli.slabkv');
  patchU32(path, Header.heapEnd, HEADER_SIZE + SLAB_SIZE);
  const refused = spawnSync(process.execPath, [CLI, 'get', 'k:1', '--file', path], { encoding: 'utf8' });
  assert.is(refused.status, 21, `a plain command is refused: ${refused.stderr}`);
  const result = spawnSync(process.execPath, [CLI, 'repair', '--file', path], { encoding: 'utf8' });
  assert.is(result.status, 0, result.stderr);
  assert.is(JSON.parse(result.stdout).records, live.size);
  const db = new DataStore(path);
  assertHolds(db, live, 'after slabkv repair');
  db.close();
});

test('a repair killed at any step leaves a file that only a repair opens, or one recovered whole', () => {
  const killAt = (point, path) => {
    const env = { ...process.env, SLABKV_CRASH_POINT: point };
    const child = spawnSync(process.execPath, [CHILD, 'repair', path], { encoding: 'utf8', env, timeout: 60000 });
    assert.is(child.signal, 'SIGKILL', `the child died at ${point}: ${child.stderr}`);
  };
  const damages = {
    // heapEnd set back to the first slab: a plain recovery from it would lose records.
    heapEnd: (path) => patchU32(path, Header.heapEnd, HEADER_SIZE),
    // Cut inside its heap: given its length back, the header would check out again, with the cut-off part zeros.
    cut: (path) => truncateSync(path, readFileSync(path).readUInt32LE(Header.heapEnd) - 2 * SLAB_SIZE - 1000),
  };
  for (const [what, damage] of Object.entries(damages)) {
    for (const point of ['repair.begun', 'repair.header']) {
      const { path } = makeStore(`killed-${what}-${point}.slabkv`);
      const expected = wholeRecords(readFileSync(path), what === 'cut' ? readFileSync(path).readUInt32LE(Header.heapEnd) - 2 * SLAB_SIZE - 1000 : Infinity);
      damage(path);
      killAt(point, path);
      const bytes = readFileSync(path);
      assert.is(bytes.readUInt32LE(Header.state), format.STATE_REPAIRING, `${what}/${point}: state 2`);
      const error = throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
      assert.match(error.message, /repair/, `${what}/${point}: the error says to repair again`);
      assert.ok(readFileSync(path).equals(bytes), `${what}/${point}: a refused open wrote nothing`);
      const db = new DataStore(path, { repair: true });
      assert.is(db.stats().recovered.records, expected.size, `${what}/${point}: repaired again`);
      assertHolds(db, expected, `${what}/${point}`);
      reopensClean(db, path, expected, `${what}/${point}`);
    }
  }

  // Killed after state = 1: the next plain open recovers, from the heapEnd repair chose.
  const marked = makeStore('killed-marked.slabkv');
  patchU32(marked.path, Header.heapEnd, HEADER_SIZE + 5);
  killAt('repair.marked', marked.path);
  const recovered = new DataStore(marked.path);
  assert.is(recovered.stats().recovered.records, marked.live.size, 'the plain open recovered');
  assertHolds(recovered, marked.live, 'recovered after a kill in repair');
  recovered.close();
});

test('recovery and repair of a file left open whose heapEnd is damaged keep every record', () => {
  const path = tmp.file('left-open.slabkv');
  const child = spawnSync(process.execPath, [CHILD, 'write-close', path, '500'], { encoding: 'utf8', env: { ...process.env, SLABKV_CRASH_POINT: 'seal.flushed' }, timeout: 60000 });
  assert.is(child.signal, 'SIGKILL', child.stderr);
  const written = child.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((e) => 'created' in e).length;
  assert.is(written, 500);
  const bytes = readFileSync(path);
  assert.is(bytes.readUInt32LE(Header.state), format.STATE_OPEN);
  bytes[Header.heapEnd + 2] = 0; // a smaller heapEnd that is still a slab boundary
  for (const options of [undefined, { repair: true }]) {
    writeFileSync(path, bytes);
    const db = new DataStore(path, options);
    assert.is(db.stats().recovered.records, 500, `${JSON.stringify(options)}: every record`);
    for (let i = 0; i < 500; i++) assert.ok(db.has(`k:${i}`), `k:${i}`);
    assert.ok(db.verify().ok);
    db.close();
  }
});

test('after power loss, recovery keeps a span that a lost session took past heapEnd, though its later slab is zeros', () => {
  const path = tmp.file('lost-span.slabkv');
  let db = new DataStore(path);
  for (let i = 0; i < 50; i++) db.create(`s:${i}`, { i });
  db.close();
  const oldHeapEnd = readFileSync(path).readUInt32LE(Header.heapEnd);
  db = new DataStore(path);
  const big = (i) => ({ i, pad: 'x'.repeat(1540) }); // records of a class whose spans are 2 slabs long
  for (let i = 0; i < 10; i++) db.create(`b:${i}`, big(i));
  db.close();
  const bytes = readFileSync(path);
  const span = oldHeapEnd;
  assert.is(format.spanSlabCount(format.wordsOf(bytes), span), 2, 'the new span is 2 slabs long');
  bytes.writeUInt32LE(format.STATE_OPEN, Header.state); // the header page as it was before that session ...
  bytes.writeUInt32LE(oldHeapEnd, Header.heapEnd); // ... with the heapEnd before the span was taken
  bytes.fill(0, span + SLAB_SIZE, span + 2 * SLAB_SIZE); // the span's second slab: its pages lost
  for (const options of [undefined, { repair: true }]) {
    writeFileSync(path, bytes);
    db = new DataStore(path, options);
    for (let i = 0; i < 10; i++) assert.equal(db.read(`b:${i}`), big(i), `${JSON.stringify(options)}: b:${i}`);
    for (let i = 0; i < 50; i++) assert.equal(db.read(`s:${i}`), { i });
    assert.ok(db.verify().ok);
    for (let i = 0; i < 3000; i++) db.create(`n:${i}`, big(i)); // new spans from the tail, which must be zero
    assert.ok(db.verify().ok);
    db.close();
  }
});

test('repair of a store in use rebuilds it under the lock, like db.repair()', () => {
  const { path, live } = makeStore('in-use.slabkv');
  const first = new DataStore(path);
  assert.is(first.stats().recovered, null);
  const second = new DataStore(path, { repair: true });
  assert.is(second.stats().recovered.records, live.size);
  assertHolds(first, live, 'the first handle');
  second.close();
  first.close();
});

test.run();
