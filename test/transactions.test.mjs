// set, get, update, transaction and clear: their contracts, what a throw undoes, and the limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { DataStore } from 'slabkv';
import { scratch, throwsCode, withClock } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());
let n = 0;
const fresh = (options) => new DataStore(tmp.file(`tx-${n++}.slabkv`), options);

test('set creates a key or replaces its value; without a ttl the key no longer expires', () => {
  const db = fresh();
  db.set('a', { v: 1 });
  assert.equal(db.get('a'), { v: 1 });
  db.set('a', { v: 2, pad: 'x'.repeat(3000) }); // another size class
  assert.equal(db.get('a'), { v: 2, pad: 'x'.repeat(3000) });
  db.set('a', { v: 3 }, 60);
  const expiresAt = db.expiresAt('a');
  assert.ok(expiresAt > Date.now() + 50_000 && expiresAt <= Date.now() + 60_000);
  db.set('a', { v: 4 });
  assert.is(db.expiresAt('a'), null, 'set without a ttl clears the expiry, as Redis SET');
  db.set('b', { v: 1 }, { expiresAt: Date.now() + 5000 });
  assert.ok(db.expiresAt('b') !== null);
  assert.is(db.count, 2);
  assert.ok(db.verify().ok);
  db.close();
});

test('set over an expired key makes it live again; get of a missing or expired key is undefined', () => {
  const db = fresh();
  db.set('t', { v: 1 }, 1);
  assert.is(db.get('nothing'), undefined);
  withClock(2000, () => {
    assert.is(db.get('t'), undefined);
    db.set('t', { v: 2 });
    assert.equal(db.get('t'), { v: 2 });
  });
  db.close();
});

test('a refused set or get changes nothing and says why', () => {
  const db = fresh();
  db.set('a', { v: 1 });
  throwsCode(() => db.get(''), 'KEY_INVALID');
  throwsCode(() => db.get('k'.repeat(33)), 'KEY_TOO_LONG');
  throwsCode(() => db.set('a', [1]), 'VALUE_INVALID');
  throwsCode(() => db.set('a', { big: 'x'.repeat(16400) }), 'VALUE_TOO_LARGE');
  throwsCode(() => db.set('a', { v: 2 }, 0), 'TTL_INVALID');
  throwsCode(() => db.set('a', { v: 2 }, { expiresAt: 1 }), 'TTL_INVALID');
  assert.equal(db.get('a'), { v: 1 });
  assert.is(db.expiresAt('a'), null);
  db.close();
});

test('update reads, changes and writes one key atomically; it keeps the expiry unless given one', () => {
  const db = fresh();
  assert.equal(db.update('c', (v) => ({ n: (v?.n ?? 0) + 1 })), { n: 1 });
  db.update('c', (v) => ({ n: v.n + 1 }));
  assert.equal(db.get('c'), { n: 2 });
  db.set('t', { n: 1 }, 100);
  const expiresAt = db.expiresAt('t');
  db.update('t', (v) => ({ n: v.n + 1 }));
  assert.is(db.expiresAt('t'), expiresAt, 'the expiry is kept');
  db.update('t', (v) => ({ n: v.n + 1 }), 1000);
  assert.ok(db.expiresAt('t') > expiresAt);
  assert.is(db.update('t', () => undefined), undefined);
  assert.is(db.has('t'), false, 'undefined deletes the key');
  assert.is(db.update('absent', () => undefined), undefined);
  assert.is(db.has('absent'), false, 'and leaves an absent key absent');
  db.close();
});

test('update keeps the expiry of the value fn was given, even when fn runs past it: the key does not become permanent', () => {
  const db = fresh();
  const real = Date.now;
  let clock = real();
  Date.now = () => clock;
  try {
    db.set('session', { n: 1 }, { expiresAt: clock + 1000 });
    const expiresAt = db.expiresAt('session');
    db.update('session', (v) => { clock += 5000; return { n: v.n + 1 }; }); // fn took long: the key expired meanwhile
    clock -= 5000;
    assert.is(db.expiresAt('session'), expiresAt, 'stored with the expiry it had');
    clock += 5000;
    assert.is(db.get('session'), undefined, 'and expired at that time');
  } finally {
    Date.now = real;
  }
  db.close();
});

