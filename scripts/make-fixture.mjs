// Writes the golden files of test/fixtures/ for the current format version (2), with the clock pinned so that each
// is the same on every run:
//   tiny-v2.slabkv  (decoded byte by byte in spec/FORMAT.md): create "user:1" {"name":"Ada"}; create "session"
//                   {"user":1} with a 60 s TTL at 2026-01-01T00:00:00Z; close.
//   mixed-v2.slabkv the operations of mixedOperations() below: keys in several scripts, values of many size
//                   classes, TTLs, deletes, and closed while its bucket array is being doubled.
//   spans-v2.slabkv (excerpts in spec/FORMAT.md): 36 records of size class 37 (16 to a span of 3 slabs), of which
//                   the second span's 16 and two of the first's are deleted, so that a 3-slab span has become a FREE
//                   span (its slabs after the first page punched: zeros) and two spans are on the partial list.
// The version 1 golden files (*-v1.slabkv) were written the same way by slabkv 0.1.0, with the version 1 spans
// fixture made of spansOperationsV1(); they are kept as they are, and slabkv upgrades them when it opens them.
// Run: npm run build && node scripts/make-fixture.mjs
import { rmSync } from 'node:fs';
import { DataStore } from 'slabkv';

export const FIXTURE = new URL('../test/fixtures/tiny-v2.slabkv', import.meta.url).pathname;
export const MIXED_FIXTURE = new URL('../test/fixtures/mixed-v2.slabkv', import.meta.url).pathname;
export const SPANS_FIXTURE = new URL('../test/fixtures/spans-v2.slabkv', import.meta.url).pathname;
export const V1_FIXTURES = {
  tiny: new URL('../test/fixtures/tiny-v1.slabkv', import.meta.url).pathname,
  mixed: new URL('../test/fixtures/mixed-v1.slabkv', import.meta.url).pathname,
  spans: new URL('../test/fixtures/spans-v1.slabkv', import.meta.url).pathname,
};
export const PINNED_NOW = Date.UTC(2026, 0, 1);

function withPinnedClock(fn) {
  const realNow = Date.now;
  Date.now = () => PINNED_NOW;
  try { fn(); } finally { Date.now = realNow; }
}

export function makeFixture(path) {
  rmSync(path, { force: true });
  withPinnedClock(() => {
    const db = new DataStore(path);
    db.create('user:1', { name: 'Ada' });
    db.create('session', { user: 1 }, 60);
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

/** The operations that make spans-v2: b0 to b35 (class 37: 12080-byte chunks, 16 to a 3-slab span), then deletes. */
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

if (process.argv[1] === new URL(import.meta.url).pathname) {
  makeFixture(FIXTURE);
  makeMixedFixture(MIXED_FIXTURE);
  makeSpansFixture(SPANS_FIXTURE);
}
