// Two builds of slabkv side by side: node bench/compare.mjs <checkout A> [<checkout B> = this one] [--keys N] [--rounds R]
// Each checkout must have dist/ built (node build.mjs). Every round runs each build in a new process, in turns that
// alternate, so both see the same machine; the median of the rounds is printed with B's ratio to A per operation.
// This is how a change is shown to cost no operation more than a few percent. "read (two workers)" is two worker
// threads reading the keys in random order at once, lock-free, in keys per second of both together.
import { spawnSync } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const OPS = ['create', 'read', 'readText', 'has (hit)', 'has (miss)', 'read (two workers)', 'delete'];
const key = (i) => `user:${String(i).padStart(8, '0')}`;

if (!isMainThread) { // a reader of 'read (two workers)': opens the store, waits at the gate, reads every key once
  const { checkout, path, count, seed, gate } = workerData;
  const { DataStore } = await import(pathToFileURL(join(checkout, 'dist', 'index.mjs')).href);
  const db = new DataStore(path);
  parentPort.postMessage('ready');
  Atomics.wait(gate, 0, 0);
  let check = 0;
  for (let i = 0, s = seed; i < count; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; check += db.read(key(s % count)).id; }
  db.close();
  parentPort.postMessage(check);
}

if (isMainThread && process.argv[2] === '--child') {
  const [, , , checkout, n, dir] = process.argv;
  const { DataStore } = await import(pathToFileURL(join(checkout, 'dist', 'index.mjs')).href);
  const count = Number(n);
  const value = (i) => ({ id: i, name: 'Ada Lovelace', email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 7919) % 1000 / 10, tags: ['alpha', 'beta'], created: 1767225600000 + i });
  const keys = Array.from({ length: count }, (_, i) => key(i));
  const missing = Array.from({ length: count }, (_, i) => `miss:${String(i).padStart(8, '0')}`);
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1, s = 42; i > 0; i--) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; const j = s % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  const db = new DataStore(join(dir, 'compare.slabkv'));
  const rates = {};
  const time = (op, body) => { const t = performance.now(); body(); rates[op] = count / ((performance.now() - t) / 1000); };
  let check = 0;
  time('create', () => { for (let i = 0; i < count; i++) db.create(keys[i], value(i)); });
  time('read', () => { for (let i = 0; i < count; i++) check += db.read(keys[order[i]]).id; });
  time('readText', () => { for (let i = 0; i < count; i++) check += db.readText(keys[order[i]]).length; });
  time('has (hit)', () => { for (let i = 0; i < count; i++) check += db.has(keys[order[i]]) ? 1 : 0; });
  time('has (miss)', () => { for (let i = 0; i < count; i++) check += db.has(missing[i]) ? 1 : 0; });
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const readers = [1, 2].map((seed) => new Worker(new URL(import.meta.url), { workerData: { checkout, path: db.path, count, seed, gate } }));
  await Promise.all(readers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const finished = readers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
  const started = performance.now();
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  for (const sum of await Promise.all(finished)) check += sum;
  rates['read (two workers)'] = (2 * count) / ((performance.now() - started) / 1000);
  time('delete', () => { for (let i = 0; i < count; i++) db.delete(keys[order[i]]); });
  db.close();
  if (check === 0) throw new Error('nothing was read');
  console.log(JSON.stringify(rates));
} else if (isMainThread) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => { const i = args.indexOf(name); return i < 0 ? fallback : Number(args.splice(i, 2)[1]); };
  const keys = option('--keys', 200_000);
  const rounds = option('--rounds', 5);
  const [a, b = resolve(fileURLToPath(new URL('..', import.meta.url)))] = args.map((x) => resolve(x));
  if (!a) { console.error('usage: node bench/compare.mjs <checkout A> [<checkout B>] [--keys N] [--rounds R]'); process.exit(2); }
  const samples = { A: [], B: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [name, checkout] of round % 2 ? [['B', b], ['A', a]] : [['A', a], ['B', b]]) {
      const dir = mkdtempSync(join(tmpdir(), 'slabkv-compare-'));
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', checkout, String(keys), dir], { encoding: 'utf8' });
      rmSync(dir, { recursive: true, force: true });
      if (child.status !== 0) { console.error(child.stderr); process.exit(1); }
      samples[name].push(JSON.parse(child.stdout));
      console.error(`round ${round + 1}/${rounds}: ${name} done`);
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`A: ${a}\nB: ${b}\n${keys} keys, median of ${rounds} rounds, operations per second\n`);
  console.log('| operation | A | B | B ÷ A |\n|---|---:|---:|---:|');
  for (const op of OPS) {
    const x = median(samples.A.map((r) => r[op]));
    const y = median(samples.B.map((r) => r[op]));
    console.log(`| ${op} | ${Math.round(x)} | ${Math.round(y)} | ${(y / x).toFixed(3)} |`);
  }
}
