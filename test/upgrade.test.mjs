// The upgrade of a version 1 file (spec section 13) keeps every record whose checksum holds, even when a span
// header of a cleanly closed file is damaged; what it cannot keep it counts in stats().recovered, and then it keeps
// the version 1 file beside the new one as `<name>.v1-backup`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import { PINNED_NOW, V1_FIXTURES } from '../scripts/make-fixture.mjs';
import { scratch, withClock } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const { Header, HEADER_SIZE, SLAB_SIZE, SPAN_RECORDS } = format;
const tmp = scratch();
test.after(() => tmp.remove());
const AT = PINNED_NOW + 1000; // before any of mixed-v1's expiry times

/**
 * upgrade opens (and so upgrades) a copy of the bytes at AT; resolves to its entries, stats().recovered, verify's
 * report and the warnings emitted (process warnings arrive on the next tick).
 */
async function upgrade(name, bytes) {
  const path = tmp.file(name);
  writeFileSync(path, bytes);
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const result = withClock(AT - Date.now(), () => {
      const db = new DataStore(path);
      const entries = new Map([...db.keys()].map((key) => [key, db.readText(key)]));
      const opened = { path, entries, recovered: db.stats().recovered, verify: db.verify() };
      db.close();
      return opened;
    });
    await new Promise((resolve) => setImmediate(resolve));
    return { ...result, warnings: warnings.filter((w) => w.code === 'SLABKV_UPGRADE_INCOMPLETE') };
  } finally {
    process.removeListener('warning', onWarning);
  }
}

/** recordsSpans lists the offsets of a version 1 file's RECORDS spans (every one a single slab). */
function recordsSpans(bytes) {
  const spans = [];
  for (let at = HEADER_SIZE; at < bytes.readUInt32LE(Header.heapEnd);) {
    if (bytes.readUInt32LE(at) === SPAN_RECORDS) spans.push(at);
    at += bytes.readUInt32LE(at + 4) * SLAB_SIZE;
  }
  return spans;
}

/** liveRecord returns the offset of the first live record of a version 1 RECORDS slab. */
function liveRecord(bytes, span) {
  const size = format.v1.V1_CHUNK_SIZES[bytes.readUInt32LE(span + 8)];
  for (let chunk = span + 32; chunk + size <= span + SLAB_SIZE; chunk += size) if (bytes.readUInt32LE(chunk) === 1) return chunk;
  throw new Error('no live record');
}

const original = readFileSync(V1_FIXTURES.mixed);
const whole = await upgrade('whole.slabkv', original);

test('a cleanly closed version 1 file is upgraded whole and says so; nothing is kept beside it', async () => {
  assert.ok(whole.entries.size > 2000, `${whole.entries.size} keys`);
  assert.is(whole.recovered.records, whole.entries.size);
  assert.equal([whole.recovered.dropped, whole.recovered.repairedSlabs, whole.recovered.unreadableSlabs], [0, 0, 0]);
  assert.not.ok(existsSync(`${whole.path}.v1-backup`));
  assert.equal(whole.warnings, []);
});

test('one bit flipped in a span header\'s checksum of a cleanly closed version 1 file: every key is upgraded', async () => {
  const damaged = Buffer.from(original);
  const spans = recordsSpans(damaged);
  const span = spans[spans.length >> 1];
  damaged[span + 12] ^= 0x10; // the span header's checksum
  const result = await upgrade('span-header.slabkv', damaged);
  assert.is(result.entries.size, whole.entries.size, 'every key');
  assert.equal(result.entries, whole.entries, 'every key and value');
  assert.is(result.recovered.repairedSlabs, 1);
  assert.equal([result.recovered.dropped, result.recovered.unreadableSlabs], [0, 0]);
  assert.ok(result.verify.ok, result.verify.problems.join('; '));
  assert.not.ok(existsSync(`${result.path}.v1-backup`), 'nothing lost: no backup');
});

test('an upgrade that cannot keep a record counts it and keeps the version 1 file beside the new one', async () => {
  const damaged = Buffer.from(original);
  const spans = recordsSpans(damaged);
  const span = spans[spans.length >> 1];
  damaged[span + 12] ^= 0x10;
  const record = liveRecord(damaged, span);
  damaged[record + 24] ^= 0x01; // the first byte of its key: its checksum fails
  const lostKey = original.toString('utf8', record + 24, record + 24 + original.readUInt16LE(record + 16));
  const result = await upgrade('record.slabkv', damaged);
  assert.is(result.recovered.dropped, 1);
  assert.is(result.recovered.repairedSlabs, 1);
  const expected = new Map(whole.entries);
  assert.ok(expected.delete(lostKey), lostKey);
  assert.equal(result.entries, expected, 'every other key and value');
  assert.ok(readFileSync(`${result.path}.v1-backup`).equals(damaged), 'the version 1 file, as it was, beside the new one');
  assert.is(result.warnings.length, 1);
  assert.match(result.warnings[0].message, '.v1-backup');
  assert.equal(readdirSync(tmp.dir).filter((f) => f.endsWith('.upgrading')), [], 'no temporary file left');
});

test('a version 1 file whose slab cannot be read at all is upgraded with the slab counted, and kept beside it', async () => {
  const damaged = Buffer.from(original);
  const spans = recordsSpans(damaged);
  const span = spans[1];
  const size = format.v1.V1_CHUNK_SIZES[damaged.readUInt32LE(span + 8)];
  for (let chunk = span + 32; chunk + size <= span + SLAB_SIZE; chunk += size) damaged[chunk + 8] ^= 0xff; // every record torn
  damaged[span + 12] ^= 0x10;
  const result = await upgrade('slab.slabkv', damaged);
  assert.is(result.recovered.unreadableSlabs, 1);
  assert.ok(result.entries.size < whole.entries.size);
  assert.ok(existsSync(`${result.path}.v1-backup`));
  // A second damaged file at the same path keeps its own backup, next to the first.
  const again = await upgrade('slab.slabkv', damaged);
  assert.ok(readFileSync(`${again.path}.v1-backup.2`).equals(damaged));
});

test.run();
