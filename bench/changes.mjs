// Changing values (issue 20): creates inside one transaction against lmdb-js's transactionSync and a Map of JSON
// text, set over live keys against create, update of one key against lmdb-js's transactionSync(get + put), and a
// get that misses against has. Every ratio is of figures measured in the same run, stores taking turns.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DataStore } from '../dist/index.mjs';
import { freshDir } from './peers.mjs';

const require = createRequire(import.meta.url);
/** Updates of one key per round: enough to time, at some tens of microseconds each for lmdb-js's commits. */
const UPDATES = 5_000;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const rate = (count, body) => { const t = performance.now(); body(); return count / ((performance.now() - t) / 1000); };

/**
 * changingValues measures, at each size, rounds of every figure, in turns, and keeps the medians. Before the first
 * size, one round of every turn runs unmeasured: a first round measured the compiling of each store's code (and
 * slabkv's path through a transaction is longer than a loop of Map.set) more than the store.
 */
export function changingValues(root, sizes, rounds, key, value) {
  const out = {};
  for (const [s, n] of sizes.entries()) {
    const keys = Array.from({ length: n }, (_, i) => key(i));
    const samples = {};
    let warming = false;
    const note = (name, r) => { if (!warming) (samples[name] ??= []).push(r); };
    const updates = UPDATES;
    for (let round = s === 0 ? -1 : 0; round < rounds; round++) {
      warming = round < 0;
      const turns = [
        () => { // slabkv: one transaction of n creates; then set over every key; then update; then get/has misses
          const db = new DataStore(join(freshDir(root, 'changes-slabkv'), 'c.slabkv'));
          note('slabkv create (one transaction)', rate(n, () => db.transaction(() => { for (let i = 0; i < n; i++) db.create(keys[i], value(i)); })));
          if (db.count !== n || db.get(keys[n - 1])?.id !== n - 1) throw new Error('slabkv did not commit its creates');
          note('slabkv set (over live keys)', rate(n, () => { for (let i = 0; i < n; i++) db.set(keys[i], value(i + 1)); }));
          note('slabkv update (one key)', rate(updates, () => { for (let i = 0; i < updates; i++) db.update('counter', (c) => ({ n: (c?.n ?? 0) + 1 })); }));
          if (db.get('counter')?.n !== updates) throw new Error('slabkv lost updates of the counter');
          note('slabkv has (miss)', rate(n, () => { for (let i = 0; i < n; i++) if (db.has(`miss:${i}`)) throw new Error('has a missing key'); }));
          note('slabkv get (miss)', rate(n, () => { for (let i = 0; i < n; i++) if (db.get(`miss:${i}`) !== undefined) throw new Error('got a missing key'); }));
          db.close();
          const fresh = new DataStore(join(freshDir(root, 'changes-slabkv-create'), 'c.slabkv'));
          note('slabkv create', rate(n, () => { for (let i = 0; i < n; i++) fresh.create(keys[i], value(i)); }));
          fresh.close();
        },
        () => {
          const { open } = require('lmdb');
          const db = open({ path: join(freshDir(root, 'changes-lmdb'), 'lmdb'), encoding: 'json', noSync: true, mapSize: 4 * 1024 ** 3 });
          note('lmdb put (one transactionSync)', rate(n, () => db.transactionSync(() => { for (let i = 0; i < n; i++) db.put(keys[i], value(i)); })));
          // Committed, seen from outside the transaction: timed work that lmdb-js left pending would flatter it.
          if (db.getStats().entryCount !== n || db.get(keys[n - 1])?.id !== n - 1) throw new Error('lmdb-js did not commit its puts');
          // The callback's block returns nothing: one that returned put's promise left the transaction open until
          // that promise settled, so each next transactionSync nested in it as a child, nothing committed while
          // measured, and the chain built up after the loop took gigabytes of heap (or never ended).
          note('lmdb update (transactionSync get + put)', rate(updates, () => { for (let i = 0; i < updates; i++) db.transactionSync(() => { db.put('counter', { n: (db.get('counter')?.n ?? 0) + 1 }); }); }));
          if (db.get('counter')?.n !== updates) throw new Error('lmdb-js lost updates of the counter');
          // Not closed: lmdb-js's close() is asynchronous and this section is not; the folder goes with ROOT. (Its
          // close() hung here only while the broken update loop above left a transaction open.)
        },
        () => {
          const map = new Map();
          note('Map set of JSON.stringify', rate(n, () => { for (let i = 0; i < n; i++) map.set(keys[i], JSON.stringify(value(i))); }));
        },
      ];
      for (let t = 0; t < turns.length; t++) { globalThis.gc?.(); turns[(t + Math.max(round, 0)) % turns.length](); }
    }
    out[n] = Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, median(xs)]));
  }
  return out;
}

/** changesReport: the goals of issue 20 and a table per size. */
export function changesReport(r, goal, fmt, rounds) {
  const lines = [];
  for (const [n, x] of Object.entries(r)) {
    const ratio = (a, b) => `${(x[a] / x[b]).toFixed(2)}×`;
    goal(x['slabkv create (one transaction)'] >= x['lmdb put (one transactionSync)'], `${n} keys: creating them in one transaction ≥ 1.0× lmdb-js putting them in one transactionSync: ${ratio('slabkv create (one transaction)', 'lmdb put (one transactionSync)')}`);
    goal(x['slabkv create (one transaction)'] >= 0.8 * x['Map set of JSON.stringify'], `${n} keys: creating them in one transaction ≥ 0.8× a Map of JSON.stringify: ${ratio('slabkv create (one transaction)', 'Map set of JSON.stringify')}`);
    goal(x['slabkv set (over live keys)'] >= 0.8 * x['slabkv create'], `${n} keys: set over a live key ≥ 0.8× create: ${ratio('slabkv set (over live keys)', 'slabkv create')}`);
    goal(x['slabkv update (one key)'] >= x['lmdb update (transactionSync get + put)'], `${n} keys: update of one key ≥ lmdb-js transactionSync(get + put): ${ratio('slabkv update (one key)', 'lmdb update (transactionSync get + put)')}`);
    goal(x['slabkv get (miss)'] >= x['slabkv has (miss)'] / 1.5, `${n} keys: a get that misses costs at most 1.5× a has() that misses: ${(x['slabkv has (miss)'] / x['slabkv get (miss)']).toFixed(2)}×`);
    lines.push(`## Changing values, ${n} keys`, '', `Stores take turns; the median of ${rounds} round${rounds > 1 ? 's' : ''} is kept. One round of every turn ran first, unmeasured, before the first size.`, '', '| operation | per second |', '|---|---:|');
    for (const [name, v] of Object.entries(x)) lines.push(`| ${name} | ${fmt(v)} |`);
    lines.push('');
  }
  return lines;
}
