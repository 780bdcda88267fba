// The DataStore contract, written once: error codes, limits, TTLs, create/read/set/get/update/delete and keys by
// prefix. contract.test.mjs runs it against the file store (its calls made async) and against RedisDataStore on a
// real server. Expiry is real time here (a Redis server's clock cannot be shifted): a key made to expire a few ms
// ahead is checked once the clock has passed that instant, never against a window.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataStoreError } from 'slabkv';

/** rejectsCode asserts that fn (called now) throws or rejects with a DataStoreError of the code. */
export async function rejectsCode(fn, code) {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, DataStoreError, `expected a DataStoreError, got ${error}`);
    assert.is(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.unreachable(`expected ${code}, nothing was thrown`);
}

/**
 * asyncStore gives a file store's calls the shape of RedisDataStore's: each returns a promise, and keys() is an
 * async iterator (its options still checked at the call).
 */
export function asyncStore(db) {
  const store = {};
  for (const name of ['create', 'read', 'readText', 'get', 'has', 'delete', 'set', 'update', 'expiresAt', 'close']) {
    store[name] = async (...args) => db[name](...args);
  }
  store.keys = (options) => {
    const keys = db.keys(options);
    return (async function* () { yield* keys; })();
  };
  return store;
}

async function listKeys(db, options) {
  const keys = [];
  for await (const key of db.keys(options)) keys.push(key);
  return keys.sort();
}

/** untilPast waits until the clock is past ms. */
async function untilPast(ms) {
  while (Date.now() <= ms + 1) await sleep(Math.max(1, ms + 2 - Date.now()));
}

/**
 * contractSuite returns a uvu suite of the contract over open(), which gives a new, empty store (as asyncStore
 * shapes it); each test closes the store it opened.
 */
