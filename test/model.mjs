// The model test's operations and oracle, shared by test/model.test.mjs and the process its crash countdown kills
// (test/model-child.mjs): one seed gives one sequence of operations in both, against stores that start empty.
//
// run drives a store through random creates, sets, updates, gets, reads, has, deletes, expiresAt, transactions
// (committed and undone), clears and clock moves, checking every answer against a Map of what it must hold. The
// clock is Date.now replaced by a counter that starts at START and moves only by the operations' clock moves, so
// that every expiry is the same instant in every process that replays the seed.
import * as assert from 'uvu/assert';
import { closeSync, openSync, readSync } from 'node:fs';
import { DataStore, DataStoreError } from 'slabkv';

const START = Date.UTC(2030, 0, 1);
export const CAPACITY = 4096; // MIN_TABLE_CAPACITY: the first array
const DOUBLE_AT = (CAPACITY * 3) / 4; // a create that would pass this many records doubles the array
const VERIFY_EVERY = 250;
/** Header offsets (spec section 4) of the u32 fields read straight from the file. */
const FILE_SIZE = 40;
const RECORD_COUNT = 48;
const OLD_TABLE_OFFSET = 60;

/** mulberry32: a small seeded PRNG. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** isLive: an oracle entry that exists and has not expired at `clock`. */
export const isLive = (entry, clock) => entry !== undefined && (entry.expiresAt === 0 || entry.expiresAt > clock);

/**
 * Oracle is the Map of what the store must hold (key -> { text, expiresAt }), which remembers every change with the
 * operation that made it, so that the state after any number of operations can be had again (stateAfter), and a
 * transaction undone can be taken back (undoTo).
 */
class Oracle extends Map {
  /** the operation under way, by its index */
  op = 0;
  #changes = []; // [op, key, entry (undefined: deleted), the entry before]

  set(key, entry) {
    this.#changes.push([this.op, key, entry, this.get(key)]);
    return super.set(key, entry);
  }

  delete(key) {
    this.#changes.push([this.op, key, undefined, this.get(key)]);
    return super.delete(key);
  }

  clear() {
    for (const key of this.keys()) this.delete(key);
  }

  /** mark is a point undoTo can take the map back to. */
  get mark() {
    return this.#changes.length;
  }

  /** undoTo takes back every change made since `mark`, last first, and forgets them. */
  undoTo(mark) {
    const changes = this.#changes;
    for (let i = changes.length - 1; i >= mark; i--) {
      const [, key, , before] = changes[i];
      if (before === undefined) super.delete(key);
      else super.set(key, before);
    }
    changes.length = mark;
  }

  /** stateAfter returns the map as it was once the first `ops` operations were done. */
  stateAfter(ops) {
    const state = new Map();
    for (const [op, key, entry] of this.#changes) {
      if (op >= ops) break;
      if (entry === undefined) state.delete(key);
      else state.set(key, entry);
    }
    return state;
  }
}

