// Writes the golden files of test/fixtures/ for the current format version (3), with the clock pinned so that each
// is the same on every run:
//   tiny-v3.slabkv  (decoded byte by byte in spec/FORMAT.md): create "user:1" {"name":"Ada"}; create "session"
//                   {"user":1} with a 60 s TTL at 2026-01-01T00:00:00Z; close.
//   mixed-v3.slabkv the operations of mixedOperations() below: keys in several scripts, values of many size
//                   classes, TTLs, deletes, and closed while its bucket array is being doubled.
//   spans-v3.slabkv (excerpts in spec/FORMAT.md): 36 records of size class 37 (16 to a span of 3 slabs), of which
//                   the second span's 16 and two of the first's are deleted, so that a 3-slab span has become a FREE
//                   span (its slabs after the first page punched: zeros) and two spans are on the partial list.
//   uncommitted-v3.slabkv and committed-v3.slabkv (excerpts in spec/FORMAT.md): the two creates of tiny, then a
//                   transaction (transactionOperations()) whose process is killed before its commit (the records
//                   it wrote in state 2, those it replaced or deleted in state 3, the header's commit 0), or at the
//                   crash point commit.marked (the same, with commit 1). The fields that name the session that
//                   wrote them (lockWord, ownerPid, the open mark, lastWriteAt, openMount) are zeroed: they would differ on
//                   every run, and a file with busy 1 is rebuilt whatever they say.
// The version 2 golden files (*-v2.slabkv) were written the same way by slabkv 0.2.0, and the version 1 ones
// (*-v1.slabkv) by slabkv 0.1.0, with the version 1 spans fixture made of spansOperationsV1(); they are kept as they
// are: slabkv upgrades them when it opens them (version 2 in place, version 1 by building a new file).
// Run: npm run build && node scripts/make-fixture.mjs
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { DataStore } from 'slabkv';

const fixture = (name) => new URL(`../test/fixtures/${name}`, import.meta.url).pathname;
export const FIXTURE = fixture('tiny-v3.slabkv');
export const MIXED_FIXTURE = fixture('mixed-v3.slabkv');
export const SPANS_FIXTURE = fixture('spans-v3.slabkv');
export const UNCOMMITTED_FIXTURE = fixture('uncommitted-v3.slabkv');
export const COMMITTED_FIXTURE = fixture('committed-v3.slabkv');
export const V2_FIXTURES = { tiny: fixture('tiny-v2.slabkv'), mixed: fixture('mixed-v2.slabkv'), spans: fixture('spans-v2.slabkv') };
export const V1_FIXTURES = { tiny: fixture('tiny-v1.slabkv'), mixed: fixture('mixed-v1.slabkv'), spans: fixture('spans-v1.slabkv') };
export const PINNED_NOW = Date.UTC(2026, 0, 1);

function withPinnedClock(fn) {
  const realNow = Date.now;
  Date.now = () => PINNED_NOW;
  try { fn(); } finally { Date.now = realNow; }
}

function createTiny(db) {
  db.create('user:1', { name: 'Ada' });
  db.create('session', { user: 1 }, 60);
}

export function makeFixture(path) {
  rmSync(path, { force: true });
  withPinnedClock(() => {
    const db = new DataStore(path);
    createTiny(db);
    db.close();
  });
}

/** The operations that make mixed-v1, as [op, key, value?, ttl?]; replayed by the golden test to know the content. */
export function* mixedOperations() {
  const scripts = ['user', 'ключ', '鍵', '😀'];
  for (let i = 0; i < 3700; i++) {
    const key = `${scripts[i % 4]}:${i}`;
    const value = { i, text: 'ab€'.repeat((i * 37) % 240), nested: { even: i % 2 === 0 } };
    yield ['create', key, value, i % 5 === 0 ? 3600 * (1 + (i % 3)) : undefined];
    if (i % 7 === 3) yield ['delete', `${scripts[(i - 1) % 4]}:${i - 1}`];
  }
}

