// Holds the code to spec/FORMAT.md: its tables against src/format/layout.ts, its worked hexdump against the golden
// fixture, and an independent decoder, written from the spec's numbers alone, against the library.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import {
  COMMITTED_FIXTURE, FIXTURE, MIXED_FIXTURE, PINNED_NOW, SPANS_FIXTURE, UNCOMMITTED_FIXTURE, V1_FIXTURES, V2_FIXTURES,
  makeFixture, makeMixedFixture, makeSpansFixture, makeTransactionFixture, mixedOperations, spansOperations,
  spansOperationsV1, transactionOperations,
} from '../scripts/make-fixture.mjs';
import { scratch, throwsCode, withClock } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const spec = readFileSync(new URL('../spec/FORMAT.md', import.meta.url), 'utf8');
const tmp = scratch();
const CHILD = new URL('./child.mjs', import.meta.url).pathname;
test.after(() => tmp.remove());

/** rows of the first Markdown table after the heading, as arrays of cell texts (backticks removed). */
function table(heading) {
  const start = spec.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `spec has a section ${heading}`);
  const lines = spec.slice(start + heading.length + 2).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim().replace(/`/g, '')));
  }
  return rows;
}

/** fields maps each field name of a layout table to [offset, size]. */
function fields(heading) {
  return Object.fromEntries(table(heading).map(([offset, size, name]) => [name, [Number(offset), Number(size)]]));
}

const S = {
  constants: Object.fromEntries(table('## 3. Constants').map(([name, value]) => [name, Number(value)])),
  header: fields('### Header fields'),
  classEntry: fields('### Size-class entry'),
  classes: table('### Size classes').map(([c, size, slabs, per]) => ({ c: Number(c), size: Number(size), slabs: Number(slabs), per: Number(per) })),
  span: fields('### Span header'),
  slab: fields('### Allocation state (RECORDS spans)'),
  record: fields('### Record'),
  bucket: fields('### Bucket'),
  states: table('### Record states'),
};

test('section 5\'s span rule and section 6\'s record and expiry rules, clause by clause (slabkv/format)', () => {
  const original = readFileSync(FIXTURE);
  const w = (bytes) => format.wordsOf(bytes);
  const heapEnd = w(original)[format.Header.heapEnd / 4];
  let span = format.HEADER_SIZE;
  while (format.spanKind(w(original), span) !== format.SPAN_RECORDS) span += format.spanSlabCount(w(original), span) * format.SLAB_SIZE;
  const sizeClass = format.spanParam(w(original), span);
  let chunk = format.chunkAt(span, sizeClass, 0);
  while (format.recordState(w(original), chunk) !== 1) chunk += format.CHUNK_SIZES[sizeClass];
  const spanHolds = (bytes) => format.spanProblem(w(bytes), bytes, span, heapEnd) === null;
  const sound = (bytes) => format.isSoundRecord(w(bytes), bytes, chunk, span, sizeClass);
  assert.ok(spanHolds(original), 'the fixture\'s span holds');
  assert.ok(sound(original), 'the fixture\'s record is sound');
  /** changed: a copy with u32 fields set; the span's or the record's checksum made to match again when asked. */
  const changed = (at, values, reseal) => {
    const bytes = Buffer.from(original);
    values.forEach((value, i) => bytes.writeUInt32LE(value >>> 0, at + 4 * i));
    if (reseal === 'span') bytes.writeUInt32LE(format.spanChecksum(bytes, span), span + format.Span.checksum);
    if (reseal === 'record') {
      const words = w(bytes);
      bytes.writeUInt32LE(format.recordChecksum(bytes, chunk, format.keyLength(words, chunk), format.valueLength(words, chunk)), chunk + format.Record.checksum);
    }
    return bytes;
  };
  const slabs = format.SPAN_SLABS[sizeClass];
  // 1. its checksum matches; 2. a known kind; 3. slabCount >= 1, ending by heapEnd; 4. RECORDS: class < 41, its slab count.
  assert.not.ok(spanHolds(changed(span + format.Span.checksum, [format.spanChecksum(original, span) ^ 1])), 'checksum');
  assert.not.ok(spanHolds(changed(span + format.Span.kind, [0x12345678], 'span')), 'kind');
  assert.not.ok(spanHolds(changed(span + format.Span.slabCount, [0], 'span')), 'slabCount 0');
  assert.not.ok(spanHolds(changed(span + format.Span.slabCount, [(heapEnd - span) / format.SLAB_SIZE + 1], 'span')), 'past heapEnd');
  assert.not.ok(spanHolds(changed(span + format.Span.param, [format.CHUNK_SIZES.length], 'span')), 'class 41');
  assert.not.ok(spanHolds(changed(span + format.Span.slabCount, [slabs + 1], 'span')), 'not its class\'s slab count');
  // state 1; keyLength 1 to 128; valueLength at most 16384; fits the chunk; slabIndex; checksum.
  const lengths = (key, value) => changed(chunk + format.Record.keyLength, [key | (format.slabIndex(w(original), chunk) << 16), value], 'record');
  for (const state of [2, 3]) assert.ok(sound(changed(chunk + format.Record.state, [state])), `state ${state} holds a record`);
  for (const state of [0, 4, 0xffffffff]) assert.not.ok(sound(changed(chunk + format.Record.state, [state])), `state ${state}`);
  assert.not.ok(sound(lengths(0, 2)), 'keyLength 0');
  assert.not.ok(sound(lengths(129, 2)), 'keyLength 129');
  assert.not.ok(sound(lengths(1, 16385)), 'valueLength 16385');
  assert.not.ok(sound(lengths(1, format.CHUNK_SIZES[sizeClass] - format.RECORD_HEADER_SIZE)), 'one byte past its chunk');
  assert.ok(sound(lengths(1, format.CHUNK_SIZES[sizeClass] - format.RECORD_HEADER_SIZE - 1)), 'a record that fills its chunk exactly is sound');
  assert.not.ok(sound(changed(chunk + format.Record.keyLength, [format.keyLength(w(original), chunk) | (1 << 16)], 'record')), 'slabIndex');
  assert.not.ok(sound(changed(chunk + format.Record.checksum, [format.recordStoredChecksum(w(original), chunk) ^ 1])), 'checksum');
  // expired when the expiry time is not 0 and is <= now.
  assert.is(format.isExpired(0, Number.MAX_SAFE_INTEGER), false);
  assert.is(format.isExpired(1000, 1000), true);
  assert.is(format.isExpired(1000, 999), false);
});

test('section 6\'s table of record states is the code\'s: isStoredState, isIndexedState and isLiveState, state by state', () => {
  const yes = (cell) => ({ yes: true, no: false })[cell];
  assert.equal(S.states.map(([state]) => state), ['0', '1', '2', '3', 'any other']);
  for (const [state, name, stored, indexed, liveUncommitted, liveCommitted] of S.states) {
    const values = state === 'any other' ? [4, 5, 255, 0x80000000, 0xffffffff] : [Number(state)];
    if (state !== 'any other') assert.is(format[name], Number(state), name);
    for (const value of values) {
      assert.is(format.isStoredState(value), yes(stored), `state ${value} holds a record`);
      assert.is(format.isIndexedState(value), yes(indexed), `state ${value} in a bucket`);
      assert.is(format.isLiveState(value, false), yes(liveUncommitted), `state ${value} live with commit 0`);
      assert.is(format.isLiveState(value, true), yes(liveCommitted), `state ${value} live with commit 1`);
    }
  }
  assert.is(format.COMMIT_NONE, 0);
  assert.is(format.COMMIT_DONE, 1);
});

test('constants in the spec are the code\'s', () => {
  for (const [name, value] of Object.entries(S.constants)) assert.is(format[name], value, name);
  assert.is(Object.keys(S.constants).length, 13);
});

test('header table matches layout.Header, field by field', () => {
  assert.equal(Object.keys(S.header), Object.keys(format.Header));
  for (const [name, [offset, size]] of Object.entries(S.header)) {
    assert.is(format.Header[name], offset, name);
    const wide = { magic: format.MAGIC.length, openBootId: format.BOOT_ID_SIZE, openDevice: 8, openInode: 8, lastWriteAt: 8, openMount: 8, countedAt: 8, nextExpiry: 8, classTable: format.CHUNK_SIZES.length * format.CLASS_ENTRY_SIZE };
    const expectedSize = wide[name] ?? 4;
    assert.is(size, expectedSize, `${name} size`);
  }
  assert.ok(spec.includes(Array.from(format.MAGIC, (b) => b.toString(16).padStart(2, '0')).join(' ')), 'magic bytes');
});

test('size classes and every other structure table match the layout', () => {
  assert.equal(S.classes.map((c) => c.size), format.CHUNK_SIZES);
  assert.equal(S.classes.map((c) => c.slabs), format.SPAN_SLABS);
  for (const { c, per } of S.classes) assert.is(format.chunksPerSpan(c), per);
  // A record goes in the smallest class whose chunk holds it (section 4), every size of record from 1 byte on.
  const smallest = (size) => format.CHUNK_SIZES.findIndex((chunk) => chunk >= size);
  const wrong = [];
  for (let size = 1; size <= format.CHUNK_SIZES.at(-1); size++) if (format.classFor(size) !== smallest(size)) wrong.push(size);
  assert.equal(wrong, [], 'classFor is the smallest class that holds the record');
  for (const [heading, rows, code] of [['class entry', S.classEntry, format.ClassEntry], ['span', S.span, format.Span],
    ['slab', S.slab, format.Slab], ['record', S.record, format.Record], ['bucket', S.bucket, format.Bucket]]) {
    const listed = Object.fromEntries(Object.entries(rows).map(([name, [offset]]) => [name, offset]));
    assert.equal(listed, { ...code }, heading);
  }
  assert.is(S.record.key[0], format.RECORD_HEADER_SIZE);
});

/** hexdumps maps each fixture named after a ```hexdump fence to the lines of its block. */
function hexdumps() {
  const blocks = new Map();
  for (const [, name, body] of spec.matchAll(/```hexdump ([\w.-]+)\n([\s\S]*?)```/g)) blocks.set(name, body.trim().split('\n'));
  return blocks;
}

/** parseLine reads "00011000: 5245 4353 ..." as [address, 16 bytes]. */
function parseLine(line) {
  const [, address, hex] = /^([0-9a-f]{8}): ((?:[0-9a-f]{4} ?){8})/.exec(line);
  return [parseInt(address, 16), Buffer.from(hex.replace(/ /g, ''), 'hex')];
}

test('every hexdump of section 15 is its fixture, line by line', () => {
  const blocks = hexdumps();
  const files = {
    'committed-v3.slabkv': COMMITTED_FIXTURE, 'mixed-v3.slabkv': MIXED_FIXTURE, 'spans-v3.slabkv': SPANS_FIXTURE,
    'tiny-v3.slabkv': FIXTURE, 'uncommitted-v3.slabkv': UNCOMMITTED_FIXTURE,
  };
  assert.equal([...blocks.keys()].sort(), Object.keys(files));
  for (const [name, lines] of blocks) {
    const bytes = readFileSync(files[name]);
    assert.ok(lines.length >= 8, name);
    for (const line of lines) {
      const [address, expected] = parseLine(line);
      assert.ok(bytes.subarray(address, address + 16).equals(expected), `${name} line ${address.toString(16)}`);
    }
  }
});

test('the tiny hexdump leaves out exactly the lines its text says', () => {
  const bytes = readFileSync(FIXTURE);
  const shown = new Set(hexdumps().get('tiny-v3.slabkv').map((line) => parseLine(line)[0]));
  const chunkSize = format.CHUNK_SIZES[1];
  const firstChunk = 0x11000 + format.SLAB_HEADER_SIZE;
  for (let at = 0; at < bytes.length; at += 16) {
    const line = bytes.subarray(at, at + 16);
    if (shown.has(at)) continue;
    if (line.every((b) => b === 0)) continue;
    // Left out: the first 16 bytes of free chunks 3 to 1361, state 0 and next = the chunk's offset + 48.
    const chunk = (at - firstChunk) / chunkSize;
    assert.ok(at >= 0x11090 && at < 0x20f80 && Number.isInteger(chunk) && chunk >= 3 && chunk <= 1361, `line ${at.toString(16)} is left out`);
    assert.is(line.readUInt32LE(0), 0);
    assert.is(line.readUInt32LE(4), at + chunkSize);
    assert.ok(line.subarray(8).every((b) => b === 0));
  }
  for (const at of shown) assert.ok(!bytes.subarray(at, at + 16).every((b) => b === 0), `shown line ${at.toString(16)} is not zero`);
});

test('the fixtures are reproducible from scripts/make-fixture.mjs', () => {
  const again = tmp.file('fixture-again.slabkv');
  makeFixture(again);
  assert.ok(readFileSync(again).equals(readFileSync(FIXTURE)));
  makeMixedFixture(again);
  assert.ok(readFileSync(again).equals(readFileSync(MIXED_FIXTURE)));
  makeSpansFixture(again);
  assert.ok(readFileSync(again).equals(readFileSync(SPANS_FIXTURE)));
  makeTransactionFixture(again, false);
  assert.ok(readFileSync(again).equals(readFileSync(UNCOMMITTED_FIXTURE)), 'killed inside a transaction');
  makeTransactionFixture(again, true);
  assert.ok(readFileSync(again).equals(readFileSync(COMMITTED_FIXTURE)), 'killed at commit.marked');
});

test('the spans golden file reads exactly, through the library and through the spec alone', () => {
  const expected = new Map();
  for (const [op, key, value] of spansOperations()) {
    if (op === 'create') expected.set(key, JSON.stringify(value));
    else expected.delete(key);
  }
  assert.equal(listLive(readFileSync(SPANS_FIXTURE), PINNED_NOW), expected);
  const copy = tmp.file('spans.slabkv');
  copyFileSync(SPANS_FIXTURE, copy);
  const db = new DataStore(copy);
  for (const [key, text] of expected) assert.is(db.readText(key), text, key);
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  db.close();
});

/** mixedExpected replays the operations of mixed-v1: key -> [JSON text, expiry ms or 0]. */
function mixedExpected() {
  const expected = new Map();
  for (const [op, key, value, ttl] of mixedOperations()) {
    if (op === 'create') expected.set(key, [JSON.stringify(value), ttl ? PINNED_NOW + ttl * 1000 : 0]);
    else expected.delete(key);
  }
  return expected;
}

test('the mixed golden file, closed mid-rehash, reads exactly, through the library and through the spec alone', () => {
  const expected = mixedExpected();
  const copy = tmp.file('mixed.slabkv');
  copyFileSync(MIXED_FIXTURE, copy);
  for (const at of [PINNED_NOW + 1000, PINNED_NOW + 3_600_001, PINNED_NOW + 7_200_001]) {
    const live = [...expected].filter(([, [, expiry]]) => expiry === 0 || expiry > at);
    const decoded = listLive(readFileSync(MIXED_FIXTURE), at);
    assert.is(decoded.size, live.length);
    for (const [key, [text]] of live) assert.is(decoded.get(key), text, key);
    withClock(at - Date.now(), () => {
      const db = new DataStore(copy);
      assert.is(db.stats().rehashing, true);
      assert.is(db.count, live.length);
      for (const [key, [text]] of live) assert.is(db.readText(key), text, key);
      assert.equal(new Set(db.keys()), new Set(live.map(([key]) => key)));
      const report = db.verify();
      assert.ok(report.ok, report.problems.join('; '));
      db.close();
    });
    copyFileSync(MIXED_FIXTURE, copy); // each look starts from the golden bytes
  }
});

test('the golden fixture opens and reads exactly', () => {
  const copy = tmp.file('golden.slabkv');
  copyFileSync(FIXTURE, copy);
  const db = new DataStore(copy);
  assert.is(db.stats().recovered, null);
  assert.equal(db.read('user:1'), { name: 'Ada' });
  assert.is(db.readText('user:1'), '{"name":"Ada"}');
  assert.not.ok(db.has('session')); // expired at 2026-01-01T00:01:00Z
  withClock(PINNED_NOW - Date.now() + 59_000, () => assert.equal(db.read('session'), { user: 1 }));
  db.close();
});

/**
 * listLive decodes a store file with only the spec's numbers (section 12): walk the spans, take the sound records
 * that are live by section 6's table of record states (under the header's commit field) and have not expired,
 * each key once (the first in file order).
 */
function listLive(bytes, now) {
  const u32 = (offset) => bytes.readUInt32LE(offset);
  const C = S.constants;
  assert.ok(bytes.subarray(0, 16).equals(Buffer.from('89736c61626b760d0a1a0a0000000000', 'hex')));
  assert.is(u32(S.header.formatVersion[0]), C.FORMAT_VERSION);
  assert.is(u32(S.header.readVersion[0]), C.READ_VERSION);
  const column = u32(S.header.commit[0]) === 1 ? 5 : 4; // "Live when commit = 1", else "Live when commit = 0"
  const liveStates = new Set(S.states.filter((row) => row[0] !== 'any other' && row[column] === 'yes').map(([state]) => Number(state)));
  const heapEnd = u32(S.header.heapEnd[0]);
  const RECS = 0x53434552;
  const out = new Map();
  for (let span = C.HEADER_SIZE; span < heapEnd; span += C.SLAB_SIZE * u32(span + S.span.slabCount[0])) {
    assert.is(u32(span + S.span.checksum[0]), format.xxh32(bytes, span, span + 12), `span ${span} checksum`);
    if (u32(span + S.span.kind[0]) !== RECS) continue;
    const { size, slabs } = S.classes[u32(span + S.span.param[0])];
    assert.is(u32(span + S.span.slabCount[0]), slabs);
    for (let chunk = span + C.SLAB_HEADER_SIZE; chunk + size <= span + C.SLAB_SIZE * slabs; chunk += size) {
      if (!liveStates.has(u32(chunk + S.record.state[0]))) continue;
      if (bytes.readUInt16LE(chunk + S.record.slabIndex[0]) !== Math.floor((chunk - span) / C.SLAB_SIZE)) continue;
      const keyLength = bytes.readUInt16LE(chunk + S.record.keyLength[0]);
      const valueLength = u32(chunk + S.record.valueLength[0]);
      const end = chunk + C.RECORD_HEADER_SIZE + keyLength + valueLength;
      if (u32(chunk + S.record.checksum[0]) !== format.xxh32(bytes, chunk + S.record.expiresLow[0], end)) continue;
      const expires = u32(chunk + S.record.expiresHigh[0]) * 2 ** 32 + u32(chunk + S.record.expiresLow[0]);
      if (expires !== 0 && expires <= now) continue;
      const keyStart = chunk + C.RECORD_HEADER_SIZE;
      const key = bytes.toString('utf8', keyStart, keyStart + keyLength);
      if (!out.has(key)) out.set(key, bytes.toString('utf8', keyStart + keyLength, end));
    }
  }
  return out;
}

test('a decoder written from the spec alone lists exactly the live keys and values', () => {
  assert.equal([...listLive(readFileSync(FIXTURE), PINNED_NOW)], [['user:1', '{"name":"Ada"}'], ['session', '{"user":1}']]);
  const path = tmp.file('decode.slabkv');
  const db = new DataStore(path);
  const expected = new Map();
  for (let i = 0; i < 30000; i++) {
    const key = i % 5 ? `key:${i}` : `ключ-😀-${i}`;
    const value = { i, text: 'é'.repeat(i % 3000) };
    db.create(key, value, i % 7 === 0 ? 1 : undefined);
    if (i % 7 !== 0) expected.set(key, JSON.stringify(value));
    if (i % 11 === 0 && i % 7 !== 0) { db.delete(key); expected.delete(key); } // a 1 s TTL may pass before a delete
  }
  db.close();
  const decoded = listLive(readFileSync(path), Date.now() + 2000); // the 1 s TTLs have passed by then
  assert.is(decoded.size, expected.size);
  for (const [key, value] of expected) assert.is(decoded.get(key), value, key);
});

const RUN_TIME_FIELDS = ['lockWord', 'ownerPid', 'busy', 'sequence', 'expiredCount', 'countedAt', 'nextExpiry'];

test('damage at each header offset the spec lists is refused with the spec\'s error, the file unchanged (version 3, and version 2 before its upgrade)', () => {
  for (const [version, fixture] of [[3, FIXTURE], [2, V2_FIXTURES.tiny]]) checkHeaderDamage(version, readFileSync(fixture));
});

function checkHeaderDamage(version, original) {
  for (const [name, [offset, size]] of Object.entries(S.header)) {
    for (const at of new Set([offset, offset + size - 1])) {
      const damaged = Buffer.from(original);
      damaged[at] ^= 0xff;
      const path = tmp.file(`hdr-v${version}-${name}-${at}.slabkv`);
      writeFileSync(path, damaged);
      if (RUN_TIME_FIELDS.includes(name)) {
        // Outside the checksum, reset by the opener: the file opens and reads.
        const db = new DataStore(path);
        assert.equal(db.read('user:1'), { name: 'Ada' });
        db.close();
        continue;
      }
      const expected = name === 'magic' || name === 'formatVersion' ? 'FILE_INVALID' : 'FILE_CORRUPT';
      throwsCode(() => new DataStore(path), expected);
      assert.ok(readFileSync(path).equals(damaged), `version ${version}: ${name}@${at} left unchanged`);
    }
  }
  // The class table too: a chunk size that is not the spec's.
  const damaged = Buffer.from(original);
  damaged[format.Header.classTable + 5 * format.CLASS_ENTRY_SIZE] ^= 0x08;
  writeFileSync(tmp.file(`class-v${version}.slabkv`), damaged);
  throwsCode(() => new DataStore(tmp.file(`class-v${version}.slabkv`)), 'FILE_CORRUPT');
  assert.ok(readFileSync(tmp.file(`class-v${version}.slabkv`)).equals(damaged), `version ${version}: class table damage left unchanged`);
}

test('a file of another format version is refused with FILE_INVALID naming the version, the file unchanged', () => {
  for (const [version, readVersion, text] of [[4, 4, 'is not readable'], [4, 3, 'may be read but not changed'], [0, 0, 'is not readable']]) {
    const other = Buffer.from(readFileSync(FIXTURE));
    other.writeUInt32LE(version, format.Header.formatVersion);
    other.writeUInt32LE(readVersion, format.Header.readVersion);
    const path = tmp.file(`version-${version}-${readVersion}.slabkv`);
    writeFileSync(path, other);
    const err = throwsCode(() => new DataStore(path), 'FILE_INVALID');
    assert.match(err.message, `format version ${version}`);
    assert.match(err.message, text);
    assert.ok(readFileSync(path).equals(other));
  }
});

test('readVersion is read only once formatVersion says the file has one; a known version with another readVersion is damage', () => {
  for (const readVersion of [format.READ_VERSION + 1, 0]) {
    const other = Buffer.from(readFileSync(FIXTURE));
    other.writeUInt32LE(readVersion, format.Header.readVersion);
    other.writeUInt32LE(format.headerChecksum(other), format.Header.checksum);
    const path = tmp.file(`read-version-${readVersion}.slabkv`);
    writeFileSync(path, other);
    throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
    assert.ok(readFileSync(path).equals(other));
  }
  // In a version 1 file the u32 at 132 is class 0's partialHead: whatever it holds, the file is read as version 1.
  const v1 = Buffer.from(readFileSync(V1_FIXTURES.tiny));
  v1.writeUInt32LE(1, format.Header.state); // the version 1 header checksum is then not looked at
  v1.writeUInt32LE(format.FORMAT_VERSION + 7, format.Header.readVersion);
  const path = tmp.file('v1-offset-132.slabkv');
  writeFileSync(path, v1);
  withClock(PINNED_NOW - Date.now(), () => {
    const db = new DataStore(path);
    assert.equal(db.read('user:1'), { name: 'Ada' });
    db.close();
  });
  // The length is checked before the version: a later version cut short inside its header is FILE_CORRUPT.
  const short = Buffer.from(readFileSync(FIXTURE).subarray(0, 1000));
  short.writeUInt32LE(format.FORMAT_VERSION + 1, format.Header.formatVersion);
  writeFileSync(tmp.file('short-later.slabkv'), short);
  throwsCode(() => new DataStore(tmp.file('short-later.slabkv')), 'FILE_CORRUPT');
});

test('the smallest file: a closed one has a slab for its bucket array; one left open with no slab is rebuilt', () => {
  const made = tmp.file('header-only-source.slabkv');
  new DataStore(made).close(); // a new store of this version: its header and one slab for its bucket array
  assert.is(readFileSync(made).length, format.HEADER_SIZE + format.SLAB_SIZE);
  const headerOnly = (state) => {
    const bytes = Buffer.from(readFileSync(made).subarray(0, format.HEADER_SIZE));
    bytes.writeUInt32LE(state, format.Header.state);
    bytes.writeUInt32LE(format.HEADER_SIZE, format.Header.fileSize);
    bytes.writeUInt32LE(format.HEADER_SIZE, format.Header.heapEnd);
    bytes.writeUInt32LE(format.headerChecksum(bytes), format.Header.checksum);
    return bytes;
  };
  const closed = headerOnly(0);
  writeFileSync(tmp.file('header-only-closed.slabkv'), closed);
  throwsCode(() => new DataStore(tmp.file('header-only-closed.slabkv')), 'FILE_CORRUPT');
  assert.ok(readFileSync(tmp.file('header-only-closed.slabkv')).equals(closed));
  writeFileSync(tmp.file('header-only-open.slabkv'), headerOnly(1));
  const db = new DataStore(tmp.file('header-only-open.slabkv'));
  assert.is(db.stats().recovered.records, 0);
  assert.is(db.stats().fileBytes, format.HEADER_SIZE + format.SLAB_SIZE);
  db.create('k', { v: 1 });
  assert.equal(db.read('k'), { v: 1 });
  db.close();
});

test('a moved marker in the current array is damage: lookups pass over it, verify reports it, the sweep refuses its change', () => {
  const home = 0x1000 + 16 + 8 * 2401; // user:1's home bucket (section 15); user:1 goes to the next one
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged.writeUInt32LE(format.BUCKET_MOVED, home);
  damaged.writeUInt32LE(0x11020, home + 8);
  damaged.writeUInt32LE(0x7d366961, home + 12);
  damaged.writeUInt32LE(format.headerChecksum(damaged), format.Header.checksum);
  const path = tmp.file('moved-current.slabkv');
  writeFileSync(path, damaged);
  const db = new DataStore(path);
  assert.equal(db.read('user:1'), { name: 'Ada' });
  const report = db.verify();
  assert.not.ok(report.ok);
  assert.is(report.problems.length, 1);
  // The sweep runs while a record has an expiry time: it looks at 8 buckets per change and reaches the marker.
  throwsCode(() => { for (let i = 0; i < 1000; i++) db.create(`t:${i}`, {}, 3600); }, 'FILE_CORRUPT');
  db.close();
});

test('the bytes from heapEnd to fileSize are zero: verify reports one that is not', () => {
  for (const byte of [0, 7]) {
    const bytes = Buffer.concat([readFileSync(FIXTURE), Buffer.alloc(format.SLAB_SIZE)]); // one slab past heapEnd
    bytes[bytes.length - 100] = byte;
    bytes.writeUInt32LE(bytes.length, format.Header.fileSize);
    bytes.writeUInt32LE(format.headerChecksum(bytes), format.Header.checksum);
    const path = tmp.file(`tail-${byte}.slabkv`);
    writeFileSync(path, bytes);
    const db = new DataStore(path);
    const report = db.verify();
    assert.is(report.ok, byte === 0, report.problems.join('; '));
    assert.is(report.problems.length, byte === 0 ? 0 : 1);
    db.close();
  }
});

test('a lookup checks the expiry time before the checksum: an expired record is absent, damaged or not', () => {
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged[0x11070] ^= 0x01; // a byte of the value of session, which expired at 2026-01-01T00:01:00Z
  const path = tmp.file('expired-damaged.slabkv');
  writeFileSync(path, damaged);
  const db = new DataStore(path);
  throwsCode(() => db.read('session'), 'KEY_NOT_FOUND');
  assert.not.ok(db.has('session'));
  withClock(PINNED_NOW - Date.now(), () => throwsCode(() => db.read('session'), 'FILE_CORRUPT'));
  db.close();
});

test('a key found twice in a closed file is damage: a lookup finds one, the listing lists both, verify reports the other', () => {
  const path = tmp.file('twice.slabkv');
  const db = new DataStore(path);
  db.create('aa1', { v: 1 });
  db.create('aa2', { v: 2 });
  db.close();
  const bytes = readFileSync(path);
  const capacity = bytes.readUInt32LE(format.Header.tableCapacity);
  const array = bytes.readUInt32LE(format.Header.tableOffset);
  for (let slot = 0; slot < capacity; slot++) {
    const bucket = array + 16 + 8 * slot;
    const record = bytes.readUInt32LE(bucket);
    if (record <= 1 || bytes.toString('utf8', record + 24, record + 27) !== 'aa2') continue;
    bytes[record + 26] = 0x31; // aa2 becomes a second record of aa1, whole: its checksum and bucket hash made to match
    bytes.writeUInt32LE(format.recordChecksum(bytes, record, 3, bytes.readUInt32LE(record + format.Record.valueLength)), record + format.Record.checksum);
    bytes.writeUInt32LE(format.xxh32(Buffer.from('aa1'), 0, 3), bucket + format.Bucket.hash);
  }
  bytes.writeUInt32LE(format.headerChecksum(bytes), format.Header.checksum);
  writeFileSync(path, bytes);
  const again = new DataStore(path);
  assert.ok(['{"v":1}', '{"v":2}'].includes(again.readText('aa1')));
  assert.equal([...again.keys()], ['aa1', 'aa1']);
  const report = again.verify();
  assert.not.ok(report.ok);
  assert.is(report.problems.length, 1);
  again.close();
});

/** upgradeAndCheck copies a version 1 golden file, opens it at `at` (which upgrades it) and checks every entry. */
function upgradeAndCheck(name, source, expected, at) {
  const path = tmp.file(`upgrade-${name}.slabkv`);
  copyFileSync(source, path);
  withClock(at - Date.now(), () => {
    const db = new DataStore(path);
    assert.is(readFileSync(path).readUInt32LE(format.Header.formatVersion), 3, `${name} upgraded`);
    assert.is(readFileSync(path).readUInt32LE(format.Header.readVersion), 3, `${name} readVersion`);
    const live = [...expected].filter(([, [, expiry]]) => expiry === 0 || expiry > at);
    assert.is(db.count, live.length, `${name} count`);
    for (const [key, [text, expiry]] of live) {
      assert.is(db.readText(key), text, key);
      assert.is(db.expiresAt(key), expiry === 0 ? null : expiry, `${key} expiry`);
    }
    const report = db.verify();
    assert.ok(report.ok, report.problems.join('; '));
    db.close();
  });
  assert.equal(readdirSync(tmp.dir).filter((f) => f.endsWith('.upgrading')), [], 'no temporary file left');
}

test('each version 1 golden file is upgraded to version 3 when opened: every key, value and expiry kept', () => {
  upgradeAndCheck('tiny', V1_FIXTURES.tiny, new Map([['user:1', ['{"name":"Ada"}', 0]], ['session', ['{"user":1}', PINNED_NOW + 60_000]]]), PINNED_NOW + 1000);
  upgradeAndCheck('mixed', V1_FIXTURES.mixed, mixedExpected(), PINNED_NOW + 1000);
  const spans = new Map();
  for (const [op, key, value] of spansOperationsV1()) {
    if (op === 'create') spans.set(key, [JSON.stringify(value), 0]);
    else spans.delete(key);
  }
  upgradeAndCheck('spans', V1_FIXTURES.spans, spans, PINNED_NOW);
});

test('a version 1 file left open (its writer died) is upgraded from its sound records; a damaged one is refused unchanged', () => {
  const open = Buffer.from(readFileSync(V1_FIXTURES.tiny));
  open.writeUInt32LE(1, format.Header.state);
  open[0x11040] ^= 0x01; // user:1 torn
  const path = tmp.file('upgrade-open.slabkv');
  writeFileSync(path, open);
  withClock(PINNED_NOW - Date.now(), () => {
    const db = new DataStore(path);
    assert.not.ok(db.has('user:1'));
    assert.equal(db.read('session'), { user: 1 });
    db.close();
  });
  const damaged = Buffer.from(readFileSync(V1_FIXTURES.tiny));
  damaged[format.Header.recordCount] ^= 0xff; // inside the version 1 header checksum
  writeFileSync(path, damaged);
  throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
  assert.ok(readFileSync(path).equals(damaged));
});

/** tinyExpected is the content of the tiny golden files: key -> [JSON text, expiry ms or 0]. */
const tinyExpected = () => new Map([['user:1', ['{"name":"Ada"}', 0]], ['session', ['{"user":1}', PINNED_NOW + 60_000]]]);

/** spansExpected is the content of the spans golden files of versions 2 and 3. */
function spansExpected() {
  const expected = new Map();
  for (const [op, key, value] of spansOperations()) {
    if (op === 'create') expected.set(key, [JSON.stringify(value), 0]);
    else expected.delete(key);
  }
  return expected;
}

/** checkEntries checks that db holds exactly the entries of `expected` that are live at `at`, with their expiry times. */
function checkEntries(db, expected, at, what) {
  const live = [...expected].filter(([, [, expiry]]) => expiry === 0 || expiry > at);
  assert.is(db.count, live.length, `${what} count`);
  for (const [key, [text, expiry]] of live) {
    assert.is(db.readText(key), text, `${what} ${key}`);
    assert.is(db.expiresAt(key), expiry === 0 ? null : expiry, `${what} ${key} expiry`);
  }
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
}

/** The bytes a version 2 file's first change rewrites: formatVersion, checksum and readVersion. */
const UPGRADED_BYTES = new Set([16, 17, 18, 19, 36, 37, 38, 39, 132, 133, 134, 135]);
/** sweepIndex, which the expiry sweep of any change moves in a store with records that expire. */
const SWEEP_BYTES = new Set([76, 77, 78, 79]);

/** changedBytes lists the offsets at which two files of one length differ. */
function changedBytes(a, b) {
  assert.is(a.length, b.length);
  const changed = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) changed.push(i);
  return changed;
}