export function contractSuite(name, open) {
  const test = suite(name);
  const withStore = (title, fn) => test(title, async () => {
    const db = await open();
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  });

  withStore('create, read, readText, get, has and delete; KEY_EXISTS and KEY_NOT_FOUND', async (db) => {
    await db.create('user:1', { name: 'Ada', tags: ['x', 'y'], nested: { n: 1.5, ok: true, none: null } });
    assert.equal(await db.read('user:1'), { name: 'Ada', tags: ['x', 'y'], nested: { n: 1.5, ok: true, none: null } });
    assert.is(await db.readText('user:1'), '{"name":"Ada","tags":["x","y"],"nested":{"n":1.5,"ok":true,"none":null}}');
    assert.equal(await db.get('user:1'), { name: 'Ada', tags: ['x', 'y'], nested: { n: 1.5, ok: true, none: null } });
    assert.is(await db.has('user:1'), true);
    await rejectsCode(() => db.create('user:1', { name: 'other' }), 'KEY_EXISTS');
    assert.equal(await db.read('user:1'), { name: 'Ada', tags: ['x', 'y'], nested: { n: 1.5, ok: true, none: null } }, 'a refused create changes nothing');
    await db.delete('user:1');
    assert.is(await db.has('user:1'), false);
    assert.is(await db.get('user:1'), undefined);
    await rejectsCode(() => db.read('user:1'), 'KEY_NOT_FOUND');
    await rejectsCode(() => db.readText('user:1'), 'KEY_NOT_FOUND');
    await rejectsCode(() => db.expiresAt('user:1'), 'KEY_NOT_FOUND');
    await rejectsCode(() => db.delete('user:1'), 'KEY_NOT_FOUND');
    await db.create('user:1', { name: 'again' });
    assert.equal(await db.read('user:1'), { name: 'again' });
  });

  withStore('keys: up to 32 characters (code points), well-formed; every call checks its key the same way', async (db) => {
    const emoji = '😀'.repeat(32);
    await db.create(emoji, { wide: true });
    assert.equal(await db.read(emoji), { wide: true });
    await db.create('k'.repeat(32), { long: true });
    const bad = [['', 'KEY_INVALID'], [42, 'KEY_INVALID'], [undefined, 'KEY_INVALID'], ['k'.repeat(33), 'KEY_TOO_LONG'], ['😀'.repeat(33), 'KEY_TOO_LONG'], ['a\uD800', 'KEY_INVALID']];
    for (const [key, code] of bad) {
      await rejectsCode(() => db.create(key, { a: 1 }), code);
      await rejectsCode(() => db.set(key, { a: 1 }), code);
      await rejectsCode(() => db.read(key), code);
      await rejectsCode(() => db.readText(key), code);
      await rejectsCode(() => db.get(key), code);
      await rejectsCode(() => db.has(key), code);
      await rejectsCode(() => db.delete(key), code);
      await rejectsCode(() => db.expiresAt(key), code);
      await rejectsCode(() => db.update(key, () => ({ a: 1 })), code);
    }
    assert.equal(await listKeys(db), [emoji, 'k'.repeat(32)].sort());
  });

  withStore('values: JSON objects of at most 16,384 bytes of JSON text; a refused value changes nothing', async (db) => {
    const largest = { v: 'é'.repeat((16384 - 8) / 2) }; // {"v":"…"} is 8 bytes around 2-byte characters
    await db.create('big', largest);
    assert.equal(await db.read('big'), largest);
    await rejectsCode(() => db.create('big2', { v: 'x'.repeat(16384 - 7) }), 'VALUE_TOO_LARGE');
    await rejectsCode(() => db.set('big', { v: 'x'.repeat(16384 - 7) }), 'VALUE_TOO_LARGE');
    const circular = {};
    circular.self = circular;
    for (const value of ['text', 42, null, undefined, [1, 2], circular, { toJSON: () => 'text' }]) {
      await rejectsCode(() => db.create('v', value), 'VALUE_INVALID');
      await rejectsCode(() => db.set('big', value), 'VALUE_INVALID');
      await rejectsCode(() => db.update('big', () => (value === undefined ? [] : value)), 'VALUE_INVALID');
    }
    assert.is(await db.has('v'), false);
    assert.equal(await db.read('big'), largest, 'refused set and update changed nothing');
  });

  withStore('TTL: seconds or { expiresAt }, exact; TTL_INVALID for anything else; an expired key is gone', async (db) => {
    const before = Date.now();
    await db.create('ttl:s', { a: 1 }, 60);
    const at = await db.expiresAt('ttl:s');
    assert.ok(at >= before + 60_000 && at <= Date.now() + 60_000, `expiresAt ${at} is 60 s after the call`);
    const exact = Date.now() + 3_600_123;
    await db.create('ttl:at', { a: 1 }, { expiresAt: exact });
    assert.is(await db.expiresAt('ttl:at'), exact);
    await db.create('ttl:none', { a: 1 });
    assert.is(await db.expiresAt('ttl:none'), null);
    await db.create('ttl:far', { a: 1 }, Number.MAX_SAFE_INTEGER); // seconds: the expiry stops at the largest safe ms
    assert.is(await db.expiresAt('ttl:far'), Number.MAX_SAFE_INTEGER);
    for (const ttl of [0, -1, 1.5, '10', NaN, null, { expiresAt: Date.now() - 1 }, { expiresAt: exact, extra: 1 }, { expiresAt: '1' }]) {
      await rejectsCode(() => db.create('ttl:bad', { a: 1 }, ttl), 'TTL_INVALID');
      await rejectsCode(() => db.set('ttl:none', { b: 2 }, ttl), 'TTL_INVALID');
      await rejectsCode(() => db.update('ttl:none', () => ({ b: 2 }), ttl), 'TTL_INVALID');
    }
    assert.is(await db.has('ttl:bad'), false);
    assert.equal(await db.read('ttl:none'), { a: 1 }, 'refused calls changed nothing');

    // Far enough ahead that the create's round trip to a server on a busy machine leaves it ahead for the set.
    const soon = Date.now() + 500;
    await db.create('ttl:soon', { a: 1 }, { expiresAt: soon });
    await db.set('ttl:soon2', { a: 1 }, { expiresAt: soon });
    await untilPast(soon);
    for (const key of ['ttl:soon', 'ttl:soon2']) {
      assert.is(await db.has(key), false);
      assert.is(await db.get(key), undefined);
      await rejectsCode(() => db.read(key), 'KEY_NOT_FOUND');
      await rejectsCode(() => db.expiresAt(key), 'KEY_NOT_FOUND');
      await rejectsCode(() => db.delete(key), 'KEY_NOT_FOUND');
    }
    await db.create('ttl:soon', { again: true }); // an expired key does not block create
    assert.equal(await db.read('ttl:soon'), { again: true });
    assert.is(await db.expiresAt('ttl:soon'), null);
    assert.equal(await listKeys(db, { prefix: 'ttl:' }), ['ttl:at', 'ttl:far', 'ttl:none', 'ttl:s', 'ttl:soon']);
  });

  withStore('set creates or replaces; without ttl it clears the expiry, with ttl it sets it', async (db) => {
    await db.set('s', { v: 1 });
    assert.equal(await db.read('s'), { v: 1 });
    const exact = Date.now() + 600_000;
    await db.set('s', { v: 2 }, { expiresAt: exact });
    assert.equal(await db.read('s'), { v: 2 });
    assert.is(await db.expiresAt('s'), exact);
    await db.set('s', { v: 3 });
    assert.equal(await db.read('s'), { v: 3 });
    assert.is(await db.expiresAt('s'), null, 'set without ttl clears the expiry');
    await db.set('s', { v: 4 }, 120);
    assert.ok((await db.expiresAt('s')) > Date.now() + 100_000);
  });

  withStore('update: fn gets the value or undefined, returns the new value or undefined to delete; ttl as set, kept without it', async (db) => {
    const seen = [];
    const record = (fn) => (current) => { seen.push(current); return fn(current); };
    assert.equal(await db.update('u', record(() => ({ n: 1 }))), { n: 1 });
    assert.equal(await db.read('u'), { n: 1 });
    for (let i = 0; i < 20; i++) await db.update('u', (current) => ({ n: current.n + 1 }));
    assert.equal(await db.read('u'), { n: 21 });
    const exact = Date.now() + 600_000;
    await db.update('u', (current) => ({ n: current.n + 1 }), { expiresAt: exact });
    assert.is(await db.expiresAt('u'), exact);
    await db.update('u', (current) => ({ n: current.n + 1 }));
    assert.is(await db.expiresAt('u'), exact, 'update without ttl keeps the expiry');
    assert.equal(await db.read('u'), { n: 23 });
    await db.update('u', (current) => ({ n: current.n + 1 }), 60);
    assert.ok((await db.expiresAt('u')) < exact, 'update with ttl sets it');
    assert.is(await db.update('u', record(() => undefined)), undefined);
    assert.is(await db.has('u'), false, 'undefined deletes the key');
    assert.is(await db.update('absent', record(() => undefined)), undefined);
    assert.is(await db.has('absent'), false, 'undefined leaves an absent key absent');
    assert.equal(seen, [undefined, { n: 24 }, undefined]);
    // An error thrown by fn changes nothing and reaches the caller.
    await db.set('u', { n: 1 }, { expiresAt: exact });
    const failure = new Error('fn failed');
    try {
      await db.update('u', () => { throw failure; });
      assert.unreachable('update rethrows');
    } catch (error) {
      assert.is(error, failure);
    }
    assert.equal(await db.read('u'), { n: 1 });
    assert.is(await db.expiresAt('u'), exact);
    // fn must be a synchronous function: its value is needed when the write is made.
    await rejectsCode(() => db.update('u', 'not a function'), 'OPTION_INVALID');
    await rejectsCode(() => db.update('u', async () => ({ n: 2 })), 'TRANSACTION_INVALID');
    await rejectsCode(() => db.update('u', () => Promise.resolve({ n: 2 })), 'TRANSACTION_INVALID');
    assert.equal(await db.read('u'), { n: 1 });
    // update on an expired key sees undefined.
    const soon = Date.now() + 500;
    await db.set('u', { n: 1 }, { expiresAt: soon });
    await untilPast(soon);
    await db.update('u', (current) => { seen.push(current); return { n: 0 }; });
    assert.is(seen.at(-1), undefined);
    assert.equal(await db.read('u'), { n: 0 });
    assert.is(await db.expiresAt('u'), null, 'an expired key leaves no expiry to keep');
  });

  withStore('keys by prefix: every live key once, prefixes taken literally; bad options are OPTION_INVALID', async (db) => {
    const made = [];
    for (let i = 0; i < 300; i++) {
      const key = `${['user:', 'session:', 'us', '*[x]?\\'][i % 4]}${i}`;
      await db.create(key, { i });
      made.push(key);
    }
    assert.equal(await listKeys(db), made.slice().sort());
    assert.equal(await listKeys(db, { prefix: 'user:' }), made.filter((k) => k.startsWith('user:')).sort());
    assert.equal(await listKeys(db, { prefix: 'us' }), made.filter((k) => k.startsWith('us')).sort());
    assert.equal(await listKeys(db, { prefix: '*[x]?\\' }), made.filter((k) => k.startsWith('*[x]?\\')).sort(), 'glob characters match themselves');
    assert.equal(await listKeys(db, { prefix: '*' }), made.filter((k) => k.startsWith('*')).sort());
    assert.equal(await listKeys(db, { prefix: 'none:' }), []);
    assert.equal(await listKeys(db, { prefix: '' }), made.slice().sort());
    await rejectsCode(() => db.keys('user:'), 'OPTION_INVALID');
    await rejectsCode(() => db.keys({ prefx: 'user:' }), 'OPTION_INVALID');
    await rejectsCode(() => db.keys({ prefix: 1 }), 'OPTION_INVALID');
  });

  test('a closed store refuses every call with STORE_CLOSED; close twice is fine', async () => {
    const db = await open();
    await db.set('k', { a: 1 });
    await db.close();
    await db.close();
    for (const call of [() => db.read('k'), () => db.get('k'), () => db.has('k'), () => db.set('k', { a: 2 }), () => db.create('j', { a: 1 }),
      () => db.delete('k'), () => db.update('k', () => ({ a: 3 })), () => db.expiresAt('k'), () => db.readText('k'), () => db.keys().next()]) {
      await rejectsCode(call, 'STORE_CLOSED');
    }
  });

  return test;
}
