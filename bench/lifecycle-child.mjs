// For the lifecycle benchmark: opens a store, fills it to n keys, makes one change (so the file is marked open),
// says so, and stays idle until it is killed.
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'

const [path, n] = process.argv.slice(2);
const db = new DataStore(path);
const value = (i) => ({ id: i, name: 'Ada Lovelace', email: `user${i}@example.com`, active: i % 3 !== 0, created: 1767225600000 + i });
for (let i = db.count; i < Number(n); i++) db.create(`user:${String(i).padStart(8, '0')}`, value(i));
db.create(`idle:${process.pid}`, { pid: process.pid });
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