test('each version 2 golden file opens and reads exactly without being written, and becomes version 3 in place with its first change', () => {
  const cases = [
    ['tiny', tinyExpected(), PINNED_NOW + 1000, FIXTURE],
    ['mixed', mixedExpected(), PINNED_NOW + 1000, MIXED_FIXTURE],
    ['spans', spansExpected(), PINNED_NOW, SPANS_FIXTURE],
  ];
  for (const [name, expected, at, v3] of cases) {
    const original = readFileSync(V2_FIXTURES[name]);
    const path = tmp.file(`in-place-${name}.slabkv`);
    copyFileSync(V2_FIXTURES[name], path);
    withClock(at - Date.now(), () => {
      const db = new DataStore(path);
      assert.is(db.stats().recovered, null, `${name}: opened as a clean file, not rebuilt`);
      checkEntries(db, expected, at, name);
      db.close();
    });
    assert.ok(readFileSync(path).equals(original), `${name}: an open that only reads writes nothing`);
    withClock(at - Date.now(), () => {
      const db = new DataStore(path);
      db.transaction(() => {}); // a change: the file is marked open, and made version 3
      const onDisk = readFileSync(path);
      assert.is(onDisk.readUInt32LE(format.Header.state), format.STATE_OPEN, `${name}: state 1`);
      assert.is(onDisk.readUInt32LE(format.Header.formatVersion), 3, `${name}: formatVersion 3 with the first change`);
      assert.is(onDisk.readUInt32LE(format.Header.readVersion), 3, `${name}: readVersion 3 with the first change`);
      db.close();
    });
    const upgraded = readFileSync(path);
    for (const i of changedBytes(original, upgraded)) assert.ok(UPGRADED_BYTES.has(i) || SWEEP_BYTES.has(i), `${name}: byte ${i} changed`);
    assert.is(upgraded.readUInt32LE(format.Header.checksum), format.headerChecksum(upgraded), `${name}: the closed checksum holds`);
    // The version 3 golden file, written by the same operations: the same bytes but for the sweep's cursor, and so the checksum.
    const differences = changedBytes(readFileSync(v3), upgraded);
    for (const i of differences) assert.ok(SWEEP_BYTES.has(i) || (i >= 36 && i < 40), `${name}: byte ${i} differs from the version 3 golden file`);
    if (name === 'spans') assert.equal(differences, [], 'spans, with no expiry time to sweep, is the version 3 golden file');
    withClock(at - Date.now(), () => {
      const db = new DataStore(path);
      checkEntries(db, expected, at, `${name} upgraded`);
      db.close();
    });
  }
});