export function makeMixedFixture(path) {
  rmSync(path, { force: true });
  withPinnedClock(() => {
    const db = new DataStore(path);
    for (const [op, key, value, ttl] of mixedOperations()) {
      if (op === 'create') db.create(key, value, ttl);
      else db.delete(key);
    }
    if (!db.stats().rehashing) throw new Error('mixed-v1 is meant to be closed mid-rehash; adjust the operations');
    db.close();
  });
}

/** The operations that made spans-v1 with slabkv 0.1.0: records b0 to b6 (class 27 of version 1), then deletes. */
export function* spansOperationsV1() {
  for (let i = 0; i < 7; i++) yield ['create', `b${i}`, { i, text: 'x'.repeat(13900) }];
  for (const i of [1, 3, 4, 5]) yield ['delete', `b${i}`];
}

/** The operations that make spans-v2 and spans-v3: b0 to b35 (class 37: 12080-byte chunks, 16 to a 3-slab span), then deletes. */
export function* spansOperations() {
  for (let i = 0; i < 36; i++) yield ['create', `b${i}`, { i, text: 'x'.repeat(11000) }];
  for (let i = 16; i < 32; i++) yield ['delete', `b${i}`];
  for (const i of [1, 2]) yield ['delete', `b${i}`];
}

export function makeSpansFixture(path) {
  rmSync(path, { force: true });
  withPinnedClock(() => {
    const db = new DataStore(path);
    for (const [op, key, value] of spansOperations()) {
      if (op === 'create') db.create(key, value);
      else db.delete(key);
    }
    db.close();
  });
}

/**
 * The transaction of uncommitted-v3 and committed-v3, after tiny's two creates: user:1 replaced (its record
 * superseded, state 3; the new one state 2), session deleted (state 3), user:2 created (state 2). Every record
 * fits class 1's 48-byte chunks, so that all of them lie in tiny's one RECORDS span.
 */
export function* transactionOperations() {
  yield ['set', 'user:1', { name: 'Ada L' }];
  yield ['delete', 'session'];
  yield ['create', 'user:2', { name: 'Grace' }];
}

/** Offsets of the header fields that name the session that wrote a file (zeroed in the transaction fixtures). */
const SESSION_FIELDS = [[80, 4], [84, 4], [96, 16], [112, 8], [120, 8], [628, 8], [640, 8]]; // lockWord ownerPid openBootId openDevice openInode lastWriteAt openMount

/**
 * makeTransactionFixture writes uncommitted-v3 (committed false) or committed-v3 (true): a child process makes
 * tiny's records and runs transactionOperations() in one transaction, and is killed inside it before its commit,
 * or at the crash point commit.marked; the fields of SESSION_FIELDS are then zeroed.
 */
export function makeTransactionFixture(path, committed) {
  rmSync(path, { force: true });
  const env = { ...process.env };
  if (committed) env.SLABKV_CRASH_POINT = 'commit.marked';
  else delete env.SLABKV_CRASH_POINT;
  const child = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--die-in-transaction', path], { env, encoding: 'utf8' });
  if (child.signal !== 'SIGKILL') throw new Error(`the transaction fixture's writer was meant to be killed: ${child.status} ${child.stderr}`);
  const bytes = readFileSync(path);
  for (const [offset, size] of SESSION_FIELDS) bytes.fill(0, offset, offset + size);
  writeFileSync(path, bytes);
}

function dieInTransaction(path) {
  withPinnedClock(() => {
    const db = new DataStore(path);
    createTiny(db);
    db.transaction(() => {
      for (const [op, key, value] of transactionOperations()) {
        if (op === 'set') db.set(key, value);
        else if (op === 'create') db.create(key, value);
        else db.delete(key);
      }
      if (process.env.SLABKV_CRASH_POINT === undefined) process.kill(process.pid, 'SIGKILL'); // before the commit
    });
  });
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  if (process.argv[2] === '--die-in-transaction') {
    dieInTransaction(process.argv[3]);
  } else {
    makeFixture(FIXTURE);
    makeMixedFixture(MIXED_FIXTURE);
    makeSpansFixture(SPANS_FIXTURE);
    makeTransactionFixture(UNCOMMITTED_FIXTURE, false);
    makeTransactionFixture(COMMITTED_FIXTURE, true);
  }
}
