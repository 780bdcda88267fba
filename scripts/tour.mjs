// A short tour of slabkv on the default store (in the per-user data directory). Safe to run again and again:
// it uses keys under "tour:" and removes them before it ends.
import { DataStore, DataStoreError } from 'slabkv';

const db = new DataStore();
const show = (label, value) => console.log(`${label.padEnd(42)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);

show('store file', db.path);
for (const key of ['tour:ada', 'tour:session']) if (db.has(key)) db.delete(key);

db.create('tour:ada', { name: 'Ada Lovelace', born: 1815, languages: ['English', 'French'] });
show('create tour:ada, then read it', db.read('tour:ada'));

try {
  db.create('tour:ada', { name: 'someone else' });
} catch (error) {
  if (!(error instanceof DataStoreError)) throw error;
  show('create tour:ada again', `${error.code}: ${error.message}`);
}

db.create('tour:session', { user: 'ada' }, 60);
show('create tour:session with ttl 60 s', `has() = ${db.has('tour:session')}; it is gone for read and delete after 60 s`);

for (const [label, call] of [
  ['a 33-character key', () => db.create('k'.repeat(33), {})],
  ['an array as the value', () => db.create('tour:list', [1, 2, 3])],
  ['a value of 16,385 bytes of JSON', () => db.create('tour:big', { s: 'x'.repeat(16377) })],
  ['a TTL of 1.5 seconds', () => db.create('tour:ttl', {}, 1.5)],
]) {
  try { call(); } catch (error) { show(`refused: ${label}`, `${error.code}: ${error.message}`); }
}

const stats = db.stats();
show('stats', { keys: stats.keys, fileBytes: stats.fileBytes, buckets: stats.buckets, loadFactor: Number(stats.loadFactor.toFixed(4)) });

db.delete('tour:ada');
db.delete('tour:session');
show('delete both; has(tour:ada)', String(db.has('tour:ada')));
db.close();
show('closed', 'the file is unlocked and marked cleanly closed');