test('a version 2 file that version 2 would refuse is refused, unchanged: readVersion, checksum, state 2, bucket array, heapEnd of a file left open', () => {
  const original = readFileSync(V2_FIXTURES.tiny);
  const damages = {
    readVersion: (bytes) => bytes.writeUInt32LE(3, format.Header.readVersion),
    checksum: (bytes) => bytes.writeUInt32LE(bytes.readUInt32LE(format.Header.checksum) ^ 1, format.Header.checksum),
    'state 2': (bytes) => bytes.writeUInt32LE(format.STATE_REPAIRING, format.Header.state),
    'bucket array': (bytes) => {
      bytes.writeUInt32LE(8192, format.Header.tableCapacity); // not the capacity of the TABLE span there
      bytes.writeUInt32LE(format.headerChecksum(bytes), format.Header.checksum); // version 2's checksum, matching
    },
    'heapEnd of a file left open': (bytes) => {
      bytes.writeUInt32LE(format.STATE_OPEN, format.Header.state);
      bytes.writeUInt32LE(bytes.length + format.SLAB_SIZE, format.Header.heapEnd);
    },
  };
  for (const [what, damage] of Object.entries(damages)) {
    const damaged = Buffer.from(original);
    damage(damaged);
    const path = tmp.file(`v2-refused-${what}.slabkv`);
    writeFileSync(path, damaged);
    throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
    assert.ok(readFileSync(path).equals(damaged), `${what}: unchanged`);
  }
});

