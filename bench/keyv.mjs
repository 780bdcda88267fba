// Keyv's get and set through four stores in the same run: slabkv (slabkv/keyv), @keyv/sqlite, keyv-file and Keyv's
// default, an in-memory Map; beside them flat-cache, which is not a Keyv store, through its own setKey and getKey.
// Each Keyv serializes values as it always does; keys are short (`user:00000001`) or URLs of about 120 characters
// (which slabkv/keyv hashes into its 32).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KeyvSlabkv } from '../dist/keyv.mjs'; // bench/ is its own package (its peers), so not 'slabkv/keyv'

const require = createRequire(import.meta.url);
/** Calls each store makes before the next one takes its turn. */
const SLICE = 1000;
/** Sets timed one at a time, each written to its file before the next, per round, for the stores that keep a file. */
const ALONE = 5;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** throughKeyv: a Keyv over `store`, its set and get each awaited by the caller. */
function throughKeyv(store) {
  const { Keyv } = require('keyv');
  const keyv = new Keyv({ store });
  keyv.on('error', (error) => { throw error; });
  return { set: (k, v) => keyv.set(k, v), get: (k) => keyv.get(k), close: () => keyv.disconnect() };
}

/**
 * The stores, each opened in a fresh folder as { set, get, close } and optionally: endSlice, awaited at the end of
 * each slice of sets, in the store's own time; setAlone, a set that returns once its data is in the file; count, the
 * keys a new open of the file finds.
 */
export const keyvPeers = {
  slabkv: {
    note: "slabkv/keyv's KeyvSlabkv, default durability ('flush')",
    open: (dir) => throughKeyv(new KeyvSlabkv(join(dir, 'keyv.slabkv'))),
  },
  '@keyv/sqlite': {
    note: '@keyv/sqlite 4 (sqlite3), WAL, synchronous=OFF (set through its query(), as the sqlite peer above), its default table',
    async open(dir) {
      const { KeyvSqlite } = require('@keyv/sqlite');
      const store = new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.sqlite')}` });
      await store.query('PRAGMA journal_mode = WAL');
      await store.query('PRAGMA synchronous = OFF');
      return throughKeyv(store);
    },
  },
  'keyv-file': {
    label: `keyv-file (a write of the file every ${SLICE.toLocaleString('en')} sets)`,
    note: 'keyv-file 5 (KeyvFile, every value in a Map, the whole store written as one JSON file through @keyv/serialize), its README\'s options but writeDelay 0 instead of 100 ms: sets made together share one write whatever the delay, which would only add idle time. '
      + `Its source advises against awaiting each set (an awaited set returns only after the next write of the whole file), so the sets of a slice are made without waiting and awaited together at its end: each slice of ${SLICE.toLocaleString('en')} sets ends with them in the file, and the timed figure includes that write. `
      + 'The file is rewritten in place (fs.writeFile, no rename), so a crash during a write leaves it cut short',
    open(dir) {
      const { KeyvFile } = require('keyv-file');
      const filename = join(dir, 'keyv-file.json');
      const keyv = throughKeyv(new KeyvFile({ filename, writeDelay: 0 }));
      let pending = [];
      return {
        set: (k, v) => { pending.push(keyv.set(k, v)); },
        get: keyv.get,
        async endSlice() {
          const results = await Promise.all(pending);
          pending = [];
          if (!results.every(Boolean)) throw new Error('keyv-file refused a set');
        },
        setAlone: keyv.set,
        count: async () => [...(await new KeyvFile({ filename }).keys())].length,
        close: keyv.close,
      };
    },
  },
  Map: {
    note: "Keyv's default store, a Map in memory",
    open: () => throughKeyv(new Map()),
  },
  'flat-cache': {
    label: `flat-cache (setKey/getKey, save() every ${SLICE.toLocaleString('en')} sets)`,
    note: `flat-cache 6, not a Keyv store: create({ cacheId, cacheDir }) with nothing else, as its README opens, so values are written with flatted and getKey returns a structuredClone (its memory cache's default, though its README says false); setKey and getKey are synchronous and skip Keyv's serializing. It writes only when save() is called: here once at the end of each slice of ${SLICE.toLocaleString('en')} sets, in the timed figure; save() rewrites the whole file in place (writeFileSync, no rename)`,
    open(dir) {
      const { create } = require('flat-cache');
      const options = { cacheId: 'bench', cacheDir: dir };
      const cache = create(options);
      cache.on('error', (error) => { throw error; });
      return {
        set: (k, v) => cache.setKey(k, v),
        get: (k) => cache.getKey(k),
        endSlice: () => cache.save(),
        setAlone: (k, v) => { cache.setKey(k, v); cache.save(); },
        count: () => create(options).keys().length,
        close: () => {},
      };
    },
  },
};

/**
 * keyvThroughput measures set and get, per second, for n short keys and n long ones, in each store. The stores
 * take turns in slices of SLICE calls (the order rotating each slice), so that whatever else the machine does meanwhile
 * falls on all of them alike; the whole is repeated `rounds` times and the median kept. Then each store that keeps a
 * file times ALONE sets that each wait for the file to be written, with both shapes of keys in it.
 */
