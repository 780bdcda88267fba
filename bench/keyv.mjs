// Keyv's get and set through three stores in the same run: slabkv (slabkv/keyv), @keyv/sqlite and Keyv's default,
// an in-memory Map. Each Keyv serializes values as it always does; keys are short (`user:00000001`) or URLs of
// about 120 characters (which slabkv/keyv hashes into its 32). Stores take turns, the order rotating each round;
// the median of the rounds is kept.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KeyvSlabkv } from '../dist/keyv.mjs'; // bench/ is its own package (its peers), so not 'slabkv/keyv'

const require = createRequire(import.meta.url);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

export const keyvPeers = {
  slabkv: {
    note: "slabkv/keyv's KeyvSlabkv, default durability ('flush')",
    open: (dir) => new KeyvSlabkv(join(dir, 'keyv.slabkv')),
  },
  '@keyv/sqlite': {
    note: '@keyv/sqlite 4 (sqlite3), WAL, synchronous=OFF (set through its query(), as the sqlite peer above), its default table',
    async open(dir) {
      const { KeyvSqlite } = require('@keyv/sqlite');
      const store = new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.sqlite')}` });
      await store.query('PRAGMA journal_mode = WAL');
      await store.query('PRAGMA synchronous = OFF');
      return store;
    },
  },
  Map: {
    note: "Keyv's default store, a Map in memory",
    open: () => new Map(),
  },
};

/** keyvThroughput measures Keyv set and get, per second, for n short keys and n long ones, in each store. */
export async function keyvThroughput(freshDir, n, rounds, value, order, log) {
  const { Keyv } = require('keyv');
  const shortKeys = Array.from({ length: n }, (_, i) => `user:${String(i).padStart(8, '0')}`);
  const longKeys = Array.from({ length: n }, (_, i) => `https://api.example.com/v2/users/${i}/profile?fields=name,email,active,score,tags&expand=teams`);
  const names = Object.keys(keyvPeers);
  const samples = {};
  const record = (name, op, ms) => { ((samples[name] ??= {})[op] ??= []).push(n / (ms / 1000)); };
  for (let round = 0; round < rounds; round++) {
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      const store = await keyvPeers[name].open(freshDir(name));
      const keyv = new Keyv({ store });
      keyv.on('error', (error) => { throw error; });
      for (const [shape, keys] of [['', shortKeys], [' (long keys)', longKeys]]) {
        let t = performance.now();
        for (let i = 0; i < n; i++) await keyv.set(keys[i], value(i));
        record(name, `set${shape}`, performance.now() - t);
        let check = 0;
        t = performance.now();
        for (let i = 0; i < n; i++) check += (await keyv.get(keys[order[i]])).id;
        record(name, `get${shape}`, performance.now() - t);
        if (check !== (n * (n - 1)) / 2) throw new Error(`Keyv on ${name} read wrong values`);
      }
      await keyv.disconnect();
      log(`  Keyv, ${n} keys, round ${round + 1}/${rounds}: ${name} done`);
    }
  }
  const result = { n };
  for (const [name, ops] of Object.entries(samples)) result[name] = Object.fromEntries(Object.entries(ops).map(([op, xs]) => [op, median(xs)]));
  return result;
}

/** keyvReport: the section of bench/RESULTS.md on Keyv. */
export function keyvReport(r, fmt, ratio) {
  const ops = ['set', 'get', 'set (long keys)', 'get (long keys)'];
  const lines = [`## Through Keyv, ${r.n} keys`, ''];
  lines.push('Keyv 5 `set` and `get`, each awaited, values serialized by Keyv as always (about 150 bytes of JSON); reads in a random order. Long keys are URLs of about 120 characters.', '');
  lines.push(`| store | ${ops.join(' | ')} |`, `|---|${ops.map(() => '---:').join('|')}|`);
  for (const name of Object.keys(keyvPeers)) lines.push(`| ${name} | ${ops.map((op) => fmt(r[name][op])).join(' | ')} |`);
  lines.push('', `slabkv against each, same run: ${Object.keys(keyvPeers).filter((x) => x !== 'slabkv').map((x) => `${x}: ${ops.map((op) => `${op} ${ratio(r.slabkv[op], r[x][op])}`).join(', ')}`).join('; ')}.`, '');
  return lines;
}
