import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const tmp = scratch();
test.after(() => tmp.remove());
const WORKER = new URL('./worker.mjs', import.meta.url);
const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));

function startWorker(data) {
  const worker = new Worker(WORKER, { workerData: data });
  const messages = [];
  const waiters = [];
  worker.on('message', (m) => { messages.push(m); waiters.splice(0).forEach((w) => w()); });
  const exited = new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
  const next = async () => { while (messages.length === 0) await new Promise((r) => waiters.push(r)); return messages.shift(); };
  return { worker, next, exited };
}

function otherProcessTries(path) {
  const result = spawnSync(process.execPath, [CHILD, 'try-open', path], { encoding: 'utf8', timeout: 20000 });
  return JSON.parse(result.stdout.trim());
}

const gate = (count) => { const g = new SharedArrayBuffer(8); new Int32Array(g)[1] = count; return g; };

test('six workers doing mixed work on own and contended keys: every key ends as expected, verify is clean', async () => {
  const path = tmp.file('mixed.slabkv');
  const db = new DataStore(path);
  const count = 6;
  const ops = 3000;
  const g = gate(count);
  const workers = Array.from({ length: count }, (_, id) => startWorker({ mode: 'mixed', path, id, ops, gate: g }));
  const results = await Promise.all(workers.map((w) => w.next()));
  await Promise.all(workers.map((w) => w.exited));
  for (let id = 0; id < count; id++) {
    for (let i = 0; i < ops; i++) {
      const key = `t${id}:${i}`;
      if (i % 4 === 0) assert.not.ok(db.has(key), key);
      else assert.equal(db.read(key), { id, i, pad: 'm'.repeat((i * 7 + id) % 1500) });
    }
  }
  for (let j = 0; j < 50; j++) {
    const key = `shared:${j}`;
    const net = results.reduce((sum, r) => sum + (r.created[key] ?? 0), 0);
    assert.ok(net === 0 || net === 1, `${key}: ${net}`);
    assert.is(db.has(key), net === 1, key);
  }
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  assert.is(db.stats().keys, report.records);
  db.close();
});

test('a thread that joins a store another thread opened says so in stats().openedFrom', async () => {
  const path = tmp.file('found.slabkv');
  const db = new DataStore(path);
  assert.is(db.stats().openedFrom, 'clean', 'a new store, made and closed cleanly in place');
  const worker = startWorker({ mode: 'found', path, id: 0 });
  assert.equal(await worker.next(), { openedFrom: 'shared' });
  await worker.exited;
  db.close();
});

test('several threads create the same keys at once: exactly one winner per key', async () => {
  const path = tmp.file('race.slabkv');
  const count = 4;
  const keys = 2000;
  const g = gate(count);
  const workers = Array.from({ length: count }, (_, id) => startWorker({ mode: 'race', path, id, ops: keys, gate: g }));
  const results = await Promise.all(workers.map((w) => w.next()));
  await Promise.all(workers.map((w) => w.exited));
  const winners = new Map();
  results.forEach(({ won }, id) => won.forEach((j) => { assert.not.ok(winners.has(j), `race:${j} won twice`); winners.set(j, id); }));
  assert.is(winners.size, keys);
  const db = new DataStore(path);
  for (const [j, id] of winners) assert.equal(db.read(`race:${j}`), { winner: id });
  db.close();
});

test('dozens of worker lifetimes, closing or not, while others work: the process lives and the lock holds', async () => {
  const path = tmp.file('lifetimes.slabkv');
  const holder = startWorker({ mode: 'hold', path, id: 1000 });
  assert.equal(await holder.next(), { holding: true });
  const busy = startWorker({ mode: 'mixed', path, id: 99, ops: 6000 });
  for (let round = 0; round < 8; round++) {
    const wave = Array.from({ length: 5 }, (_, k) => startWorker({ mode: 'lifetime', path, id: round * 5 + k, ops: 200 }));
    await Promise.all(wave.map((w) => w.exited));
    assert.is(otherProcessTries(path).code, 'STORE_LOCKED', `round ${round}`);
  }
  await busy.next();
  await busy.exited;
  assert.is(otherProcessTries(path).code, 'STORE_LOCKED', 'the holder still has it');
  holder.worker.postMessage('close');
  await holder.exited;
  // Every thread has closed or exited: the lock is gone, though odd workers never called close().
  const admitted = otherProcessTries(path);
  assert.is(admitted.opened, true, JSON.stringify(admitted));
  const db = new DataStore(path);
  for (let id = 0; id < 40; id++) assert.equal(db.read(`life${id}:199`), { id, i: 199 });
  const report = db.verify();
  assert.ok(report.ok, report.problems.join('; '));
  db.close();
});

test('another process is locked out while only a worker holds the store, and gets in after it closes', async () => {
  const path = tmp.file('worker-held.slabkv');
  const holder = startWorker({ mode: 'hold', path, id: 1 });
  assert.equal(await holder.next(), { holding: true });
  const refused = otherProcessTries(path);
  assert.is(refused.code, 'STORE_LOCKED');
  assert.match(refused.message, `pid ${process.pid}`);
  holder.worker.postMessage('close');
  assert.equal(await holder.next(), { closed: true });
  await holder.exited;
  assert.is(otherProcessTries(path).opened, true);
});

test('a worker terminated in the middle of changes: the others take the lock over and the store stays sound', async () => {
  const path = tmp.file('terminated.slabkv');
  const db = new DataStore(path);
  db.create('before', { ok: true });
  for (let round = 0; round < 6; round++) {
    const spinner = startWorker({ mode: 'spin-in-store', path, id: round });
    await spinner.next();
    await new Promise((resolve) => setTimeout(resolve, 15 + round * 11));
    await spinner.worker.terminate();
    db.create(`after:${round}`, { round }); // waits out or takes over the dead worker's lock
    assert.equal(db.read('before'), { ok: true });
    const report = db.verify();
    assert.ok(report.ok, `round ${round}: ${report.problems.join('; ')}`);
  }
  db.close();
});

test.run();
