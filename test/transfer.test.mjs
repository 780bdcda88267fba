// dump and load called in-process (the functions behind slabkv dump and slabkv load).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DataStore } from 'slabkv';
import { RECORD_HEADER_SIZE } from 'slabkv/format';
import { scratch } from './helpers.mjs';

const { dumpStore, loadEntries } = createRequire(import.meta.url)('../dist/cli.cjs');
const tmp = scratch();
test.after(() => tmp.remove());

const linesOf = (text) => {
  const lines = text.split('\n');
  let at = 0;
  return { get number() { return at; }, readLine: () => (at < lines.length ? lines[at++] : null) };
};

test('a dump loads back into another store with the same values and exact expiry times', () => {
  const from = new DataStore(tmp.file('from.slabkv'));
  for (let i = 0; i < 500; i++) from.create(`k:${i}`, { i, text: 'x'.repeat(i) }, i % 5 === 0 ? 3600 : undefined);
  let dump = '';
  const { entries, damaged } = dumpStore(from, (line) => { dump += line; });
  assert.is(entries, 500);
  assert.equal(damaged, []);
  const to = new DataStore(tmp.file('to.slabkv'));
  assert.equal(loadEntries(to, linesOf(dump), false), { loaded: 500, skippedExpired: 0, alreadyThere: 0 });
  for (const key of from.keys()) {
    assert.equal(to.read(key), from.read(key));
    assert.is(to.expiresAt(key), from.expiresAt(key));
  }
  from.close();
  to.close();
});

test('a bad line undoes the whole load; resume finishes a load cut short', () => {
  const db = new DataStore(tmp.file('undo.slabkv'));
  const good = Array.from({ length: 10 }, (_, i) => JSON.stringify({ key: `u:${i}`, value: { i }, expiresAt: null }));
  assert.throws(() => loadEntries(db, linesOf([...good, '{"key": 1}'].join('\n')), false), /line 11/);
  assert.is(db.count, 0, 'nothing loaded');
  loadEntries(db, linesOf(good.slice(0, 4).join('\n')), false); // as if killed after 4 entries
  assert.equal(loadEntries(db, linesOf(good.join('\n')), true), { loaded: 6, skippedExpired: 0, alreadyThere: 4 });
  assert.is(db.count, 10);
  db.close();
});

test('a line with a field other than key, value and expiresAt is refused, so a misspelt expiresAt never drops an expiry', () => {
  const db = new DataStore(tmp.file('fields.slabkv'));
  const good = JSON.stringify({ key: 'ok', value: {}, expiresAt: null });
  const misspelt = JSON.stringify({ key: 'z', value: {}, expiresat: 4102444800000 });
  assert.throws(() => loadEntries(db, linesOf([good, misspelt].join('\n')), false), /line 2: .*expiresat/);
  assert.is(db.count, 0, 'nothing loaded');
  db.close();
});

test('a damaged record: verify gives its kind and offset, and dump names its key and closes what it opened', () => {
  const path = tmp.file('damaged.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 20; i++) db.create(`k:${i}`, { mark: `mark-${i}` });
  db.close();
  const bytes = readFileSync(path);
  const value = bytes.indexOf('"mark-7"');
  const record = bytes.lastIndexOf('k:7', value) - RECORD_HEADER_SIZE;
  bytes[value + 2] ^= 0x20; // the record's checksum fails now
  writeFileSync(path, bytes);

  const damaged = new DataStore(path);
  const report = damaged.verify();
  assert.equal(report.details.map((d) => d.message), report.problems);
  assert.equal(report.details[0], { kind: 'damaged-record', offset: record, message: report.problems[0] });
  assert.equal(report.details.slice(1).map((d) => d.kind), ['span-count', 'header-count', 'bucket'], 'counts and the bucket that led to it');
  const descriptors = readdirSync('/proc/self/fd').length;
  const dumped = dumpStore(damaged, () => {});
  assert.is(dumped.entries, 19);
  assert.equal(dumped.damaged, [`${report.problems[0]}; its key reads "k:7"`, ...report.problems.slice(1)]);
  assert.is(readdirSync('/proc/self/fd').length, descriptors, 'dump closed the file it opened to read the key');
  damaged.close();
});

test.run();