export async function keyvThroughput(freshDir, n, rounds, value, order, log) {
  const shortKeys = Array.from({ length: n }, (_, i) => `user:${String(i).padStart(8, '0')}`);
  const longKeys = Array.from({ length: n }, (_, i) => `https://api.example.com/v2/users/${i}/profile?fields=name,email,active,score,tags&expand=teams`);
  const names = Object.keys(keyvPeers);
  const samples = {};
  for (let round = 0; round < rounds; round++) {
    const stores = {};
    for (const name of names) stores[name] = await keyvPeers[name].open(freshDir(name));
    let written = 0;
    for (const [shape, keys] of [['', shortKeys], [' (long keys)', longKeys]]) {
      const set = async (store, i) => { await store.set(keys[i], value(i)); };
      const check = {};
      const get = async (store, i, name) => { check[name] = (check[name] ?? 0) + (await store.get(keys[order[i]])).id; };
      for (const [op, call] of [[`set${shape}`, set], [`get${shape}`, get]]) {
        const ms = Object.fromEntries(names.map((name) => [name, 0]));
        for (let from = 0, slice = 0; from < n; from += SLICE, slice++) {
          const to = Math.min(n, from + SLICE);
          for (const name of names.map((_, i) => names[(i + slice) % names.length])) {
            const store = stores[name];
            const t = performance.now();
            for (let i = from; i < to; i++) await call(store, i, name);
            if (call === set && store.endSlice) await store.endSlice();
            ms[name] += performance.now() - t;
          }
        }
        for (const name of names) ((samples[name] ??= {})[op] ??= []).push(n / (ms[name] / 1000));
        if (call === set) written += n;
      }
      for (const name of names) if (check[name] !== (n * (n - 1)) / 2) throw new Error(`${name} read wrong values`);
      for (const name of names) {
        const found = await stores[name].count?.();
        if (found !== undefined && found !== written) throw new Error(`${name}'s file holds ${found} keys, not ${written}`);
      }
    }
    for (const name of names) {
      const store = stores[name];
      if (!store.setAlone) continue;
      const ms = [];
      for (let i = 0; i < ALONE; i++) {
        const t = performance.now();
        await store.setAlone(longKeys[i], value(i));
        ms.push(performance.now() - t);
      }
      (samples[name]['set alone (ms)'] ??= []).push(median(ms));
    }
    for (const store of Object.values(stores)) await store.close();
    log(`  Keyv, ${n} keys, round ${round + 1}/${rounds} done`);
  }
  const result = { n };
  for (const [name, ops] of Object.entries(samples)) result[name] = Object.fromEntries(Object.entries(ops).map(([op, xs]) => [op, median(xs)]));
  return result;
}

/** keyvReport: the section of bench/RESULTS.md on Keyv, with how each store was set. */
export function keyvReport(r, fmt, ratio) {
  const ops = ['set', 'get', 'set (long keys)', 'get (long keys)'];
  const names = Object.keys(keyvPeers);
  const label = (name) => keyvPeers[name].label ?? name;
  const lines = [`## Through Keyv, ${r.n} keys`, ''];
  lines.push(`Keyv 5 \`set\` and \`get\`, each awaited (keyv-file's sets a slice at a time, as said below), values serialized by Keyv as always (about 150 bytes of JSON); reads in a random order. Long keys are URLs of about 120 characters, set into the same store after the short ones. The stores take turns every ${SLICE.toLocaleString('en')} calls. flat-cache is measured beside them through its own calls.`, '');
  lines.push(`| store | ${ops.join(' | ')} |`, `|---|${ops.map(() => '---:').join('|')}|`);
  for (const name of names) lines.push(`| ${label(name)} | ${ops.map((op) => fmt(r[name][op])).join(' | ')} |`);
  lines.push('', `slabkv against each, same run: ${names.filter((x) => x !== 'slabkv').map((x) => `${x}: ${ops.map((op) => `${op} ${ratio(r.slabkv[op], r[x][op])}`).join(', ')}`).join('; ')}.`, '');
  const alone = names.filter((name) => r[name]['set alone (ms)'] !== undefined);
  lines.push(`A set that returns only once its data is in the file, as each awaited set of slabkv and @keyv/sqlite does (the file holding ${(2 * r.n).toLocaleString('en')} keys, median of each round's median of 5): ${alone.map((name) => `${name} ${r[name]['set alone (ms)'].toFixed(0)} ms (${(1000 / r[name]['set alone (ms)']).toFixed(1)} sets/s)`).join(', ')}; keyv-file's is a set awaited on its own (with writeDelay 0; its default would add 100 ms), flat-cache's a setKey then save(). Each rewrites the whole file, so its cost grows with the store.`, '');
  lines.push('How each store was set:', '');
  for (const name of names) lines.push(`- **${name}**: ${keyvPeers[name].note}.`);
  lines.push('');
  return lines;
}