test('a version 2 file left open (its writer died) is rebuilt from its records and made version 3', () => {
  const open = Buffer.from(readFileSync(V2_FIXTURES.tiny));
  open.writeUInt32LE(format.STATE_OPEN, format.Header.state);
  open.writeUInt32LE(1, format.Header.busy);
  const path = tmp.file('v2-left-open.slabkv');
  writeFileSync(path, open);
  withClock(PINNED_NOW + 1000 - Date.now(), () => {
    const db = new DataStore(path);
    assert.is(readFileSync(path).readUInt32LE(format.Header.formatVersion), 3);
    assert.is(db.stats().recovered.records, 2);
    checkEntries(db, tinyExpected(), PINNED_NOW + 1000, 'left open');
    db.close();
  });
});

test('a version 2 file\'s first change killed before and after its version fields: the next open keeps every record and leaves it version 3', () => {
  for (const [point, versionLeft] of [['mark-open.state', 2], ['change.busy', 3]]) {
    const path = tmp.file(`upgrade-killed-${point}.slabkv`);
    copyFileSync(V2_FIXTURES.tiny, path);
    const child = spawnSync(process.execPath, [CHILD, 'hold', path, 'write'], { encoding: 'utf8', env: { ...process.env, SLABKV_CRASH_POINT: point } });
    assert.is(child.signal, 'SIGKILL', `the child died at ${point}: ${child.stdout}${child.stderr}`);
    const left = readFileSync(path);
    assert.is(left.readUInt32LE(format.Header.state), format.STATE_OPEN, `${point}: state 1`);
    assert.is(left.readUInt32LE(format.Header.formatVersion), versionLeft, `${point}: version`);
    withClock(PINNED_NOW + 1000 - Date.now(), () => {
      const db = new DataStore(path);
      assert.is(db.stats().recovered.records, 2, `${point}: rebuilt`);
      checkEntries(db, tinyExpected(), PINNED_NOW + 1000, `after a kill at ${point}`);
      db.close();
    });
    assert.is(readFileSync(path).readUInt32LE(format.Header.formatVersion), 3, `${point}: version 3 after the rebuild`);
  }
});

