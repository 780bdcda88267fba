import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { isAbsolute, join, relative } from 'node:path';
import { DataStore, DataStoreError } from 'slabkv';
import { scratch, throwsCode } from './helpers.mjs';

const tmp = scratch();
let n = 0;
const fresh = () => new DataStore(tmp.file(`api-${n++}.slabkv`));
test.after(() => tmp.remove());

test('create, read, has, delete round trip', () => {
  const db = fresh();
  db.create('user:1', { name: 'Ada', tags: ['x'], nested: { n: 1.5, ok: true, none: null } });
  assert.equal(db.read('user:1'), { name: 'Ada', tags: ['x'], nested: { n: 1.5, ok: true, none: null } });
  assert.ok(db.has('user:1'));
  assert.not.ok(db.has('user:2'));
  db.delete('user:1');
  assert.not.ok(db.has('user:1'));
  throwsCode(() => db.read('user:1'), 'KEY_NOT_FOUND');
  throwsCode(() => db.delete('user:1'), 'KEY_NOT_FOUND');
  db.close();
});

test('read returns a fresh object each call', () => {
  const db = fresh();
  db.create('k', { a: { b: 1 } });
  const first = db.read('k');
  first.a.b = 2;
  assert.equal(db.read('k'), { a: { b: 1 } });
  assert.is.not(db.read('k'), db.read('k'));
  db.close();
});

test('readText returns the stored JSON text', () => {
  const db = fresh();
  db.create('k', { b: 'ü', a: [1, 2] });
  assert.is(db.readText('k'), '{"b":"ü","a":[1,2]}');
  db.close();
});

test('KEY_EXISTS keeps the old value', () => {
  const db = fresh();
  db.create('k', { v: 1 });
  throwsCode(() => db.create('k', { v: 2 }), 'KEY_EXISTS');
  assert.equal(db.read('k'), { v: 1 });
  assert.is(db.stats().keys, 1);
  db.close();
});

test('keys: 32 code points accepted, 33 refused; emoji count as one', () => {
  const db = fresh();
  const ascii32 = 'k'.repeat(32);
  const emoji32 = '😀'.repeat(32); // 64 UTF-16 units, 128 UTF-8 bytes
  db.create(ascii32, { a: 1 });
  db.create(emoji32, { e: 1 });
  assert.equal(db.read(emoji32), { e: 1 });
  assert.equal(db.read(ascii32), { a: 1 });
  throwsCode(() => db.create('k'.repeat(33), {}), 'KEY_TOO_LONG');
  throwsCode(() => db.create('😀'.repeat(33), {}), 'KEY_TOO_LONG');
  throwsCode(() => db.read('k'.repeat(33)), 'KEY_TOO_LONG');
  const err = throwsCode(() => db.has('x'.repeat(40)), 'KEY_TOO_LONG');
  assert.match(err.message, '40');
  db.close();
});

test('KEY_INVALID: non-strings, empty, lone surrogates', () => {
  const db = fresh();
  for (const bad of [undefined, null, 1, {}, [], Symbol('s'), '']) throwsCode(() => db.create(bad, {}), 'KEY_INVALID');
  throwsCode(() => db.create('a\uD800b', {}), 'KEY_INVALID');
  throwsCode(() => db.create('\uDC00', {}), 'KEY_INVALID');
  throwsCode(() => db.read(42), 'KEY_INVALID');
  throwsCode(() => db.delete(''), 'KEY_INVALID');
  throwsCode(() => db.has(null), 'KEY_INVALID');
  assert.is(db.stats().keys, 0);
  db.close();
});

test('VALUE_INVALID: anything but a JSON object', () => {
  const db = fresh();
  const cyclic = {}; cyclic.self = cyclic;
  const bad = [null, undefined, 1, 'text', '{"a":1}', true, [1, 2], [], 10n, cyclic, { big: 1n },
    { toJSON: () => 'a string' }, new Date(0)];
  for (const value of bad) throwsCode(() => db.create('k', value), 'VALUE_INVALID');
  assert.not.ok(db.has('k'));
  db.create('k', { toJSON: () => ({ replaced: true }) });
  assert.equal(db.read('k'), { replaced: true });
  db.close();
});

test('VALUE_TOO_LARGE: 16384 bytes of JSON accepted, 16385 refused', () => {
  const db = fresh();
  const ofBytes = (n) => ({ s: 'x'.repeat(n - 8) }); // {"s":""} is 8 bytes
  assert.is(Buffer.byteLength(JSON.stringify(ofBytes(16384))), 16384);
  db.create('max', ofBytes(16384));
  assert.equal(db.read('max'), ofBytes(16384));
  const err = throwsCode(() => db.create('over', ofBytes(16385)), 'VALUE_TOO_LARGE');
  assert.match(err.message, '16385');
  // multi-byte characters count as their UTF-8 bytes: 5462 × 3 bytes + 8 = 16394
  throwsCode(() => db.create('wide', { s: '€'.repeat(5462) }), 'VALUE_TOO_LARGE');
  assert.not.ok(db.has('over'));
  db.close();
});

