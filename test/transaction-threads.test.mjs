// Transactions across worker threads: updates lose no increment, and no thread ever sees part of a transaction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());
const workerFile = new URL('./transaction-worker.mjs', import.meta.url);

function runAll(path, jobs) {
  const gate = new SharedArrayBuffer(8);
  new Int32Array(gate)[1] = jobs.length;
  return Promise.all(jobs.map(({ mode, ops }, id) => new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: { mode, path, id, ops, gate } });
    worker.on('message', resolve);
    worker.on('error', reject);
  })));
}

test('4 worker threads x 2,000 updates of one counter end at exactly 8,000', async () => {
  const path = tmp.file('counter.slabkv');
  await runAll(path, Array.from({ length: 4 }, () => ({ mode: 'increment', ops: 2000 })));
  const db = new DataStore(path);
  assert.equal(db.get('counter'), { n: 8000 });
  db.close();
});

test('transfers in transactions from two threads; readers in two more never see half a transaction', async () => {
  const path = tmp.file('transfer.slabkv');
  const db = new DataStore(path);
  for (let a = 0; a < 8; a++) db.set(`acct:${a}`, { balance: 100 });
  const results = await runAll(path, [
    { mode: 'transfer', ops: 3000 }, { mode: 'steps', ops: 1500 }, { mode: 'audit', ops: 3000 }, { mode: 'audit', ops: 3000 },
  ]);
  for (const { problems } of results) assert.equal(problems, []);
  let sum = 0;
  for (let a = 0; a < 8; a++) sum += db.get(`acct:${a}`).balance;
  assert.is(sum, 800);
  assert.is(db.get('stepped').v, 14999);
  assert.ok(db.verify().ok);
  db.close();
});

test('a worker thread terminated inside a transaction leaves none of it: the next thread to take the lock undoes it', async () => {
  const path = tmp.file('terminated.slabkv');
  const db = new DataStore(path);
  db.set('before', { v: 1 });
  const inside = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`
    const { workerData: { path, inside } } = require('node:worker_threads');
    const { DataStore } = require('slabkv');
    const db = new DataStore(path);
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) db.set('t' + i, { i });
      db.set('before', { v: 2 });
      db.delete('before');
      Atomics.store(inside, 0, 1);
      Atomics.notify(inside, 0);
      Atomics.wait(inside, 0, 1); // until terminated
    });`, { eval: true, workerData: { path, inside } });
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  while (Atomics.load(inside, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await worker.terminate();
  await exited;
  assert.equal(db.get('before'), { v: 1 }, 'a read waits for the dead thread\'s lock, then sees the store before the transaction');
  assert.is(db.has('t0'), false);
  db.set('after', { v: 1 });
  assert.equal([...db.keys()].sort(), ['after', 'before']);
  assert.ok(db.verify().ok);
  db.close();
});

test.run();