test('inside a transaction every expiry is judged at one instant: reads, create, delete, keys and count agree', () => {
  const db = fresh();
  const real = Date.now;
  let clock = real();
  Date.now = () => clock;
  try {
    db.set('short', { n: 1 }, { expiresAt: clock + 1000 });
    db.transaction(() => {
      clock += 5000; // the transaction runs long: the key expires while it runs
      const seen = [db.has('short'), db.get('short') !== undefined, [...db.keys()].includes('short'), db.count === 1];
      assert.equal(seen, [true, true, true, true], 'reads judge the key at the transaction\'s instant, as its changes do');
      throwsCode(() => db.create('short', { n: 2 }), 'KEY_EXISTS');
    });
  } finally {
    Date.now = real;
  }
  db.close();
});

test('update: fn may use the store; a throw, a bad value or a promise changes nothing', () => {
  const db = fresh();
  db.set('c', { n: 1 });
  db.update('c', (v) => { db.set('side', { seen: v.n }); return { n: v.n + 1 }; });
  assert.equal(db.get('side'), { seen: 1 });
  assert.throws(() => db.update('c', () => { db.set('side', { seen: 99 }); throw new Error('no'); }), /no/);
  assert.equal(db.get('c'), { n: 2 });
  assert.equal(db.get('side'), { seen: 1 });
  throwsCode(() => db.update('c', () => [1]), 'VALUE_INVALID');
  let ran = false;
  throwsCode(() => db.update('c', async () => { ran = true; return { n: 0 }; }), 'TRANSACTION_INVALID');
  assert.is(ran, false, 'an async function is refused before it runs');
  throwsCode(() => db.update('c', () => Promise.resolve({ n: 0 })), 'TRANSACTION_INVALID');
  // A generator function's body would run later, outside the transaction; its generator is no value to store.
  throwsCode(() => db.update('c', function* () { ran = true; yield { n: 0 }; }), 'TRANSACTION_INVALID');
  throwsCode(() => db.transaction(function* () { ran = true; db.set('c', { n: 0 }); }), 'TRANSACTION_INVALID');
  assert.is(ran, false);
  throwsCode(() => db.update('c', 'not a function'), 'OPTION_INVALID');
  throwsCode(() => db.update('c', (v) => v, 0), 'TTL_INVALID');
  assert.equal(db.get('c'), { n: 2 });
  db.close();
});

test('transaction commits every change at once and returns what fn returns', () => {
  const db = fresh();
  db.set('keep', { v: 0 });
  db.set('gone', { v: 0 });
  const result = db.transaction(() => {
    db.create('new', { v: 1 });
    db.set('keep', { v: 1 });
    db.delete('gone');
    assert.equal(db.get('keep'), { v: 1 }, 'reads inside see the transaction');
    assert.is(db.has('gone'), false);
    assert.equal([...db.keys()].sort(), ['keep', 'new']);
    assert.is(db.count, 2);
    return 42;
  });
  assert.is(result, 42);
  assert.equal([...db.entries()].sort(), [['keep', { v: 1 }], ['new', { v: 1 }]]);
  assert.ok(db.verify().ok);
  db.close();
});

test('a transaction that throws, its own error or an uncaught refusal, changes nothing', () => {
  const db = fresh();
  for (let i = 0; i < 100; i++) db.set(`k${i}`, { i });
  const before = [...db.entries()];
  assert.throws(() => db.transaction(() => {
    for (let i = 0; i < 100; i += 2) db.delete(`k${i}`);
    for (let i = 1; i < 100; i += 2) db.set(`k${i}`, { i: -i, pad: 'p'.repeat(i * 30) });
    for (let i = 100; i < 3000; i++) db.create(`k${i}`, { i }); // the index doubles inside the transaction
    throw new Error('changed my mind');
  }), /changed my mind/);
  assert.equal([...db.entries()], before);
  throwsCode(() => db.transaction(() => {
    db.set('k1', { i: 'changed' });
    db.create('k2', { i: 'again' }); // KEY_EXISTS, not caught
  }), 'KEY_EXISTS');
  assert.equal(db.get('k1'), { i: 1 });
  assert.is(db.count, 100);
  assert.ok(db.verify().ok);
  const report = db.verify();
  assert.is(report.records, 100);
  db.close();
});