test('a transaction cut short is undone before its commit and completed after it (the uncommitted and committed golden files)', () => {
  const before = new Map([...tinyExpected()].map(([key, [text]]) => [key, text]));
  const after = new Map(before);
  for (const [op, key, value] of transactionOperations()) {
    if (op === 'delete') after.delete(key);
    else after.set(key, JSON.stringify(value));
  }
  const at = PINNED_NOW + 1000;
  for (const [name, fixture, expected] of [['uncommitted', UNCOMMITTED_FIXTURE, before], ['committed', COMMITTED_FIXTURE, after]]) {
    const bytes = readFileSync(fixture);
    assert.is(bytes.readUInt32LE(format.Header.state), format.STATE_OPEN, `${name}: left open`);
    assert.is(bytes.readUInt32LE(format.Header.busy), 1, `${name}: a change under way`);
    assert.is(bytes.readUInt32LE(format.Header.commit), name === 'committed' ? format.COMMIT_DONE : format.COMMIT_NONE);
    assert.equal(listLive(bytes, at), expected, `${name}: the spec's decoder`);
    const path = tmp.file(`${name}.slabkv`);
    copyFileSync(fixture, path);
    withClock(at - Date.now(), () => {
      const db = new DataStore(path);
      assert.is(db.stats().recovered.records, expected.size, `${name}: rebuilt`);
      assert.equal(new Map([...db.entries()].map(([key, value]) => [key, JSON.stringify(value)])), expected, `${name}: entries`);
      for (const [key, text] of expected) assert.is(db.readText(key), text, `${name} ${key}`);
      for (const key of ['user:1', 'user:2', 'session']) assert.is(db.has(key), expected.has(key), `${name} has ${key}`);
      const report = db.verify();
      assert.ok(report.ok, report.problems.join('; '));
      db.close();
    });
    const settled = readFileSync(path);
    assert.is(settled.readUInt32LE(format.Header.commit), format.COMMIT_NONE, `${name}: commit cleared`);
    const span = 0x11000;
    for (let i = 0; i < format.chunksPerSpan(1); i++) {
      const state = settled.readUInt32LE(format.chunkAt(span, 1, i));
      assert.ok(state === format.RECORD_FREE || state === format.RECORD_LIVE, `${name}: chunk ${i} settled (state ${state})`);
    }
  }
});

