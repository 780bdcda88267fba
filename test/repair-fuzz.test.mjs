// Repair over damaged and cut files, seeded and deterministic: every record whose bytes are intact where they lie
// is kept with its value, and a record lost inside the file is counted in the report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import { SPANS_FIXTURE, spansOperations } from '../scripts/make-fixture.mjs';
import { scratch } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const { Header, HEADER_SIZE, SLAB_SIZE } = format;
const tmp = scratch();
test.after(() => tmp.remove());

const SEED = 0x5eed19;
const FILES = 40;

/** mulberry32: a small seeded generator, so that every run damages the files alike. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('repair of a file cut inside a 3-slab span, its fileSize or heapEnd also damaged, keeps the span\'s whole records', () => {
  const fixture = readFileSync(SPANS_FIXTURE);
  const expected = new Map();
  for (const [op, key, value] of spansOperations()) {
    if (op === 'create') expected.set(key, JSON.stringify(value));
    else expected.delete(key);
  }
  // The last span, of 3 slabs (0x71000), holds b32 to b35 in its first slab: the file is cut after that slab.
  assert.is(fixture.readUInt32LE(0x71000), format.SPAN_RECORDS);
  assert.is(fixture.readUInt32LE(0x71004), 3);
  for (const field of [Header.fileSize, Header.heapEnd]) {
    const path = tmp.file(`cut-span-${field}.slabkv`);
    const damaged = Buffer.from(fixture.subarray(0, 0x81000));
    damaged.writeUInt32LE(0x7fffffff, field);
    writeFileSync(path, damaged);
    const db = new DataStore(path, { repair: true });
    const report = db.stats().recovered;
    assert.equal([report.records, report.dropped, report.unreadableSlabs], [expected.size, 0, 0], `${field}: the report`);
    for (const [key, text] of expected) assert.is(db.readText(key), text, `${field}: ${key}`);
    const verified = db.verify();
    assert.ok(verified.ok, verified.problems.join('; '));
    db.close();
  }
});

/** The store the files are made from: values of every size, so spans of 1 to 8 slabs, some keys deleted. */
function makeBase() {
  const path = tmp.file('base.slabkv');
  const random = generator(SEED);
  const db = new DataStore(path);
  for (let i = 0; i < 400; i++) db.create(`f:${i}`, { i, pad: 'p'.repeat(Math.floor(random() ** 2 * 16000)) });
  for (let i = 0; i < 400; i += 5) db.delete(`f:${i}`);
  db.close();
  return readFileSync(path);
}

/** records lists the live records of a sound file: offset, length in bytes and key. */
function records(bytes) {
  const words = format.wordsOf(bytes);
  const list = [];
  for (let span = HEADER_SIZE; span < bytes.readUInt32LE(Header.heapEnd); span += format.spanSlabCount(words, span) * SLAB_SIZE) {
    if (format.spanKind(words, span) !== format.SPAN_RECORDS) continue;
    const sizeClass = format.spanParam(words, span);
    for (let i = 0; i < format.chunksPerSpan(sizeClass); i++) {
      const chunk = format.chunkAt(span, sizeClass, i);
      if (!format.isSoundRecord(words, bytes, chunk, span, sizeClass)) continue;
      const keyLength = format.keyLength(words, chunk);
      const value = format.keyStart(chunk) + keyLength;
      list.push({
        chunk,
        size: format.recordSize(keyLength, format.valueLength(words, chunk)),
        key: bytes.toString('utf8', format.keyStart(chunk), value),
        text: bytes.toString('utf8', value, value + format.valueLength(words, chunk)),
      });
    }
  }
  return list;
}

/** damage returns a damaged copy of bytes, and what was done to it (for the message). */
function damage(bytes, random) {
  const pick = (n) => Math.floor(random() * n);
  const heapEnd = bytes.readUInt32LE(Header.heapEnd);
  let copy = Buffer.from(bytes);
  const done = [];
  if (random() < 0.8) {
    const cut = HEADER_SIZE + pick(heapEnd - HEADER_SIZE);
    copy = copy.subarray(0, cut);
    done.push(`cut at ${cut}`);
  }
  if (random() < 0.7) {
    const field = [Header.fileSize, Header.heapEnd, Header.fileSize, Header.heapEnd, Header.recordCount, Header.tableOffset, Header.state, Header.freeSpanHead][pick(8)];
    const value = random() < 0.5 ? pick(2 ** 32) : copy.readUInt32LE(field) + (pick(5) - 2) * SLAB_SIZE;
    copy.writeUInt32LE(value >>> 0, field);
    done.push(`header ${field} = ${value >>> 0}`);
  }
  for (let n = pick(4); n > 0; n--) {
    // A byte of a span header (the first 32 bytes of a slab), or any byte of the heap.
    const slab = HEADER_SIZE + pick(Math.max(1, (copy.length - HEADER_SIZE) / SLAB_SIZE | 0)) * SLAB_SIZE;
    const at = random() < 0.6 ? slab + pick(32) : HEADER_SIZE + pick(copy.length - HEADER_SIZE);
    if (at >= copy.length) continue;
    copy[at] ^= 1 << pick(8);
    done.push(`bit flipped at ${at}`);
  }
  return { copy, done: done.join(', ') || 'nothing' };
}

test(`repair keeps every record whose bytes are intact, in ${FILES} damaged and cut files (seed ${SEED})`, () => {
  const base = makeBase();
  const all = records(base);
  const random = generator(SEED + 1);
  const path = tmp.file('fuzz.slabkv');
  for (let n = 0; n < FILES; n++) {
    const { copy, done } = damage(base, random);
    const what = `file ${n} (${done})`;
    writeFileSync(path, copy);
    const intact = all.filter((r) => r.chunk + r.size <= copy.length && copy.subarray(r.chunk, r.chunk + r.size).equals(base.subarray(r.chunk, r.chunk + r.size)));
    const db = new DataStore(path, { repair: true });
    const report = db.stats().recovered;
    for (const r of intact) {
      assert.ok(db.has(r.key), `${what}: ${r.key} at ${r.chunk} is intact, and kept`);
      assert.is(db.readText(r.key), r.text, `${what}: ${r.key}`);
    }
    // A record lost inside the file, its state still "live", is counted: dropped, or in a slab that could not be read.
    const lostInside = all.filter((r) => r.chunk < copy.length && copy.readUInt32LE(r.chunk) === format.RECORD_LIVE && !db.has(r.key));
    if (lostInside.length > 0) assert.ok(report.dropped + report.unreadableSlabs > 0, `${what}: ${lostInside.length} records lost inside the file are counted`);
    const verified = db.verify();
    assert.ok(verified.ok, `${what}: ${verified.problems.join('; ')}`);
    db.close();
  }
});

test.run();
