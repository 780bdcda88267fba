// Keyv's get and set through three stores in the same run: slabkv (slabkv/keyv), @keyv/sqlite and Keyv's default,
// an in-memory Map. Each Keyv serializes values as it always does; keys are short (`user:00000001`) or URLs of
// about 120 characters (which slabkv/keyv hashes into its 32).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KeyvSlabkv } from '../dist/keyv.mjs'; // bench/ is its own package (its peers), so not 'slabkv/keyv'

const require = createRequire(import.meta.url);
/** Calls each store makes before the next one takes its turn. */
const SLICE = 1000;
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

/**
 * keyvThroughput measures Keyv set and get, per second, for n short keys and n long ones, in each store. The stores
 * take turns in slices of SLICE calls (the order rotating each slice), so that whatever else the machine does meanwhile
 * falls on all of them alike; the whole is repeated `rounds` times and the median kept.
 */
export async function keyvThroughput(freshDir, n, rounds, value, order, log) {
  const { Keyv } = require('keyv');
  const shortKeys = Array.from({ length: n }, (_, i) => `user:${String(i).padStart(8, '0')}`);
  const longKeys = Array.from({ length: n }, (_, i) => `https://api.example.com/v2/users/${i}/profile?fields=name,email,active,score,tags&expand=teams`);
  const names = Object.keys(keyvPeers);
  const samples = {};
  for (let round = 0; round < rounds; round++) {
    const keyvs = {};
    for (const name of names) {
      keyvs[name] = new Keyv({ store: await keyvPeers[name].open(freshDir(name)) });
      keyvs[name].on('error', (error) => { throw error; });
    }
    for (const [shape, keys] of [['', shortKeys], [' (long keys)', longKeys]]) {
      const set = async (keyv, i) => { await keyv.set(keys[i], value(i)); };
      const check = {};
      const get = async (keyv, i, name) => { check[name] = (check[name] ?? 0) + (await keyv.get(keys[order[i]])).id; };
      for (const [op, call] of [[`set${shape}`, set], [`get${shape}`, get]]) {
        const ms = Object.fromEntries(names.map((name) => [name, 0]));
        for (let from = 0, slice = 0; from < n; from += SLICE, slice++) {
          const to = Math.min(n, from + SLICE);
          for (const name of names.map((_, i) => names[(i + slice) % names.length])) {
            const t = performance.now();
            for (let i = from; i < to; i++) await call(keyvs[name], i, name);
            ms[name] += performance.now() - t;
          }
        }
        for (const name of names) ((samples[name] ??= {})[op] ??= []).push(n / (ms[name] / 1000));
      }
      for (const name of names) if (check[name] !== (n * (n - 1)) / 2) throw new Error(`Keyv on ${name} read wrong values`);
    }
    for (const keyv of Object.values(keyvs)) await keyv.disconnect();
    log(`  Keyv, ${n} keys, round ${round + 1}/${rounds} done`);
  }
  const result = { n };
  for (const [name, ops] of Object.entries(samples)) result[name] = Object.fromEntries(Object.entries(ops).map(([op, xs]) => [op, median(xs)]));
  return result;
}

/** keyvReport: the section of bench/RESULTS.md on Keyv. */
export function keyvReport(r, fmt, ratio) {
  const ops = ['set', 'get', 'set (long keys)', 'get (long keys)'];
  const lines = [`## Through Keyv, ${r.n} keys`, ''];
  lines.push('Keyv 5 `set` and `get`, each awaited, values serialized by Keyv as always (about 150 bytes of JSON); reads in a random order. Long keys are URLs of about 120 characters. The stores take turns every 1,000 calls.', '');
  lines.push(`| store | ${ops.join(' | ')} |`, `|---|${ops.map(() => '---:').join('|')}|`);
  for (const name of Object.keys(keyvPeers)) lines.push(`| ${name} | ${ops.map((op) => fmt(r[name][op])).join(' | ')} |`);
  lines.push('', `slabkv against each, same run: ${Object.keys(keyvPeers).filter((x) => x !== 'slabkv').map((x) => `${x}: ${ops.map((op) => `${op} ${ratio(r.slabkv[op], r[x][op])}`).join(', ')}`).join('; ')}.`, '');
  return lines;
}
