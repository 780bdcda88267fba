// A helper process for the crash tests of transactions: node test/transaction-child.mjs <mode> <path> [log].
// Armed with SLABKV_CRASH_POINT, it dies at that point; else it runs until killed. Its log is written with write(2),
// so every line it wrote before the kill is in the file.
import { openSync, writeSync } from 'node:fs';
import { DataStore } from 'slabkv';

const [modeArgument, path, logPath] = process.argv.slice(2);
// A mode ending in `-always` runs with durability 'always': the commit syncs each of its steps.
const mode = modeArgument.replace(/-always$/, '');
const db = new DataStore(path, modeArgument.endsWith('-always') ? { durability: 'always' } : undefined);
const log = logPath ? openSync(logPath, 'a') : -1;
const say = (event) => writeSync(log, JSON.stringify(event) + '\n');

if (mode === 'seed') {
  // Ten accounts of 100 each, a counter at 0, and a key to replace.
  db.transaction(() => {
    for (let i = 0; i < 10; i++) db.set(`acct:${i}`, { balance: 100 });
    db.set('counter', { n: 0 });
    db.set('doc', { version: 'old', pad: 'o'.repeat(500) });
  });
  db.close();
} else if (mode === 'one-transaction') {
  // The transaction the crash points are armed in: every account changes, one is deleted, one created, doc replaced.
  db.transaction(() => {
    for (let i = 0; i < 10; i++) db.update(`acct:${i}`, (a) => ({ balance: a.balance + 1 }));
    db.delete('acct:0');
    db.create('acct:new', { balance: 10 });
    db.set('doc', { version: 'new' });
  });
  say({ committed: true });
} else if (mode === 'throw-inside') {
  // Throws once the transaction has changed everything: the undo runs (the crash point undo.undoing kills it there).
  try {
    db.transaction(() => {
      for (let i = 0; i < 10; i++) db.update(`acct:${i}`, (a) => ({ balance: a.balance + 1 }));
      db.delete('acct:0');
      db.create('acct:new', { balance: 10 });
      db.set('doc', { version: 'new' });
      throw new Error('changed my mind');
    });
  } catch {
    say({ undone: true });
  }
} else if (mode === 'die-inside') {
  // Dies inside the transaction's function, after it has changed everything but before the commit.
  db.transaction(() => {
    for (let i = 0; i < 10; i++) db.update(`acct:${i}`, (a) => ({ balance: a.balance + 1 }));
    db.set('doc', { version: 'new' });
    db.clear();
    process.kill(process.pid, 'SIGKILL');
  });
} else if (mode === 'set') {
  db.set('doc', { version: 'new' });
  say({ committed: true });
} else if (mode === 'loop') {
  // Moves money between accounts and counts, one transaction at a time, forever; announces each before and after.
  for (let i = 0; ; i++) {
    const from = `acct:${i % 10}`;
    const to = `acct:${(i * 7 + 3) % 10}`;
    say({ begin: i });
    const kind = i % 3;
    if (kind === 0) {
      db.transaction(() => {
        db.update(from, (a) => ({ balance: a.balance - 1 }));
        db.update(to, (a) => ({ balance: a.balance + 1 }));
        db.update('counter', (c) => ({ n: c.n + 1 }));
      });
    } else if (kind === 1) {
      db.update('counter', (c) => ({ n: c.n + 1 }));
    } else {
      db.set('doc', { version: i, pad: 'd'.repeat(i % 900) });
      db.update('counter', (c) => ({ n: c.n + 1 }));
    }
    say({ end: i });
  }
}
