// Several worker threads at once: each worker opens the same store and, for a fixed time, reads random keys or
// creates keys of its own. slabkv and lmdb-js side by side, one worker and two, in the same run; turns rotate;
// median of the rounds. Reads take no lock in slabkv; writers take turns, in both stores.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'

const require = createRequire(import.meta.url);
const key = (i) => `user:${String(i).padStart(8, '0')}`;
const value = (i) => ({ id: i, name: 'Ada Lovelace', email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 7919) % 1000 / 10, tags: ['alpha', 'beta'], created: 1767225600000 + i });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const SECONDS = 1.5;

function openReader(store, dir) {
  if (store === 'slabkv') {
    const db = new DataStore(join(dir, 'parallel.slabkv'));
    return { read: (k) => db.read(k), create: (k, v) => db.create(k, v), close: () => db.close() };
  }
  const { open } = require('lmdb');
  const db = open({ path: join(dir, 'lmdb-parallel'), encoding: 'json', noSync: true, mapSize: 4 * 1024 ** 3 });
  return { read: (k) => db.get(k), create: (k, v) => db.putSync(k, v), close: () => db.close() };
}

if (!isMainThread) {
  // A reader or a writer: waits at the gate, then reads random keys (or creates keys of its own) until the time is
  // up, and reports how many per second.
  const { store, dir, n, gate, seed, writes } = workerData;
  const db = openReader(store, dir);
  let s = seed;
  parentPort.postMessage('ready');
  Atomics.wait(gate, 0, 0);
  const until = performance.now() + SECONDS * 1000;
  let done = 0;
  while (performance.now() < until) {
    if (writes) for (let i = 0; i < 1000; i++) db.create(`w${seed}:${done + i}`, value(done + i));
    else for (let i = 0; i < 1000; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; db.read(key(s % n)); }
    done += 1000;
  }
  db.close();
  parentPort.postMessage(done / SECONDS);
}

let writerSeed = 0;

async function run(store, dir, n, workers, writes) {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const seed = (i) => (writes ? ++writerSeed : i + 1); // a writer's keys are its own, in every run
  const threads = Array.from({ length: workers }, (_, i) => new Worker(new URL(import.meta.url), { workerData: { store, dir, n, gate, seed: seed(i), writes } }));
  const ready = threads.map((t) => new Promise((resolve) => t.once('message', resolve)));
  await Promise.all(ready);
  const done = threads.map((t) => new Promise((resolve, reject) => { t.once('message', resolve); t.once('error', reject); }));
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  const rates = await Promise.all(done);
  await Promise.all(threads.map((t) => t.terminate()));
  return rates.reduce((a, b) => a + b, 0);
}

/** parallelReads fills each store with n keys and measures reads, then creates, per second with 1 and 2 workers. */
export async function parallelReads(dir, n, rounds) {
  const stores = ['slabkv'];
  try { require.resolve('lmdb'); stores.push('lmdb'); } catch { /* peers not installed: slabkv alone */ }
  const slab = new DataStore(join(dir, 'parallel.slabkv'));
  for (let i = 0; i < n; i++) slab.create(key(i), value(i));
  slab.close();
  if (stores.includes('lmdb')) {
    const { open } = require('lmdb');
    const db = open({ path: join(dir, 'lmdb-parallel'), encoding: 'json', noSync: true, mapSize: 4 * 1024 ** 3 });
    for (let i = 0; i < n; i++) db.putSync(key(i), value(i));
    await db.close();
  }
  const samples = {};
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...stores].reverse() : stores;
    for (const store of order) {
      for (const workers of [1, 2]) {
        (samples[`${store} ${workers}`] ??= []).push(await run(store, dir, n, workers, false));
        (samples[`${store} ${workers} writing`] ??= []).push(await run(store, dir, n, workers, true));
      }
    }
  }
  const result = { n, stores: {} };
  for (const store of stores) {
    result.stores[store] = {
      one: median(samples[`${store} 1`]),
      two: median(samples[`${store} 2`]),
      oneWriting: median(samples[`${store} 1 writing`]),
      twoWriting: median(samples[`${store} 2 writing`]),
    };
  }
  return result;
}

/** threadGroups: the figures as chart groups (reads and creates per second, one worker and two) per store. */
export function threadGroups(r) {
  const groups = { 'read, 1 worker': 'one', 'read, 2 workers': 'two', 'create, 1 writer': 'oneWriting', 'create, 2 writers': 'twoWriting' };
  return Object.fromEntries(Object.entries(r.stores).map(([name, x]) => [name, Object.fromEntries(Object.entries(groups).map(([label, field]) => [label, x[field]]))]));
}

export function parallelReport(r, goal, fmt) {
  const s = r.stores.slabkv;
  const l = r.stores.lmdb;
  goal(s.two >= 1.6 * s.one, `two workers reading get ≥ 1.6× one worker, ${r.n} keys: ${fmt(s.two)} against ${fmt(s.one)} reads/s (${(s.two / s.one).toFixed(2)}×)`);
  if (l) goal(s.two >= l.two, `two workers reading ≥ lmdb-js with two workers: ${fmt(s.two)} against ${fmt(l.two)} reads/s (${(s.two / l.two).toFixed(2)}×)`);
  return [
    `- **Parallel reads** (${r.n} keys, random keys, each worker its own handle, ${SECONDS} s per run, median): ${Object.entries(r.stores).map(([name, x]) => `${name} ${fmt(x.one)}/s with one worker, ${fmt(x.two)}/s with two (${(x.two / x.one).toFixed(2)}×)`).join('; ')}.`,
    `- **Parallel writers** (each worker creates keys of its own, ~140-byte values, into the same store; writers take turns in both stores): ${Object.entries(r.stores).map(([name, x]) => `${name} ${fmt(x.oneWriting)} creates/s with one writer, ${fmt(x.twoWriting)}/s with two (${(x.twoWriting / x.oneWriting).toFixed(2)}×)`).join('; ')}.`,
    '', '![reads and creates per second from worker threads](chart-threads.svg)',
  ];
}