test('a refusal caught inside a transaction changes nothing by itself, and the transaction goes on', () => {
  const db = fresh();
  db.set('a', { v: 1 });
  db.transaction(() => {
    db.set('b', { v: 2 });
    throwsCode(() => db.create('a', { v: 9 }), 'KEY_EXISTS');
    throwsCode(() => db.delete('zz'), 'KEY_NOT_FOUND');
  });
  assert.equal(db.get('a'), { v: 1 });
  assert.equal(db.get('b'), { v: 2 });
  db.close();
});

test('a nested transaction is a savepoint: its throw undoes only its own changes', () => {
  const db = fresh();
  db.transaction(() => {
    db.set('outer', { v: 1 });
    assert.throws(() => db.transaction(() => {
      db.set('inner', { v: 1 });
      db.set('outer', { v: 2 });
      db.delete('outer');
      throw new Error('inner fails');
    }), /inner fails/);
    assert.equal(db.get('outer'), { v: 1 });
    assert.is(db.has('inner'), false);
    db.transaction(() => db.set('inner2', { v: 1 }));
  });
  assert.equal([...db.keys()].sort(), ['inner2', 'outer']);
  db.close();
});

test('inside a transaction: close is REENTRANT_CALL, verify and flush too; an async fn never runs', () => {
  const db = fresh();
  const other = new DataStore(db.path); // another handle on the same store, same thread: part of the transaction
  db.transaction(() => {
    db.set('a', { v: 1 });
    other.set('b', { v: 1 });
    assert.equal(other.get('a'), { v: 1 });
    throwsCode(() => db.close(), 'REENTRANT_CALL');
    throwsCode(() => other.close(), 'REENTRANT_CALL');
    throwsCode(() => db.verify(), 'REENTRANT_CALL');
    throwsCode(() => db.flush(), 'REENTRANT_CALL');
  });
  assert.equal(db.get('b'), { v: 1 });
  let ran = false;
  throwsCode(() => db.transaction(async () => { ran = true; }), 'TRANSACTION_INVALID');
  throwsCode(() => db.transaction(() => { db.set('c', { v: 1 }); return Promise.resolve(1); }), 'TRANSACTION_INVALID');
  assert.is(ran, false);
  assert.is(db.has('c'), false, 'a transaction that returned a promise is undone');
  throwsCode(() => db.transaction(), 'OPTION_INVALID');
  other.close();
  db.close();
});

test('clear removes every key at once; inside a transaction that throws it is undone', () => {
  const db = fresh();
  for (let i = 0; i < 20000; i++) db.set(`c${i}`, { i }, i % 2 === 0 ? 3600 : undefined);
  assert.throws(() => db.transaction(() => { db.clear(); assert.is(db.count, 0); db.set('x', {}); throw new Error('undo'); }), /undo/);
  assert.is(db.count, 20000);
  assert.equal(db.get('c19999'), { i: 19999 });
  assert.ok(db.verify().ok);
  db.clear();
  assert.is(db.count, 0);
  assert.equal([...db.keys()], []);
  assert.ok(db.verify().ok);
  db.set('after', { v: 1 });
  db.close();
  const again = new DataStore(db.path);
  assert.equal([...again.keys()], ['after']);
  assert.ok(again.verify().ok);
  again.close();
});