/** HeaderReader reads u32 header fields with pread on a descriptor of its own: cheaper than stats(). */
class HeaderReader {
  #fd;
  #word = Buffer.alloc(4);
  constructor(path) { this.#fd = openSync(path, 'r'); }
  word(offset) {
    readSync(this.#fd, this.#word, 0, 4, offset);
    return this.#word.readUInt32LE(0);
  }
  close() { closeSync(this.#fd); }
}

/** tableState reads the header's bucket-array fields and the current array's buckets straight from the file. */
function tableState(path) {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(128);
    readSync(fd, header, 0, 128, 0);
    const table = header.readUInt32LE(52);
    const capacity = header.readUInt32LE(56);
    const buckets = Buffer.alloc(capacity * 8);
    readSync(fd, buckets, 0, buckets.length, table + 16);
    return { capacity, old: header.readUInt32LE(60), buckets };
  } finally {
    closeSync(fd);
  }
}

/** wrapped: some bucket near the start of the array holds a key whose home bucket is near the end. */
function wrapped({ capacity, buckets }) {
  for (let slot = 0; slot < 64; slot++) {
    const record = buckets.readUInt32LE(slot * 8);
    if (record > 1 && (buckets.readUInt32LE(slot * 8 + 4) & (capacity - 1)) > capacity - 64) return true;
  }
  return false;
}

/**
 * run plays the operations of `seed` on a new store at `path`, checking each answer. `special`: the keys that
 * collide, wrap and share hashes (model.test.mjs finds them); `unit`: operations per phase-sized unit; `observe`:
 * verify every VERIFY_EVERY operations and gather coverage and the trace (the parent does; the process killed by
 * the crash countdown, which only replays, does not); `beforeOp(index)` is called before each top-level operation
 * (a transaction is one), `inside()` inside each transaction's function once its operations are done.
 *
 * Returns the coverage; the oracle, which can give its state after any number of operations; and the trace of each
 * top-level operation: the clock it ran at, whether it went through the write path (one change: change.busy once),
 * whether it committed journaled records (commit.marked, commit.settling and commit.settled once each), whether it
 * grew the file (grow.allocated, once or more), whether it is a transaction, whether the bucket array was being
 * doubled after it, and where its lines of the log begin.
 */
export function run(seed, path, { special, unit = 1000, observe = true, beforeOp = () => {}, inside = () => {} }) {
  const random = mulberry32(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const { collide, wrap, twins } = special;
  const specialKeys = [...collide, ...wrap, ...twins];
  const model = new Oracle();
  let clock = START;
  let fillerNext = 0;
  const coverage = { collideLive: 0, wrapped: false, doubled: false, rehashOps: 0, expired: 0, twinsLive: false, reopened: 0, verified: 0, transactions: 0, undone: 0, cleared: 0 };
  const trace = { clock: [], change: [], commit: [], grew: [], transaction: [], rehashing: [], logStart: [] };
  const log = [];
  let db = new DataStore(path);
  const header = new HeaderReader(path);

  const live = (entry) => isLive(entry, clock);
  const liveKeys = () => [...model].filter(([, entry]) => live(entry)).map(([key]) => key);
  const code = (fn) => {
    try { fn(); return null; } catch (error) {
      if (!(error instanceof DataStoreError)) throw error;
      return error.code;
    }
  };

  // What the top-level operation under way does to the store, as the crash points count it: a direct change (a lone
  // create or delete) commits nothing; a journaled one commits when it has journaled some record.
  let opChange = false;
  let opCommit = false;
  let opTransaction = false;
  let inTransaction = false;
  let transactionChanged = false;
  /** changed notes a call that reached the write path; `journaled`: it wrote or superseded a record of the journal. */
  function changed(journaled) {
    if (inTransaction) transactionChanged ||= journaled;
    else { opChange = true; opCommit = journaled; }
  }

  function value() {
    const r = random();
    const size = r < 0.7 ? Math.floor(random() * 40) : r < 0.95 ? Math.floor(random() * 600) : Math.floor(random() * 6000);
    return { n: Math.floor(random() * 1e6), s: 'x'.repeat(size), u: random() < 0.1 ? 'é😀' : '' };
  }

  function create(key) {
    const v = value();
    const ttl = random() < 0.3 ? 1 + Math.floor(random() * 20) : undefined;
    const entry = model.get(key);
    const got = code(() => db.create(key, v, ttl));
    log.push(`create ${JSON.stringify(key)} ttl ${ttl} -> ${got}`);
    changed(inTransaction && got === null); // a create is direct, but joins a transaction's journal
    if (live(entry)) {
      assert.is(got, 'KEY_EXISTS', `create of live ${key}`);
    } else {
      assert.is(got, null, `create of absent ${key}`);
      if (entry !== undefined) coverage.expired++;
      model.set(key, { text: JSON.stringify(v), expiresAt: ttl === undefined ? 0 : clock + ttl * 1000 });
    }
  }

  function read(key) {
    const entry = model.get(key);
    let text = null;
    const got = code(() => { text = db.readText(key); });
    log.push(`read ${JSON.stringify(key)} -> ${got}`);
    if (live(entry)) {
      assert.is(got, null, `read of live ${key}`);
      assert.is(text, entry.text, `value of ${key}`);
    } else {
      assert.is(got, 'KEY_NOT_FOUND', `read of absent ${key}`);
    }
  }

  function has(key) {
    log.push(`has ${JSON.stringify(key)}`);
    assert.is(db.has(key), live(model.get(key)), `has ${key}`);
  }

  function expiresAt(key) {
    const entry = model.get(key);
    let at;
    const got = code(() => { at = db.expiresAt(key); });
    log.push(`expiresAt ${JSON.stringify(key)} -> ${got}`);
    if (live(entry)) assert.is(at, entry.expiresAt === 0 ? null : entry.expiresAt, `expiresAt ${key}`);
    else assert.is(got, 'KEY_NOT_FOUND', `expiresAt of absent ${key}`);
  }

  function remove(key) {
    const entry = model.get(key);
    const got = code(() => db.delete(key));
    log.push(`delete ${JSON.stringify(key)} -> ${got}`);
    changed(inTransaction && got === null);
    if (live(entry)) {
      assert.is(got, null, `delete of live ${key}`);
      model.delete(key);
    } else {
      assert.is(got, 'KEY_NOT_FOUND', `delete of absent ${key}`);
    }
  }

  function set(key) {
    const v = value();
    const ttl = random() < 0.3 ? 1 + Math.floor(random() * 20) : undefined;
    const got = code(() => db.set(key, v, ttl));
    log.push(`set ${JSON.stringify(key)} ttl ${ttl} -> ${got}`);
    changed(true);
    assert.is(got, null, `set of ${key}`);
    model.set(key, { text: JSON.stringify(v), expiresAt: ttl === undefined ? 0 : clock + ttl * 1000 });
  }

  function get(key) {
    const entry = model.get(key);
    const got = db.get(key);
    log.push(`get ${JSON.stringify(key)}`);
    if (live(entry)) assert.is(JSON.stringify(got), entry.text, `get of live ${key}`);
    else assert.is(got, undefined, `get of absent ${key}`);
  }

  /** update: adds one to n, or deletes the key (one time in five), keeping its expiry unless given a new one. */
  function update(key) {
    const entry = model.get(key);
    const drop = random() < 0.2;
    const ttl = random() < 0.2 ? 1 + Math.floor(random() * 20) : undefined;
    let seen;
    const stored = db.update(key, (current) => {
      seen = current;
      return drop ? undefined : { ...(current ?? { s: '' }), n: (current?.n ?? 0) + 1 };
    }, ttl);
    log.push(`update ${JSON.stringify(key)} drop ${drop} ttl ${ttl}`);
    changed(!drop || live(entry)); // dropping an absent key changes nothing
    assert.is(JSON.stringify(seen), live(entry) ? entry.text : undefined, `update of ${key} saw the value`);
    if (drop) { model.delete(key); return; }
    const expiresAt = ttl !== undefined ? clock + ttl * 1000 : live(entry) ? entry.expiresAt : 0;
    model.set(key, { text: JSON.stringify(stored), expiresAt });
  }

  /** transaction: a few random operations inside one, committed, or undone by a throw (one time in three). */
  function transaction(mode) {
    const mark = model.mark;
    const undo = random() < 0.35;
    const count = 1 + Math.floor(random() * 12);
    log.push(`transaction of ${count} ${undo ? '(undone)' : ''}`);
    const thrown = new Error('undo');
    inTransaction = true;
    opTransaction = true;
    transactionChanged = false;
    try {
      db.transaction(() => {
        for (let i = 0; i < count; i++) step(mode);
        inside();
        if (undo) throw thrown;
      });
    } catch (error) {
      if (error !== thrown) throw error;
      model.undoTo(mark);
      coverage.undone++;
    } finally {
      inTransaction = false;
    }
    changed(!undo && transactionChanged);
    coverage.transactions++;
  }

  function clear() {
    log.push('clear');
    // Its journal holds every record in the index, live or expired. (The sweep before it frees a few expired ones:
    // it would leave nothing to commit only in a store of a few records, all expired, all within its reach.)
    const records = header.word(RECORD_COUNT);
    db.clear();
    changed(records > 0);
    model.clear();
    coverage.cleared++;
  }

  function tick() {
    const r = random();
    const step = r < 0.6 ? Math.floor(random() * 200) : r < 0.95 ? Math.floor(random() * 3000) : Math.floor(random() * 30_000);
    clock += step;
    log.push(`clock +${step}`);
  }

  function check(label) {
    if (!observe) return;
    const keys = liveKeys();
    const report = db.verify();
    assert.ok(report.ok, `${label}: verify: ${report.problems.join('; ')}`);
    assert.is(report.keys, keys.length, `${label}: verify counts the live keys`);
    assert.is(db.count, keys.length, `${label}: count`);
    assert.equal(new Set(db.keys()), new Set(keys), `${label}: keys()`);
    const state = tableState(path);
    if (wrapped(state)) coverage.wrapped = true;
    if (state.capacity > CAPACITY) coverage.doubled = true;
    coverage.collideLive = Math.max(coverage.collideLive, collide.filter((key) => live(model.get(key))).length);
    if (twins.some((key, i) => i % 2 === 0 && live(model.get(key)) && live(model.get(twins[i + 1])))) coverage.twinsLive = true;
    coverage.verified++;
  }

  /**
   * step: one random operation; `grow` makes filler creates likely, `shrink` makes filler deletes likely. Inside a
   * transaction the clock stands still and there is no nested transaction or clear.
   */
  function step(mode) {
    const r = random();
    if (r < 0.08 && !inTransaction) return tick();
    if (r < 0.1 && !inTransaction) return transaction(mode);
    if (r < 0.1003 && !inTransaction && mode !== 'grow') return clear();
    const key = random() < (mode === 'grow' ? 0.3 : 0.6) ? pick(specialKeys)
      : mode === 'grow' && random() < 0.7 ? `f${fillerNext++}` : `f${Math.floor(random() * Math.max(1, fillerNext))}`;
    const op = random();
    const createShare = mode === 'grow' ? 0.6 : mode === 'shrink' ? 0.1 : 0.35;
    const deleteShare = mode === 'shrink' ? 0.5 : 0.2;
    if (op < createShare * 0.7) create(key);
    else if (op < createShare * 0.85) set(key);
    else if (op < createShare) update(key);
    else if (op < createShare + deleteShare) remove(key);
    else if (op < createShare + deleteShare + 0.12) has(key);
    else if (op < createShare + deleteShare + 0.17) expiresAt(key);
    else if (op < createShare + deleteShare + 0.22) get(key);
    else read(key);
  }

  let ops = 0;
  let fileSize = header.word(FILE_SIZE);
  /** topLevel runs one top-level operation as the index `ops`, and traces it. */
  const topLevel = (mode) => {
    beforeOp(ops);
    model.op = ops;
    trace.clock.push(clock);
    trace.logStart.push(log.length);
    opChange = false;
    opCommit = false;
    opTransaction = false;
    step(mode);
    trace.change.push(opChange);
    trace.commit.push(opCommit);
    trace.transaction.push(opTransaction);
    if (observe) {
      const size = header.word(FILE_SIZE);
      trace.grew.push(size > fileSize);
      fileSize = size;
      const rehashing = header.word(OLD_TABLE_OFFSET) !== 0;
      trace.rehashing.push(rehashing);
      if (rehashing) coverage.rehashOps++;
    }
    ops++;
  };
  const phase = (mode, count, until = () => false) => {
    for (let i = 0; i < count && !until(); i++) {
      topLevel(mode);
      if (ops % VERIFY_EVERY === 0) check(`op ${ops}`);
      if (random() < 0.0005) reopen();
    }
  };
  const reopen = () => {
    db.close();
    db = new DataStore(path);
    assert.is(db.stats().recovered, null, 'a clean close reopens without recovery');
    fileSize = header.word(FILE_SIZE);
    coverage.reopened++;
    log.push('reopen');
  };

  const realNow = Date.now;
  try {
    Date.now = () => clock;
    // 1. A small store: the special keys collide, wrap past the end and shift back across it.
    phase('mixed', 2 * unit);
    check('small');
    reopen();
    // 2. Grow past 3/4 of 4096 buckets: the array doubles, and the special keys live in the old array meanwhile.
    phase('grow', 20 * unit, () => header.word(RECORD_COUNT) > DOUBLE_AT + 50);
    assert.ok(db.stats().rehashing || db.stats().buckets > CAPACITY, 'the bucket array doubled');
    phase('mixed', unit); // 4096 old buckets / 16 per change: the rehash ends within about 256 changes
    check('after doubling');
    reopen();
    // 3. Shrink, let every TTL pass, and go on at random.
    phase('shrink', 3 * unit);
    clock += 60_000;
    check('all TTLs passed');
    phase('mixed', 2 * unit);
    check('end');
    db.close();
  } catch (error) {
    console.error(`\nmodel test failed with SLABKV_SEED=${seed} after ${ops} operations; last ones:\n  ${log.slice(-15).join('\n  ')}`);
    try { db.close(); } catch { /* already reported */ }
    throw error;
  } finally {
    Date.now = realNow;
    header.close();
  }
  return { coverage, model, trace, log };
}