test('a record whose bytes no longer match its checksum is FILE_CORRUPT, never returned', () => {
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged[0x11040] ^= 0x01; // a byte of user:1's value
  const path = tmp.file('record.slabkv');
  writeFileSync(path, damaged);
  const db = new DataStore(path);
  throwsCode(() => db.read('user:1'), 'FILE_CORRUPT');
  db.close();
});

test('recovery reads a slab whose span header is damaged under the size class its records fit', () => {
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged.writeUInt32LE(1, format.Header.state); // as if the writer had died
  damaged.fill(0, 0x11000, 0x11020); // the RECORDS slab's header, as if its page had not reached the disk
  const path = tmp.file('span.slabkv');
  writeFileSync(path, damaged);
  const db = withClock(PINNED_NOW - Date.now(), () => new DataStore(path));
  const { recovered } = db.stats();
  assert.is(recovered.repairedSlabs, 1);
  assert.is(recovered.records, 2);
  assert.equal(db.read('user:1'), { name: 'Ada' });
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  db.close();
});

test('recovery refuses a heapEnd outside the file, leaving it unchanged', () => {
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged.writeUInt32LE(1, format.Header.state);
  damaged.writeUInt32LE(damaged.length + format.SLAB_SIZE, format.Header.heapEnd);
  const path = tmp.file('heap-end.slabkv');
  writeFileSync(path, damaged);
  throwsCode(() => new DataStore(path), 'FILE_CORRUPT');
  assert.ok(readFileSync(path).equals(damaged));
});

test('recovery of a file left open drops a torn record and keeps the rest', () => {
  const damaged = Buffer.from(readFileSync(FIXTURE));
  damaged.writeUInt32LE(1, format.Header.state);
  damaged[0x11040] ^= 0x01; // user:1 torn
  const path = tmp.file('torn.slabkv');
  writeFileSync(path, damaged);
  const db = withClock(PINNED_NOW - Date.now(), () => new DataStore(path));
  const { recovered } = db.stats();
  assert.is(recovered.dropped, 1);
  assert.is(recovered.records, 1);
  assert.not.ok(db.has('user:1'));
  withClock(PINNED_NOW - Date.now(), () => assert.equal(db.read('session'), { user: 1 }));
  db.close();
});

test.run();