test('keys() inside a transaction that replaces each key it lists ends: records written after it began are not listed', () => {
  const db = fresh({ maxFileSize: 4096 + 65536 * 64 });
  for (let i = 0; i < 2000; i++) db.set(`r${i}`, { i });
  for (const key of db.keys()) db.set(key, { i: -2, pad: 'r'.repeat(50) });
  const seen = new Set();
  let steps = 0;
  db.transaction(() => {
    for (const key of db.keys()) {
      seen.add(key);
      if (++steps > 4000) throw new Error(`keys() went on past ${steps - 1} steps over 2000 keys`);
      db.set(key, { i: -1, pad: 'r'.repeat(200) });
    }
  });
  assert.is(seen.size, 2000);
  assert.is(db.count, 2000);
  assert.equal(db.get('r7'), { i: -1, pad: 'r'.repeat(200) });
  assert.ok(db.verify().ok);
  db.close();
});

test('a transaction holds 1,000,000 changes', () => {
  const db = fresh();
  db.transaction(() => { for (let i = 0; i < 1_000_000; i++) db.create(`m${i}`, { i }); });
  assert.is(db.count, 1_000_000);
  assert.equal(db.get('m999999'), { i: 999999 });
  db.close();
});

test('a key changed many times inside one transaction takes the space of one value, and a throw still undoes it all', () => {
  const db = fresh({ maxFileSize: 1024 * 1024 }); // 200,000 values of the counter would need some 12 MiB
  db.set('counter', { n: 0 });
  db.set('other', { v: 'before' });
  db.transaction(() => {
    for (let i = 0; i < 200_000; i++) db.update('counter', (c) => ({ n: c.n + 1 }));
    for (let i = 0; i < 1000; i++) { db.set('other', { v: i }); db.create(`t${i}`, { i }); db.delete(`t${i}`); }
  });
  assert.equal(db.get('counter'), { n: 200_000 });
  assert.equal(db.get('other'), { v: 999 });
  assert.is(db.count, 2);
  assert.throws(() => db.transaction(() => {
    for (let i = 0; i < 200_000; i++) db.set('counter', { n: -i });
    db.create('new', { v: 1 });
    throw new Error('changed my mind');
  }), /changed my mind/);
  assert.equal(db.get('counter'), { n: 200_000 });
  assert.is(db.has('new'), false);
  assert.ok(db.verify().ok);
  db.close();
  const again = new DataStore(db.path);
  assert.equal(again.get('counter'), { n: 200_000 });
  assert.ok(again.verify().ok);
  again.close();
});

test('records a transaction wrote and freed, their span then reused by another size class, are left alone at its commit and undo', () => {
  // Three spans of 48-byte chunks written and deleted inside the transaction: two of them become FREE and are
  // taken by 32-byte chunks, so an offset where a freed record began is now inside another record (its key's
  // length, 2, reads as state 2).
  const spanOf48 = 1364;
  const keys = Array.from({ length: 20 }, (_, i) => `${String.fromCharCode(97 + (i % 26))}${i % 10}`);
  for (const ending of ['commit', 'throw']) {
    const db = fresh();
    db.set('before', { pad: 'b'.repeat(300) }); // in a class of its own
    const run = () => db.transaction(() => {
      for (let i = 0; i < 3 * spanOf48; i++) db.create(`k${i}`, { v: 'x'.repeat(10) });
      for (let i = 0; i < 3 * spanOf48; i++) db.delete(`k${i}`);
      for (const key of keys) db.create(key, {});
      if (ending === 'throw') throw new Error('changed my mind');
    });
    if (ending === 'throw') assert.throws(run, /changed my mind/);
    else run();
    const expected = ending === 'throw' ? ['before'] : ['before', ...keys];
    assert.equal([...db.keys()].sort(), [...expected].sort());
    for (const key of expected.slice(1)) assert.equal(db.get(key), {});
    const report = db.verify();
    assert.ok(report.ok, report.problems.join('; '));
    db.set('after', { v: 1 }); // the store takes changes
    db.close();
    const again = new DataStore(db.path);
    assert.is(again.count, expected.length + 1);
    assert.ok(again.verify().ok);
    again.close();
  }
});

