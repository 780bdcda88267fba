// slabkv/keyv beyond Keyv's own suite (test/keyv-suite.test.mjs): overwrite, long keys and their mapping, a record
// of another key under a key's slabkv key, values of every kind, exact expiry, namespaces, several adapters and
// worker threads on one file, cache-manager's wrap, and how the module loads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import Keyv from 'keyv';
import { createCache } from 'cache-manager';
import { DataStore, DataStoreError } from 'slabkv';
import { KeyvSlabkv, keyvStoreKey } from 'slabkv/keyv';
import { scratch } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());
let files = 0;
const longKey = (i) => `https://example.com/search?q=${'slabkv'.repeat(40)}&page=${i}`;

/** open makes a new file with a Keyv on a KeyvSlabkv, and a DataStore handle on the same file to look into it. */
function open(keyvOptions = {}) {
  const file = tmp.file(`keyv-${++files}.slabkv`);
  const store = new KeyvSlabkv(file);
  const keyv = new Keyv({ store, ...keyvOptions });
  const db = new DataStore(file);
  const close = async () => { await keyv.disconnect(); db.close(); };
  return { file, store, keyv, db, close };
}

/** at runs fn (which may await) with Date.now() fixed at ms: Keyv's expiry checks and the store's alike. */
async function at(ms, fn) {
  const real = Date.now;
  Date.now = () => ms;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

/** ticking runs fn (which may await) with a clock that moves on by one ms at every Date.now(), from ms. */
async function ticking(ms, fn) {
  const real = Date.now;
  let next = ms;
  Date.now = () => next++;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

/** errorsOf collects the errors a Keyv emits. */
const errorsOf = (keyv) => {
  const errors = [];
  keyv.on('error', (error) => errors.push(error));
  return errors;
};

test('set replaces the value and the TTL of a key', async () => {
  const { keyv, db, close } = open();
  await keyv.set('user', { name: 'Ada' }, 60_000);
  assert.ok(db.expiresAt('keyv:user') !== null);
  await keyv.set('user', { name: 'Grace' });
  assert.equal(await keyv.get('user'), { name: 'Grace' });
  assert.is(db.expiresAt('keyv:user'), null, 'the second set has no TTL');
  await keyv.set('user', 'text', 5_000);
  assert.is(await keyv.get('user'), 'text');
  assert.is(db.count, 1);
  await close();
});

test('keys past 32 characters: each its own value, under a slabkv key of at most 32; short keys kept as they are', async () => {
  const { keyv, store, db, close } = open();
  const keys = Array.from({ length: 500 }, (_, i) => longKey(i));
  for (const [i, key] of keys.entries()) await keyv.set(key, { i });
  for (const [i, key] of keys.entries()) assert.equal(await keyv.get(key), { i }, key);
  const storeKeys = [...db.keys()];
  assert.is(new Set(storeKeys).size, 500);
  for (const key of storeKeys) assert.ok(key.length <= 32 && key.startsWith('#'), key);
  // iterator yields the keys as Keyv wrote them, namespace included.
  const seen = [];
  for await (const [key] of store.iterator('keyv')) seen.push(key);
  assert.equal(seen.sort(), keys.map((k) => `keyv:${k}`).sort());
  // Short keys are their own slabkv keys; one starting with '#', an empty one, or one with a lone surrogate is hashed.
  assert.is(keyvStoreKey('keyv:user:1'), 'keyv:user:1');
  assert.is(keyvStoreKey('x'.repeat(32)), 'x'.repeat(32));
  for (const key of ['#short', '', 'a\uD800', 'a\uDBFF', 'x'.repeat(33), 'é'.repeat(33)]) {
    const mapped = keyvStoreKey(key);
    assert.ok(mapped.startsWith('#') && mapped.length === 32, `${JSON.stringify(key)} -> ${mapped}`);
  }
  assert.is.not(keyvStoreKey('a\uD800'), keyvStoreKey('a\uDBFF'), 'lone surrogates are hashed as they are');
  // Those keys work through the store too, each with its own value.
  const odd = ['#short', 'a\uD800', 'a\uDBFF', 'é'.repeat(40)];
  for (const key of odd) await store.set(key, `value of ${JSON.stringify(key)}`);
  for (const key of odd) assert.is(await store.get(key), `value of ${JSON.stringify(key)}`);
  assert.ok(await keyv.delete(keys[7]));
  assert.is(await keyv.get(keys[7]), undefined);
  assert.equal(await keyv.get(keys[8]), { i: 8 });
  await close();
});

test('a record of another key under a key\'s slabkv key (a hash collision) is never returned, removed or listed as that key\'s', async () => {
  const { keyv, store, db, close } = open();
  const key = longKey(1);
  const storeKey = keyvStoreKey(`keyv:${key}`);
  // What a collision would leave: the record of another Keyv key under this key's slabkv key.
  db.set(storeKey, { key: 'keyv:other', value: JSON.stringify({ value: 'not yours' }) });
  assert.is(await keyv.get(key), undefined);
  assert.is(await keyv.has(key), false);
  assert.equal(await keyv.get([key]), [undefined]);
  assert.equal(await keyv.has([key]), [false]);
  assert.is(await keyv.delete(key), false);
  assert.is(await keyv.delete([key]), false);
  assert.ok(db.has(storeKey), 'the other key\'s record stays');
  const listed = [];
  for await (const [k] of store.iterator('keyv')) listed.push(k);
  assert.equal(listed, [], 'the record is not where its own key maps, so it is no Keyv entry');
  // Setting the key replaces the other record: the later of two colliding keys wins.
  await keyv.set(key, 'mine');
  assert.is(await keyv.get(key), 'mine');
  // A record that is not a Keyv entry under a short key (other data in the file) is not read as one either.
  db.set('keyv:profile', { name: 'Ada' });
  assert.is(await keyv.get('profile'), undefined);
  assert.is(await keyv.has('profile'), false);
  assert.is(await keyv.delete('profile'), false);
  await keyv.clear();
  assert.equal(db.get('keyv:profile'), { name: 'Ada' }, 'clear leaves other data of the file');
  await close();
});

test('values of every kind round-trip: strings, numbers, booleans, null, arrays, objects, Buffers, text with quotes and emoji', async () => {
  const { keyv, close } = open();
  const values = ['', 'text', '"quoted" \'single\' \\ back', '🚀 é \u2028', 0, -1.5, 1e308, true, false, null, [], [1, 'two', [3], { four: 4 }], {}, { nested: { a: [null] } }];
  for (const [i, value] of values.entries()) await keyv.set(`v${i}`, value);
  for (const [i, value] of values.entries()) assert.equal(await keyv.get(`v${i}`), value, JSON.stringify(value));
  await keyv.set('buffer', Buffer.from([0, 1, 2, 255]));
  assert.ok(Buffer.from([0, 1, 2, 255]).equals(await keyv.get('buffer')));
  await close();
});

test('a value too large for slabkv: set resolves to false with a VALUE_TOO_LARGE error event, the value before it stays, and setMany stores none of its batch', async () => {
  const { keyv, close } = open();
  const errors = errorsOf(keyv);
  await keyv.set('big', 'small');
  assert.is(await keyv.set('big', 'x'.repeat(20_000)), false);
  assert.equal(errors.map((e) => e.code), ['VALUE_TOO_LARGE']);
  assert.is(await keyv.get('big'), 'small');
  // setMany is one transaction: a refused value stores none of the batch.
  assert.equal(await keyv.setMany([{ key: 'first', value: 1 }, { key: 'big', value: 'y'.repeat(20_000) }]), [false, false]);
  assert.is(await keyv.get('first'), undefined);
  assert.is(await keyv.get('big'), 'small');
  await close();
});

test('TTLs in ms are exact: the key expires at set time + ttl, has() is false from then on', async () => {
  const { keyv, store, db, close } = open();
  const t0 = 1_900_000_000_000;
  await at(t0, () => keyv.set('session', { user: 1 }, 1234));
  assert.is(db.expiresAt('keyv:session'), t0 + 1234);
  await at(t0 + 1233, async () => {
    assert.ok(await keyv.has('session'));
    assert.equal(await keyv.get('session'), { user: 1 });
  });
  await at(t0 + 1234, async () => {
    assert.is(await keyv.has('session'), false);
    assert.is(await store.get('keyv:session'), undefined);
  });
  // A long key, through setMany, expires the same way.
  await at(t0, () => keyv.setMany([{ key: longKey(1), value: 'a', ttl: 50 }, { key: 'forever', value: 'b' }]));
  assert.is(db.expiresAt(keyvStoreKey(`keyv:${longKey(1)}`)), t0 + 50);
  assert.is(db.expiresAt('keyv:forever'), null);
  await at(t0 + 50, async () => assert.equal(await keyv.get([longKey(1), 'forever']), [undefined, 'b']));
  // A fraction of a ms rounds up; 0 and Infinity mean no TTL (as Keyv reads them); a negative TTL removes the key.
  await at(t0, () => store.set('keyv:fraction', 'v', 0.2));
  assert.is(db.expiresAt('keyv:fraction'), t0 + 1);
  await store.set('keyv:zero', 'v', 0);
  await store.set('keyv:infinite', 'v', Infinity);
  assert.equal([db.expiresAt('keyv:zero'), db.expiresAt('keyv:infinite')], [null, null]);
  await store.set('keyv:zero', 'v', -1);
  assert.is(await store.has('keyv:zero'), false);
  // A TTL that runs out before slabkv writes the entry (a ms or two, or a long batch): the entry is already expired,
  // which is no error and does not refuse the rest of a batch.
  const errors = errorsOf(keyv);
  await store.set('keyv:brief', 'old');
  assert.is(await ticking(t0, () => store.set('keyv:brief', 'v', 1)), true);
  assert.is(await store.has('keyv:brief'), false, 'the entry before is replaced by an expired one: gone');
  await ticking(t0, () => keyv.setMany([{ key: 'brief', value: 'v', ttl: 1 }, { key: 'lasting', value: 'w' }]));
  assert.equal(await keyv.get(['brief', 'lasting']), [undefined, 'w']);
  assert.equal(errors, []);
  await close();
});

test('namespaces: clear of one leaves the other, long keys included, also when their hashed keys share a tag', async () => {
  const file = tmp.file(`keyv-${++files}.slabkv`);
  // ns42916 and ns62610 hash to the same 5-character tag: their hashed keys start alike.
  const [a, b] = ['ns42916', 'ns62610'];
  assert.is(keyvStoreKey(`${a}:${longKey(0)}`).slice(0, 6), keyvStoreKey(`${b}:${longKey(0)}`).slice(0, 6));
  const keyvA = new Keyv({ store: new KeyvSlabkv(file), namespace: a });
  const keyvB = new Keyv({ store: new KeyvSlabkv(file), namespace: b });
  const db = new DataStore(file);
  db.set('other:data', { kept: true });
  for (const keyv of [keyvA, keyvB]) {
    for (let i = 0; i < 20; i++) await keyv.set(i % 2 ? longKey(i) : `k${i}`, `${keyv.namespace} ${i}`);
  }
  assert.is(await keyvA.get('k0'), `${a} 0`);
  assert.is(await keyvB.get('k0'), `${b} 0`);
  await keyvA.clear();
  for (let i = 0; i < 20; i++) {
    const key = i % 2 ? longKey(i) : `k${i}`;
    assert.is(await keyvA.get(key), undefined);
    assert.is(await keyvB.get(key), `${b} ${i}`);
  }
  const listedB = [];
  for await (const [key, value] of keyvB.store.iterator(b)) listedB.push([key, value]);
  assert.is(listedB.length, 20);
  assert.equal(db.get('other:data'), { kept: true });
  // A Keyv without a namespace clears every Keyv entry of the file, and only those.
  const bare = new Keyv({ store: new KeyvSlabkv(file), namespace: undefined });
  await bare.set('plain', 1);
  await bare.clear();
  assert.is(await keyvB.get('k0'), undefined);
  assert.is(await bare.get('plain'), undefined);
  assert.equal([...db.keys()], ['other:data']);
  for (const keyv of [keyvA, keyvB, bare]) await keyv.disconnect();
  db.close();
});

test('several adapters on one path share the file; one given an open DataStore leaves it open', async () => {
  const file = tmp.file(`keyv-${++files}.slabkv`);
  const one = new Keyv({ store: new KeyvSlabkv(file) });
  const two = new Keyv({ store: new KeyvSlabkv(file) });
  await one.set('shared', 'from one');
  assert.is(await two.get('shared'), 'from one');
  await one.disconnect();
  assert.is(await two.get('shared'), 'from one', 'the other adapter\'s handle stays open');
  const db = new DataStore(file);
  const three = new Keyv({ store: new KeyvSlabkv(db) });
  assert.is(await three.get('shared'), 'from one');
  await three.disconnect();
  assert.ok(db.has('keyv:shared'), 'a DataStore given to the store stays open');
  db.close();
  await two.disconnect();
  const closed = new KeyvSlabkv(file);
  await closed.disconnect();
  try {
    await closed.get('keyv:shared');
    assert.unreachable('a disconnected store refuses calls');
  } catch (error) {
    assert.instance(error, DataStoreError);
    assert.is(error.code, 'STORE_CLOSED');
  }
  assert.throws(() => new KeyvSlabkv(new DataStore(file), { maxFileSize: 1 << 20 }), (e) => e.code === 'OPTION_INVALID');
});

test('worker threads, each with its own Keyv on the path, share the file: every key of every worker arrives', async () => {
  const path = tmp.file(`keyv-${++files}.slabkv`);
  const workers = 4;
  const count = 300;
  const here = new Keyv({ store: new KeyvSlabkv(path), namespace: 'threads' });
  const results = await Promise.all(Array.from({ length: workers }, (_, id) => new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./keyv-worker.mjs', import.meta.url), { workerData: { path, id, workers, count } });
    worker.on('message', resolve);
    worker.on('error', reject);
  })));
  assert.equal(results, Array.from({ length: workers }, () => ({ wrong: 0 })));
  for (let id = 0; id < workers; id++) {
    for (let i = 0; i < count; i++) {
      const key = i % 2 === 0 ? `w${id}:${i}` : `https://example.com/worker/${id}/item/${i}?${'q'.repeat(100)}`;
      assert.equal(await here.get(key), { worker: id, i, text: `value ${i} of worker ${id}` }, key);
    }
  }
  let listed = 0;
  for await (const entry of here.store.iterator('threads')) listed += entry.length === 2 ? 1 : 0;
  assert.is(listed, workers * count);
  const db = new DataStore(path);
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  db.close();
  await here.disconnect();
});