test('TTL_INVALID for each bad ttl, nothing stored', () => {
  const db = fresh();
  for (const ttl of [0, -1, 1.5, NaN, Infinity, -Infinity, '5', null, 2 ** 53, {}]) {
    throwsCode(() => db.create('k', { a: 1 }, ttl), 'TTL_INVALID');
  }
  assert.not.ok(db.has('k'));
  db.create('k', { a: 1 }, 1);
  db.create('k2', { a: 1 }, undefined);
  assert.ok(db.has('k') && db.has('k2'));
  db.close();
});

test('STORE_CLOSED after close; a second close is a no-op; Symbol.dispose closes', () => {
  const db = fresh();
  db.create('k', { a: 1 });
  db.close();
  db.close();
  for (const call of [() => db.read('k'), () => db.create('j', {}), () => db.delete('k'), () => db.has('k'), () => db.stats()]) {
    throwsCode(call, 'STORE_CLOSED');
  }
  const other = fresh();
  other[Symbol.dispose]();
  throwsCode(() => other.has('k'), 'STORE_CLOSED');
});

test('OPTION_INVALID for bad maxFileSize values', () => {
  for (const maxFileSize of ['1', -1, 0, 1000, 2 ** 30 + 1, 2 ** 31, NaN, 1.5e6 + 0.5]) {
    throwsCode(() => new DataStore(tmp.file('opt.slabkv'), { maxFileSize }), 'OPTION_INVALID');
  }
  throwsCode(() => new DataStore(tmp.file('opt.slabkv'), 5), 'OPTION_INVALID');
  new DataStore(tmp.file('opt.slabkv'), { maxFileSize: 2 ** 30 }).close();
});

test('errors are DataStoreError instances with a stable code and name', () => {
  const db = fresh();
  const err = throwsCode(() => db.read('nope'), 'KEY_NOT_FOUND');
  assert.instance(err, Error);
  assert.is(err.name, 'DataStoreError');
  db.close();
});

test('handles on one path share one store; the file stays open until the last closes', () => {
  const path = tmp.file('shared.slabkv');
  const a = new DataStore(path);
  const b = new DataStore(path);
  a.create('k', { from: 'a' });
  assert.equal(b.read('k'), { from: 'a' });
  a.close();
  b.create('j', { from: 'b' });
  assert.equal(b.read('k'), { from: 'a' });
  b.close();
  const c = new DataStore(path);
  assert.equal(c.read('j'), { from: 'b' });
  c.close();
});

test('require() gives the same classes as import', () => {
  const require = createRequire(import.meta.url);
  const cjs = require('slabkv');
  assert.is(cjs.DataStore, DataStore);
  assert.is(cjs.DataStoreError, DataStoreError);
});

test('path is absolute; a relative path resolves against the working directory', () => {
  const absolute = tmp.file('relative.slabkv');
  const given = relative(process.cwd(), absolute);
  assert.not.ok(isAbsolute(given));
  const db = new DataStore(given);
  assert.is(db.path, realpathSync(absolute));
  db.create('k', { a: 1 });
  db.close();
  const again = new DataStore(absolute);
  assert.equal(again.read('k'), { a: 1 });
  again.close();
});

test('the README quick-start runs, and runs again, leaving the store closed cleanly', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const snippet = /```js\n([\s\S]*?)```/.exec(readme)[1];
  const index = new URL('../dist/index.mjs', import.meta.url).href;
  const script = tmp.file('quick-start.mjs');
  writeFileSync(script, snippet.replace(/from 'slabkv'/, `from ${JSON.stringify(index)}`));
  const env = { ...process.env, XDG_DATA_HOME: join(tmp.dir, 'quick-start-data') };
  for (const run of [1, 2, 3]) {
    const result = spawnSync(process.execPath, [script], { encoding: 'utf8', env, timeout: 30000 });
    assert.is(result.status, 0, `run ${run}: ${result.stderr}`);
  }
  const db = new DataStore(join(tmp.dir, 'quick-start-data', 'slabkv', 'default.slabkv'));
  assert.is(db.stats().recovered, null, 'closed cleanly');
  assert.equal([...db.keys()], ['session:9f2c']);
  db.close();
});

test.run();
