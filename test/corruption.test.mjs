// Corruption fuzz: a few hundred damaged copies of a real store, each opened, read, changed and verified in a child
// process, so that a crash is a failure here and not the end of the suite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const tmp = scratch();
test.after(() => tmp.remove());
const CHILD = fileURLToPath(new URL('./open-damaged.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
/** Every how-many-th damaged file also goes through the CLI (a process per command costs a few hundred ms). */
const CLI_SAMPLE = 32;

/** A seeded generator, so that a failure can be reproduced. */
function random(seed) {
  let s = seed >>> 0;
  return (n) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
}

/** build writes a store with records of many sizes and returns { clean, open, expected, deleted }. */
function build() {
  const path = tmp.file('original.slabkv');
  const db = new DataStore(path);
  const expected = {};
  const deleted = [];
  for (let i = 0; i < 600; i++) {
    const key = `k:${i}`;
    const value = { i, text: 'v'.repeat((i * 211) % 5000) };
    db.create(key, value, i % 4 === 0 ? 86400 : undefined);
    if (i % 9 === 0) { db.delete(key); deleted.push(key); } else expected[key] = JSON.stringify(value);
  }
  const open = tmp.file('open-image.slabkv');
  copyFileSync(path, open); // what a crash would leave: the header says open
  db.close();
  return { clean: readFileSync(path), open: readFileSync(open), expected, deleted };
}

test('a few hundred damaged stores: each refused or read correctly, none crashes or hangs', () => {
  const { clean, open, expected, deleted } = build();
  const rand = random(20261126);
  const u32 = (bytes, offset) => bytes.readUInt32LE(offset);
  const heapEnd = u32(clean, format.Header.heapEnd);
  const spans = [];
  for (let s = format.HEADER_SIZE; s < heapEnd; s += format.SLAB_SIZE * u32(clean, s + 4)) spans.push(s);
  const recordSpans = spans.filter((s) => u32(clean, s) === format.SPAN_RECORDS);
  const cases = [];
  const add = (name, bytes) => cases.push([name, bytes]);
  const flip = (base, offsets, xor = 0xff) => { const b = Buffer.from(base); for (const o of offsets) b[o] ^= xor; return b; };

  for (const [imageName, image] of [['clean', clean], ['open', open]]) {
    for (let i = 0; i < 60; i++) add(`${imageName}-random-${i}`, flip(image, Array.from({ length: 1 + rand(4) }, () => rand(image.length)), 1 + rand(255)));
    for (const [field, offset] of Object.entries(format.Header)) add(`${imageName}-header-${field}`, flip(image, [offset]));
    for (const s of spans.filter((_, i) => i % 8 === 0)) for (const [field, o] of Object.entries(format.Span)) add(`${imageName}-span-${s}-${field}`, flip(image, [s + o], 0x10));
    for (const s of recordSpans.filter((_, i) => i % 8 === 1)) for (const [field, o] of Object.entries(format.Slab)) add(`${imageName}-slab-${s}-${field}`, flip(image, [s + o + 1], 0x01));
    for (let i = 0; i < 20; i++) {
      const s = recordSpans[rand(recordSpans.length)];
      const sizeClass = u32(image, s + 8);
      const chunk = s + format.SLAB_HEADER_SIZE + format.CHUNK_SIZES[sizeClass] * rand(format.chunksPerSpan(sizeClass));
      const fields = Object.values(format.Record);
      add(`${imageName}-record-${chunk}`, flip(image, [chunk + fields[rand(fields.length)]], 1 << rand(8)));
    }
    const table = u32(image, format.Header.tableOffset) + format.SPAN_HEADER_SIZE;
    for (let i = 0; i < 20; i++) add(`${imageName}-bucket-${i}`, flip(image, [table + 8 * rand(u32(image, format.Header.tableCapacity)) + rand(8)], 1 << rand(8)));
    for (let i = 0; i < 12; i++) add(`${imageName}-truncated-${i}`, image.subarray(0, rand(image.length)));
    for (const length of [format.HEADER_SIZE, format.HEADER_SIZE + format.SLAB_SIZE, image.length - format.SLAB_SIZE]) add(`${imageName}-truncated-at-${length}`, image.subarray(0, length));
    for (let i = 0; i < 6; i++) {
      const extra = i % 2 ? format.SLAB_SIZE * (1 + rand(3)) : 1 + rand(100000);
      add(`${imageName}-extended-${i}`, Buffer.concat([image, Buffer.from(Array.from({ length: extra }, () => rand(256)))]));
    }
    // Loops and cross-links: a slab's free list pointing at a live record, a partial list and the free span list
    // pointing at themselves, a bucket pointing at the header or past the end.
    const s = recordSpans[0];
    const loop = (offset, value) => { const b = Buffer.from(image); b.writeUInt32LE(value, offset); return b; };
    add(`${imageName}-free-list-to-live`, loop(s + format.Slab.freeHead, s + format.SLAB_HEADER_SIZE));
    add(`${imageName}-partial-self-loop`, loop(s + format.Slab.nextPartial, s));
    add(`${imageName}-free-span-self-loop`, loop(format.Header.freeSpanHead, s));
    add(`${imageName}-heap-end-past-file`, loop(format.Header.heapEnd, image.length + format.SLAB_SIZE));
    add(`${imageName}-table-capacity-huge`, loop(format.Header.tableCapacity, 2 ** 31));
    for (let i = 0; i < 4; i++) {
      const slot = table + 8 * rand(u32(image, format.Header.tableCapacity));
      add(`${imageName}-bucket-wild-${i}`, loop(slot, [8, image.length - 8, 2 ** 32 - 8, format.HEADER_SIZE + 16][i]));
    }
  }
  assert.ok(cases.length >= 300 && cases.length <= 500, `${cases.length} cases`);

  const files = cases.map(([name, bytes]) => { const file = tmp.file(`${name}.slabkv`); writeFileSync(file, bytes); return file; });

  // The CLI on a sample, before the library's run changes the files: each command answers, none crashes.
  for (const [i, [name, bytes]] of cases.entries()) {
    if (i % CLI_SAMPLE !== 0) continue;
    const file = tmp.file(`cli-${name}.slabkv`);
    writeFileSync(file, bytes);
    const offset = bytes.length === 0 ? 0 : rand(bytes.length);
    for (const args of [['inspect', '--key', 'k:1'], ['inspect', '--offset', String(offset)], ['verify']]) {
      const result = spawnSync(CLI, [...args, '--file', file], { encoding: 'utf8', timeout: 30_000 });
      const what = `slabkv ${args.join(' ')} on ${name}`;
      assert.ok(result.status !== null && result.status !== 1, `${what}: status ${result.status}, signal ${result.signal}: ${result.stderr.slice(0, 500)}`);
      assert.not.match(result.stderr, /\n\s+at /, `${what}: ${result.stderr.slice(0, 500)}`);
      if (result.status !== 0 && result.status !== 30) assert.match(result.stderr, /^slabkv: /, what); // 30: verify's report, on stdout
    }
  }
  const casesPath = tmp.file('cases.json');
  writeFileSync(casesPath, JSON.stringify({ expected, deleted, files }));
  const logPath = tmp.file('fuzz.log');
  const run = spawnSync(process.execPath, [CHILD, casesPath, logPath], { encoding: 'utf8', timeout: 240_000 });
  const events = readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const last = events.at(-1);
  assert.ok(last?.done, `the child died (status ${run.status}, signal ${run.signal}) on ${last?.start ?? 'startup'}: ${run.stderr.slice(0, 2000)}`);
  const outcomes = {};
  for (const event of events) {
    if (event.bug) assert.unreachable(`${event.file}: not a DataStoreError: ${event.bug}`);
    if (!event.outcome) continue;
    assert.equal(event.wrong, [], `${event.file} returned values never written`);
    if ('unchanged' in event) assert.ok(event.unchanged, `${event.file}: the refused open changed the file`);
    outcomes[event.outcome] = (outcomes[event.outcome] ?? 0) + 1;
  }
  assert.ok(outcomes.FILE_CORRUPT > 0 && outcomes.FILE_INVALID > 0 && outcomes.verified > 0, JSON.stringify(outcomes));
});

test.run();
