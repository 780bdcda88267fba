import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync, mkdirSync, symlinkSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DataStore } from 'slabkv';
import { Header } from 'slabkv/format';
import { atTime, scratch, throwsCode, withClock } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());

const valueFor = (i) => ({ id: i, name: `user ${i}`, tags: ['a', 'b'], score: i / 7 });

test('values and TTLs persist across close and reopen', () => {
  const path = tmp.file('persist.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 5000; i++) db.create(`user:${i}`, valueFor(i), i % 2 ? 3600 : undefined);
  db.create('short', { a: 1 }, 5);
  db.close();
  const again = new DataStore(path);
  for (let i = 0; i < 5000; i++) assert.equal(again.read(`user:${i}`), valueFor(i));
  assert.ok(again.has('short'));
  withClock(5_001, () => assert.not.ok(again.has('short'))); // the expiry time was stored, not the TTL
  withClock(3_600_001, () => {
    assert.not.ok(again.has('user:1'));
    assert.ok(again.has('user:2'));
  });
  assert.is(again.stats().recovered, null); // closed cleanly: opened without recovery
  again.close();
});

test('expired keys are gone for read, has and delete; create on an expired key succeeds', () => {
  const db = new DataStore(tmp.file('ttl.slabkv'));
  db.create('k', { v: 1 }, 10);
  assert.equal(db.read('k'), { v: 1 });
  // The clock is set from the stored expiry, so how long the lines above took does not matter.
  const expiresAt = db.expiresAt('k');
  atTime(expiresAt - 1, () => assert.ok(db.has('k')));
  atTime(expiresAt, () => {
    assert.not.ok(db.has('k'));
    throwsCode(() => db.read('k'), 'KEY_NOT_FOUND');
    throwsCode(() => db.readText('k'), 'KEY_NOT_FOUND');
    throwsCode(() => db.delete('k'), 'KEY_NOT_FOUND');
    db.create('k', { v: 2 });
    assert.equal(db.read('k'), { v: 2 });
  });
  assert.equal(db.read('k'), { v: 2 }); // no TTL on the new value
  db.close();
});

test('a real second passes: a 1-second TTL expires by the clock', async () => {
  const db = new DataStore(tmp.file('realtime.slabkv'));
  db.create('k', { v: 1 }, 1);
  const at = db.expiresAt('k');
  atTime(at - 1, () => assert.ok(db.has('k'), 'live until its expiry time'));
  while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, at - Date.now())); // until the real clock is there
  assert.not.ok(db.has('k'));
  db.close();
});

/** The header's record of the last count of expired records (spec section 9): countedAt changes only with a pass. */
function lastCount(path) {
  const header = Buffer.alloc(4096);
  const fd = openSync(path, 'r');
  readSync(fd, header, 0, 4096, 0);
  closeSync(fd);
  return { expired: header.readUInt32LE(Header.expiredCount), at: Number(header.readBigUInt64LE(Header.countedAt)), next: Number(header.readBigUInt64LE(Header.nextExpiry)) };
}

test('count passes over the index only when an expiry time has passed since the last count', () => {
  const path = tmp.file('count.slabkv');
  const db = new DataStore(path);
  const T = Date.UTC(2031, 0, 1);
  atTime(T, () => {
    for (let i = 0; i < 3000; i++) db.create(`k:${i}`, { i }, i % 3 === 0 ? 60 + (i % 7) : undefined); // 60 to 66 s
    assert.is(db.count, 3000);
  });
  assert.equal(lastCount(path), { expired: 0, at: 0, next: T + 60_000 }, 'known from the inserts: no pass');
  atTime(T + 59_999, () => assert.is(db.count, 3000));
  assert.is(lastCount(path).at, 0, 'no expiry time had passed: no pass');
  const dueAt60 = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 3 === 0 && i % 7 === 0).length;
  atTime(T + 60_000, () => assert.is(db.count, 3000 - dueAt60));
  assert.equal(lastCount(path), { expired: dueAt60, at: T + 60_000, next: T + 61_000 }, 'one pass, at the first expiry');
  atTime(T + 60_500, () => {
    assert.is(db.count, 3000 - dueAt60);
    db.create('late', { a: 1 }, 1); // expires at T + 61.5 s: after nextExpiry, nothing to note
    db.create('early', { a: 1 }); // no TTL
  });
  assert.is(lastCount(path).at, T + 60_000, 'no pass before the next expiry time');
  atTime(T + 60_999, () => assert.is(db.count, 3002 - dueAt60));
  assert.is(lastCount(path).at, T + 60_000);
  db.close();
});

