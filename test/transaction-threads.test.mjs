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

test.run();
