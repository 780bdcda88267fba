// A short tour of slabkv on the default store (in the per-user data directory): each call is printed as it is made,
// then what it returned or the error it threw. Safe to run again and again: it uses keys under "tour:" and removes
// them before it ends.
import { DataStore } from 'slabkv';

const db = new DataStore();
console.log(`> const db = new DataStore()\n  the default store, ${db.path}`);
for (const key of [...db.keys({ prefix: 'tour:' })]) db.delete(key); // left by a tour that was interrupted

/** call prints the source of a call on db, runs exactly that source, and prints what it returned or threw. */
function call(source, note) {
  console.log(`\n> ${source}${note ? `   // ${note}` : ''}`);
  try {
    const result = new Function('db', `return (${source});`)(db);
    console.log(`  ${result === undefined ? 'undefined' : JSON.stringify(result)}`);
  } catch (error) {
    console.log(`  threw ${error.code ?? error.name}: ${error.message}`);
  }
}

call(`db.set('tour:ada', { name: 'Ada Lovelace', born: 1815 })`, 'creates the key, or replaces its value');
call(`db.get('tour:ada')`);
call(`db.get('tour:nobody')`, 'a missing key is undefined');
call(`db.update('tour:ada', (ada) => ({ ...ada, languages: ['English', 'French'] }))`, 'read, change and write back, atomically');
call(`db.update('tour:visits', (visits) => ({ count: (visits?.count ?? 0) + 1 }))`, 'a counter');
call(`db.update('tour:visits', (visits) => ({ count: (visits?.count ?? 0) + 1 }))`);
call(`db.create('tour:ada', { name: 'someone else' })`, 'create refuses a key that exists');
call(`db.set('tour:session', { user: 'ada' }, 60)`, 'gone after 60 seconds');
call(`db.expiresAt('tour:session') - Date.now() <= 60000`);
call(`db.set('tour:acct:1', { balance: 100 })`);
call(`db.set('tour:acct:2', { balance: 0 })`);
call(`db.transaction(() => {
    db.update('tour:acct:1', (a) => ({ balance: a.balance - 30 }));
    db.update('tour:acct:2', (a) => ({ balance: a.balance + 30 }));
  })`, 'both changes or neither, even across a crash');
call(`db.transaction(() => {
    db.delete('tour:acct:1');
    throw new Error('changed my mind');
  })`, 'a throw undoes the whole transaction');
call(`[db.get('tour:acct:1'), db.get('tour:acct:2')]`);
call(`db.set('k'.repeat(33), {})`, 'keys are 1 to 32 characters');
call(`db.set('tour:list', [1, 2, 3])`, 'values are JSON objects');
call(`db.set('tour:big', { s: 'x'.repeat(16377) })`, 'of at most 16 KiB of JSON');
call(`[...db.keys({ prefix: 'tour:' })]`);
call(`[...db.keys({ prefix: 'tour:' })].forEach((key) => db.delete(key))`, 'the tour cleans up');
call(`db.close()`, 'the file is unlocked and marked cleanly closed');