test('count is exact through creates, deletes, sweeps, clocks set back and reopening', () => {
  // Checked against a scan of the records (keys()), which does not use the count's header fields.
  const path = tmp.file('count-model.slabkv');
  let db = new DataStore(path);
  let now = Date.UTC(2032, 0, 1);
  let seed = 7;
  const next = (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % n; };
  let passes = 0;
  for (let step = 0; step < 5000; step++) {
    atTime(now, () => {
      const key = `k:${next(800)}`;
      const action = next(100);
      if (action < 50 && !db.has(key)) {
        const ttl = next(3) === 0 ? undefined : 1 + next(30);
        db.create(key, { step }, ttl);
      } else if (action < 70 && db.has(key)) {
        db.delete(key);
      } else if (action < 85) {
        now += next(3000);
      } else if (action < 87) {
        now -= next(20_000); // a clock set back: expired records not yet reclaimed are live again
      } else if (action < 88) {
        db.close();
        db = new DataStore(path);
      }
      const countedAt = lastCount(path).at;
      assert.is(db.count, [...db.keys()].length, `step ${step}`);
      if (lastCount(path).at !== countedAt) passes++;
    });
  }
  assert.ok(passes > 50 && passes < 2500, `${passes} passes over the index in 5000 counts`);
  db.close();
});

test('expired space is reclaimed by writes without anyone reading the keys', () => {
  const db = new DataStore(tmp.file('sweep.slabkv'));
  for (let i = 0; i < 20000; i++) db.create(`old:${i}`, valueFor(i), 60);
  const size = statSync(db.path).size;
  withClock(61_000, () => {
    for (let i = 0; i < 20000; i++) db.create(`new:${i}`, valueFor(i));
    assert.is(db.stats().keys, 20000, 'only the new keys are live');
  });
  assert.is(statSync(db.path).size, size, 'the expired records\' chunks were reused');
  db.close();
});

test('churn: many rounds of create and delete do not grow the file', () => {
  const db = new DataStore(tmp.file('churn.slabkv'));
  const round = (r) => {
    for (let i = 0; i < 2000; i++) db.create(`k:${i}`, { r, i, pad: 'x'.repeat((i * 37) % 900) });
    for (let i = 0; i < 2000; i++) db.delete(`k:${i}`);
  };
  round(0);
  round(1);
  const size = statSync(db.path).size;
  for (let r = 2; r < 30; r++) round(r);
  assert.is(statSync(db.path).size, size);
  assert.is(db.stats().keys, 0);
  db.close();
});

test('STORE_FULL: a small store fills up within its cap, keeps working, and deletes make room', () => {
  const cap = 2 * 1024 * 1024;
  const path = tmp.file('full.slabkv');
  const db = new DataStore(path, { maxFileSize: cap });
  let stored = 0;
  let err;
  for (; stored < 1_000_000; stored++) {
    try { db.create(`k${stored}`, { pad: 'y'.repeat(200) }); } catch (e) { err = e; break; }
  }
  assert.ok(err, 'the store filled up');
  assert.is(err.code, 'STORE_FULL');
  assert.match(err.message, String(cap - ((cap - 4096) % 65536)));
  assert.ok(statSync(path).size <= cap, `file ${statSync(path).size} within cap ${cap}`);
  assert.is(db.stats().keys, stored);
  throwsCode(() => db.create('another', { pad: 'y'.repeat(200) }), 'STORE_FULL');
  assert.not.ok(db.has('another'));
  assert.equal(db.read('k0'), { pad: 'y'.repeat(200) }); // the store still reads
  // 'another' needs a larger size class than the k… keys (241 bytes against 236 to 239), so it needs a slab that
  // deletes have emptied: 1000 deletes empty the first slabs, which any size class may then use.
  for (let i = 0; i < 1000; i++) db.delete(`k${i}`);
  db.create('another', { pad: 'y'.repeat(200) });
  assert.ok(statSync(path).size <= cap);
  db.close();
  const again = new DataStore(path, { maxFileSize: cap });
  assert.is(again.stats().keys, stored - 1000 + 1);
  again.close();
});

