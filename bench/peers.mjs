// The stores the benchmark compares, behind one small interface. Each is set to its fastest configuration that
// still keeps every returned write across a crash of the process (not of the OS), as slabkv's default does.
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'

const require = createRequire(import.meta.url);

function folderBytes(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const s = statSync(join(dir, name));
    total += s.isDirectory() ? folderBytes(join(dir, name)) : s.size;
  }
  return total;
}

export const peers = {
  slabkv: {
    note: "default durability ('flush'): changes survive a process crash; flush() or close() for power loss",
    open(dir) {
      const db = new DataStore(join(dir, 'bench.slabkv'));
      return {
        create: (k, v) => db.create(k, v),
        read: (k) => db.read(k),
        readText: (k) => db.readText(k),
        has: (k) => db.has(k),
        delete: (k) => db.delete(k),
        bytes: () => db.stats().fileBytes,
        close: () => db.close(),
      };
    },
  },
  lmdb: {
    note: "lmdb-js, encoding 'json', noSync: true (commits reach the OS page cache, not the disk: survives a process crash); putSync / get / doesExist / removeSync",
    open(dir) {
      const { open } = require('lmdb');
      const db = open({ path: join(dir, 'lmdb'), encoding: 'json', noSync: true, mapSize: 4 * 1024 ** 3 });
      return {
        create: (k, v) => db.putSync(k, v),
        read: (k) => db.get(k),
        has: (k) => db.doesExist(k),
        delete: (k) => db.removeSync(k),
        createMany: (keys, valueFor) => db.transactionSync(() => { for (let i = 0; i < keys.length; i++) db.put(keys[i], valueFor(i)); }),
        bytes: () => folderBytes(join(dir, 'lmdb')),
        close: () => db.close(),
      };
    },
  },
  sqlite: {
    note: 'better-sqlite3 12, WAL, synchronous=OFF (each statement reaches the OS: survives a process crash), prepared statements, a TEXT PRIMARY KEY table WITHOUT ROWID',
    open(dir) {
      const Database = require('better-sqlite3');
      const db = new Database(join(dir, 'bench.sqlite'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF');
      db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
      const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
      const select = db.prepare('SELECT value FROM kv WHERE key = ?').pluck();
      const exists = db.prepare('SELECT 1 FROM kv WHERE key = ?').pluck();
      const remove = db.prepare('DELETE FROM kv WHERE key = ?');
      return {
        create: (k, v) => insert.run(k, JSON.stringify(v)),
        read: (k) => JSON.parse(select.get(k)),
        has: (k) => exists.get(k) !== undefined,
        delete: (k) => remove.run(k),
        bytes: () => { db.pragma('wal_checkpoint(TRUNCATE)'); return folderBytes(dir); },
        close: () => db.close(),
      };
    },
  },
  'classic-level': {
    note: 'LevelDB through classic-level 3, utf8 values of JSON text; getSync for reads, awaited put/del for writes (its only single-key write API is asynchronous)',
    async: true,
    open(dir) {
      const { ClassicLevel } = require('classic-level');
      const db = new ClassicLevel(join(dir, 'level'), { valueEncoding: 'utf8' });
      return {
        ready: () => db.open(),
        create: (k, v) => db.put(k, JSON.stringify(v)),
        read: (k) => JSON.parse(db.getSync(k)),
        has: (k) => db.getSync(k) !== undefined,
        delete: (k) => db.del(k),
        bytes: () => folderBytes(join(dir, 'level')),
        close: () => db.close(),
      };
    },
  },
  'Map+JSON': {
    note: 'a Map of JSON text with JSON.parse on read: no file, the in-process limit',
    open() {
      const map = new Map();
      return {
        create: (k, v) => { if (map.has(k)) throw new Error('exists'); map.set(k, JSON.stringify(v)); },
        read: (k) => JSON.parse(map.get(k)),
        readText: (k) => map.get(k),
        has: (k) => map.has(k),
        delete: (k) => { if (!map.delete(k)) throw new Error('missing'); },
        bytes: () => 0,
        close: () => map.clear(),
      };
    },
  },
};

export function freshDir(root, name) {
  const dir = join(root, `${name.replace(/[^a-z]/gi, '')}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