test('a transaction past the file limit fails with STORE_FULL and changes nothing', () => {
  const db = fresh({ maxFileSize: 4096 + 65536 * 8 });
  for (let i = 0; i < 100; i++) db.set(`s${i}`, { i });
  throwsCode(() => db.transaction(() => {
    for (let i = 0; ; i++) db.set(`s${i % 200}`, { i, pad: 'f'.repeat(2000) });
  }), 'STORE_FULL');
  assert.is(db.count, 100);
  for (let i = 0; i < 100; i++) assert.equal(db.get(`s${i}`), { i });
  assert.ok(db.verify().ok);
  db.set('after', { v: 1 }); // and the store goes on
  db.close();
});

test('typed values: get and read return the type the store was made for', () => {
  /** @type {DataStore<{ name: string }>} */
  const db = fresh();
  db.set('u', { name: 'ada' });
  assert.is(db.get('u').name, 'ada');
  db.close();
});


test('verify reports a record left in state 2 or 3 in a store between transactions', async () => {
  const format = await import('slabkv/format');
  for (const state of [format.RECORD_UNCOMMITTED, format.RECORD_SUPERSEDED]) {
    const path = tmp.file(`unsettled-${state}.slabkv`);
    const db = new DataStore(path);
    db.set('unsettled-key', { v: 1 });
    db.set('other', { v: 2 });
    db.close();
    const bytes = readFileSync(path);
    const record = bytes.indexOf('unsettled-key') - format.RECORD_HEADER_SIZE;
    assert.is(bytes.readUInt32LE(record), format.RECORD_LIVE);
    bytes.writeUInt32LE(state, record); // the state lies outside the record's checksum
    writeFileSync(path, bytes);
    const again = new DataStore(path); // closed cleanly: trusted as it is
    const report = again.verify();
    assert.not.ok(report.ok);
    assert.ok(report.details.some((d) => d.kind === 'damaged-record' && d.offset === record && d.message.includes(`state ${state}`)), JSON.stringify(report.details));
    again.close();
  }
});


test('update whose fn writes the key and returns undefined leaves the key absent, as it says', () => {
  const db = fresh();
  assert.is(db.update('k', () => { db.set('k', { a: 1 }); return undefined; }), undefined);
  assert.is(db.has('k'), false);
  db.set('j', { a: 1 });
  assert.is(db.update('j', () => { db.delete('j'); db.create('j', { a: 2 }); return undefined; }), undefined);
  assert.is(db.has('j'), false);
  assert.is(db.count, 0);
  db.close();
});

test('a refused promise that rejects is not left unhandled: the refusal is the one error the caller gets', async () => {
  const db = fresh();
  const unhandled = [];
  const note = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', note);
  try {
    throwsCode(() => db.transaction(() => { db.set('a', {}); return Promise.reject(new Error('late')); }), 'TRANSACTION_INVALID');
    throwsCode(() => db.update('b', () => Promise.reject(new Error('late'))), 'TRANSACTION_INVALID');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(unhandled, []);
    assert.is(db.count, 0);
  } finally {
    process.off('unhandledRejection', note);
    db.close();
  }
});


test('a change joined to another handle\'s transaction keeps to the maxFileSize of the handle that makes it', () => {
  const path = tmp.file(`tx-${n++}.slabkv`);
  const large = new DataStore(path);
  const small = new DataStore(path, { maxFileSize: 135_168 });
  const limit = small.stats().maxFileBytes;
  let made = 0;
  throwsCode(() => large.transaction(() => {
    for (let i = 0; i < 2000; i++) { small.create(`s${i}`, { pad: 'x'.repeat(200) }); made++; }
  }), 'STORE_FULL');
  assert.ok(made > 0 && made < 2000, `${made} creates through the small handle`);
  assert.is(large.count, 0);
  assert.ok(large.stats().fileBytes <= limit, `the file is ${large.stats().fileBytes} bytes; the small handle allows ${limit}`);
  large.transaction(() => { for (let i = 0; i < 2000; i++) large.create(`l${i}`, { pad: 'x'.repeat(200) }); });
  assert.is(large.count, 2000, 'the large handle keeps its own limit');
  assert.ok(large.verify().ok);
  small.close();
  large.close();
});

test.run();