test('a foreign file is refused with FILE_INVALID and left byte-for-byte unchanged', () => {
  const samples = {
    'text.txt': Buffer.from('hello, this is not a store\n'.repeat(500)),
    'zeros.bin': Buffer.alloc(70000),
    'short.bin': Buffer.from([0x89, 0x50]),
    'png.bin': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]),
  };
  for (const [name, bytes] of Object.entries(samples)) {
    const path = tmp.file(name);
    writeFileSync(path, bytes);
    const mtime = statSync(path).mtimeMs;
    throwsCode(() => new DataStore(path), 'FILE_INVALID');
    assert.ok(readFileSync(path).equals(bytes), `${name} unchanged`);
    assert.is(statSync(path).mtimeMs, mtime);
  }
});

test('a directory is FILE_INVALID; a missing folder is IO_ERROR', () => {
  const dir = join(tmp.dir, 'a-folder');
  mkdirSync(dir);
  throwsCode(() => new DataStore(dir), 'FILE_INVALID');
  const err = throwsCode(() => new DataStore(join(tmp.dir, 'no', 'such', 'folder', 'x.slabkv')), 'IO_ERROR');
  assert.is(err.cause.code, 'ENOENT');
});

test('an empty file becomes a new store; a new file gets mode 0600', () => {
  const path = tmp.file('empty.slabkv');
  writeFileSync(path, '');
  const db = new DataStore(path);
  db.create('k', { a: 1 });
  db.close();
  assert.equal(new DataStore(path).read('k'), { a: 1 });
  const created = tmp.file('new.slabkv');
  new DataStore(created).close();
  assert.is(statSync(created).mode & 0o777, 0o600);
});

test('symlinks and relative paths name one store', () => {
  const path = tmp.file('real.slabkv');
  const link = tmp.file('link.slabkv');
  const db = new DataStore(path);
  symlinkSync(path, link);
  const viaLink = new DataStore(link);
  const viaRelative = new DataStore(relative(process.cwd(), path));
  assert.is(viaLink.path, db.path);
  assert.is(viaRelative.path, db.path);
  db.create('k', { a: 1 });
  assert.equal(viaLink.read('k'), { a: 1 });
  db.close(); viaLink.close(); viaRelative.close();
});

test('default location: $XDG_DATA_HOME/slabkv/default.slabkv, folders created', () => {
  const saved = process.env.XDG_DATA_HOME;
  process.env.XDG_DATA_HOME = join(tmp.dir, 'xdg', 'data');
  try {
    const db = new DataStore();
    assert.is(db.path, join(tmp.dir, 'xdg', 'data', 'slabkv', 'default.slabkv'));
    db.create('k', { a: 1 });
    db.close();
    assert.ok(existsSync(join(tmp.dir, 'xdg', 'data', 'slabkv', 'default.slabkv')));
    assert.is(statSync(join(tmp.dir, 'xdg', 'data', 'slabkv')).mode & 0o777, 0o700);
    assert.equal(new DataStore().read('k'), { a: 1 });
  } finally {
    if (saved === undefined) delete process.env.XDG_DATA_HOME; else process.env.XDG_DATA_HOME = saved;
  }
});