test('cache-manager 7: wrap computes a value once, serves it from the file until its TTL ends, then computes again', async () => {
  const { keyv, db } = open();
  const cache = createCache({ stores: [keyv] });
  let calls = 0;
  const compute = async () => ({ answer: 42, call: ++calls });
  const t0 = 1_900_000_000_000;
  const key = `https://api.example.com/answer?${'x'.repeat(100)}`;
  assert.equal(await at(t0, () => cache.wrap(key, compute, 10_000)), { answer: 42, call: 1 });
  assert.equal(await at(t0 + 9_999, () => cache.wrap(key, compute, 10_000)), { answer: 42, call: 1 });
  assert.is(calls, 1);
  assert.is(db.expiresAt(keyvStoreKey(`keyv:${key}`)), t0 + 10_000, 'in the file, with the TTL');
  assert.equal(await at(t0 + 10_000, () => cache.wrap(key, compute, 10_000)), { answer: 42, call: 2 });
  assert.equal(await cache.get(key), { answer: 42, call: 2 });
  assert.ok(await cache.del(key));
  assert.is(await cache.get(key), undefined);
  await cache.disconnect();
  db.close();
});

test('loading slabkv loads neither slabkv/keyv nor keyv; slabkv/keyv loads no keyv either, and shares slabkv\'s DataStore', () => {
  const loaded = (entry) => JSON.parse(execFileSync(process.execPath, ['-e', `require('${entry}');
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules.keyv.|dist.keyv.cjs$/.test(f))))`], { encoding: 'utf8' }));
  assert.equal(loaded('slabkv'), []);
  const keyvStore = loaded('slabkv/keyv');
  assert.is(keyvStore.length, 1);
  assert.match(keyvStore[0], /dist.keyv\.cjs$/);
  const same = execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    import { KeyvSlabkv } from 'slabkv/keyv';
    import { DataStore } from 'slabkv';
    const require = createRequire(import.meta.url);
    console.log(String(require('slabkv/keyv').KeyvSlabkv === KeyvSlabkv && require('slabkv').DataStore === DataStore));`], { encoding: 'utf8' });
  assert.is(same.trim(), 'true');
});

test.run();
