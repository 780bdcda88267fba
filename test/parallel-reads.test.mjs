// Reads without the lock (spec section 11): a read never waits for a writer, and a read racing any writer returns
// the value before or after that write, or KEY_NOT_FOUND, never a torn value, another key's value or a crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());
const WORKER = new URL('./parallel-reads-worker.mjs', import.meta.url);
const valueOf = (key, version) => ({ key, version, pad: 'v'.repeat((version * 97) % 3000) });

function start(workerData) {
  const worker = new Worker(WORKER, { workerData });
  const messages = [];
  const waiters = [];
  worker.on('message', (m) => (waiters.length ? waiters.shift()(m) : messages.push(m)));
  worker.on('error', (e) => (waiters.length ? waiters.shift()({ error: String(e.stack) }) : messages.push({ error: String(e.stack) })));
  const next = () => (messages.length ? Promise.resolve(messages.shift()) : new Promise((resolve) => waiters.push(resolve)));
  return { worker, next };
}

test('a read does not wait for a thread that holds the lock', async () => {
  const path = tmp.file('held.slabkv');
  const db = new DataStore(path);
  db.create('k', { a: 1 });
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const { worker, next } = start({ mode: 'hold-lock', path, gate });
  assert.equal(await next(), 'holding'); // the worker is inside verify(), holding the store's lock
  // The gate opens only after the reads have returned: a read that waited for the lock would see it let go only
  // when the worker gives up waiting for the gate ('timed-out').
  assert.equal(db.read('k'), { a: 1 });
  assert.ok(db.has('k'));
  assert.is(db.expiresAt('k'), null);
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  const { released } = await next();
  assert.ok(released === 'ok' || released === 'not-equal', `the worker let go of the lock on its own (${released}): a read waited for it`);
  await worker.terminate();
  db.close();
});

test('reads racing a writer (deletes, creates, growth, doubling) are never torn, never another key\'s', async () => {
  const path = tmp.file('race.slabkv');
  const db = new DataStore(path);
  const STABLE = 2000;
  const CHURN = 500;
  for (let i = 0; i < STABLE; i++) db.create(`s:${i}`, valueOf(`s:${i}`, i));
  for (let i = 0; i < CHURN; i++) db.create(`c:${i}`, valueOf(`c:${i}`, 0));
  const stop = new Int32Array(new SharedArrayBuffer(8)); // [stop flag, reads made so far by both readers]
  const readers = [0, 1].map((seed) => start({ mode: 'race', path, stop, seed, stable: STABLE, churn: CHURN }));
  for (const r of readers) assert.equal(await r.next(), 'reading');
  const versions = new Array(CHURN).fill(0);
  let grown = 0;
  // The writer goes on until enough has happened on both sides, however slow the machine is.
  while ((grown < 2 * STABLE || Atomics.load(stop, 1) < 40000) && grown < 100000) {
    for (let n = 0; n < 200; n++) {
      const i = (n * 7919 + grown) % CHURN;
      db.delete(`c:${i}`);
      versions[i]++;
      db.create(`c:${i}`, valueOf(`c:${i}`, versions[i])); // a new size: other chunks and slabs are reused
    }
    for (let n = 0; n < 100; n++, grown++) db.create(`g:${grown}`, valueOf(`g:${grown}`, grown)); // growth, doubling
  }
  Atomics.store(stop, 0, 1);
  const results = await Promise.all(readers.map((r) => r.next()));
  for (const result of results) {
    assert.is(result.error, undefined, result.error);
    assert.equal(result.wrong, [], result.wrong.join('; '));
    assert.ok(result.reads > 0, `${result.reads} reads`);
  }
  assert.ok(db.verify().ok);
  for (const r of readers) await r.worker.terminate();
  db.close();
});

test('torture: two writers and two readers on the same keys, every read checked against the writers\' log', async () => {
  const path = tmp.file('torture.slabkv');
  const KEYS = 2000;
  const GROWTH = 25000; // keys each writer adds: the index doubles three times, the file grows
  const READS = 20000; // reads each reader makes at least, while the writers change and grow the store
  const db = new DataStore(path);
  for (let i = 0; i < KEYS; i++) db.create(`t:${i}`, { key: `t:${i}`, version: 0, pad: '' }); // state 0
  const before = db.stats();
  const log = new Int32Array(new SharedArrayBuffer(8 * KEYS)); // per key: [announced, committed]
  const stop = new Int32Array(new SharedArrayBuffer(16)); // [stop, unused, growth done by writer 0, by writer 1]
  const progress = new Int32Array(new SharedArrayBuffer(8)); // reads made so far by each reader
  const writers = [0, 1].map((id) => start({ mode: 'torture-write', path, log, stop, id, writers: 2, keys: KEYS, growth: GROWTH }));
  const readers = [0, 1].map((seed) => start({ mode: 'torture-read', path, log, stop, seed, keys: KEYS, progress }));
  for (const w of writers) assert.equal(await w.next(), 'writing');
  for (const r of readers) assert.equal(await r.next(), 'reading');
  // Until enough has happened on both sides, however fast or slow the machine is.
  const enough = () => Atomics.load(stop, 2) === 1 && Atomics.load(stop, 3) === 1 && progress.every((reads) => reads >= READS);
  while (!enough()) await new Promise((resolve) => setTimeout(resolve, 50));
  Atomics.store(stop, 0, 1); // writers finish their growth, then stop
  const written = await Promise.all(writers.map((w) => w.next()));
  const read = await Promise.all(readers.map((r) => r.next()));
  for (const result of [...written, ...read]) assert.is(result.error, undefined, result.error);
  for (const result of read) {
    assert.equal(result.wrong, [], result.wrong.join('; '));
    assert.ok(result.reads >= READS, `${result.reads} reads`);
  }
  for (const result of written) assert.ok(result.changes > 1000 && result.grown === GROWTH, `${result.changes} changes, ${result.grown} keys added`);
  const after = db.stats();
  assert.ok(after.buckets >= 8 * before.buckets, `the index doubled while they ran: ${before.buckets} → ${after.buckets} buckets`);
  assert.ok(after.fileBytes > before.fileBytes, `the file grew: ${before.fileBytes} → ${after.fileBytes}`);
  for (let i = 0; i < KEYS; i++) {
    const state = log[2 * i + 1];
    assert.is(db.read(`t:${i}`).version, state / 2, `t:${i} ends at its last committed version`);
  }
  assert.ok(db.verify().ok);
  for (const w of [...writers, ...readers]) await w.worker.terminate();
  db.close();
});

test.run();