test('the bucket array grows without losing or duplicating a key', () => {
  const db = new DataStore(tmp.file('grow.slabkv'));
  const count = 60000; // 4096 buckets doubled four times
  for (let i = 0; i < count; i++) {
    db.create(`g:${i}`, { i });
    if (i % 7 === 3) db.delete(`g:${i - 1}`);
  }
  const stats = db.stats();
  assert.ok(stats.buckets >= 65536, `buckets ${stats.buckets}`);
  let live = 0;
  for (let i = 0; i < count; i++) {
    const deleted = i % 7 === 2 && i + 1 < count;
    assert.is(db.has(`g:${i}`), !deleted, `g:${i}`);
    if (!deleted) { live++; assert.equal(db.read(`g:${i}`), { i }); }
  }
  assert.is(stats.keys, live);
  db.close();
});

test('keys(), entries(), count and expiresAt see live keys only, exactly', () => {
  const db = new DataStore(tmp.file('iterate.slabkv'));
  for (let i = 0; i < 3000; i++) db.create(`${i % 2 ? 'odd' : 'even'}:${i}`, { i }, i % 3 === 0 ? 100 : undefined);
  for (let i = 0; i < 3000; i += 5) db.delete(`${i % 2 ? 'odd' : 'even'}:${i}`);
  const live = new Set();
  for (let i = 0; i < 3000; i++) if (i % 5 !== 0) live.add(`${i % 2 ? 'odd' : 'even'}:${i}`);
  assert.equal(new Set(db.keys()), live);
  assert.is([...db.keys()].length, live.size, 'each key once');
  assert.equal(new Set(db.keys({ prefix: 'odd:' })), new Set([...live].filter((k) => k.startsWith('odd:'))));
  for (const [key, value] of db.entries({ prefix: 'even:1' })) assert.is(`even:${value.i}`, key);
  assert.is(db.count, live.size);
  assert.is(db.stats().keys, live.size);
  assert.is(db.expiresAt('odd:1'), null);
  const expiry = db.expiresAt('odd:3');
  assert.ok(expiry > Date.now() + 60_000 && expiry <= Date.now() + 100_000);
  withClock(100_001, () => {
    const left = [...live].filter((k) => Number(k.split(':')[1]) % 3 !== 0);
    assert.equal(new Set(db.keys()), new Set(left));
    assert.is(db.count, left.length, 'expired keys are not counted, though not yet reclaimed');
    assert.is(db.stats().records, live.size);
    throwsCode(() => db.expiresAt('odd:3'), 'KEY_NOT_FOUND');
  });
  db.close();
});

test('keys() goes on through changes made while it iterates', () => {
  const db = new DataStore(tmp.file('iterate-change.slabkv'));
  for (let i = 0; i < 5000; i++) db.create(`k:${i}`, { i });
  const seen = new Set();
  let n = 0;
  for (const key of db.keys()) {
    assert.not.ok(seen.has(key), `${key} seen twice`);
    seen.add(key);
    if (n++ % 10 === 0) db.create(`new:${n}`, { n });
  }
  for (let i = 0; i < 5000; i++) assert.ok(seen.has(`k:${i}`), `k:${i} seen`);
  db.close();
});

test('keys that differ only in their last bytes, or are prefixes of each other, are told apart', () => {
  // Lookups compare keys four bytes at a time; the last word is masked to the key's length, so neither the bytes
  // of a longer key looked up before nor the bytes after a record's key may count.
  const db = new DataStore(join(tmp.dir, 'prefixes.slabkv'));
  const keys = [];
  for (let length = 1; length <= 32; length++) keys.push('abcdefghijklmnopqrstuvwxyz012345'.slice(0, length));
  for (let length = 1; length <= 9; length++) keys.push('é'.repeat(length), `${'x'.repeat(length - 1)}\u0000`);
  for (const key of keys.filter((_, i) => i % 2 === 0)) db.create(key, { key });
  for (let round = 0; round < 2; round++) {
    for (const key of [...keys].reverse().concat(keys)) {
      const stored = keys.indexOf(key) % 2 === 0;
      assert.is(db.has(key), stored, `has ${JSON.stringify(key)}`);
      if (stored) assert.equal(db.read(key), { key });
      else throwsCode(() => db.read(key), 'KEY_NOT_FOUND');
    }
  }
  db.close();
});

test.run();
