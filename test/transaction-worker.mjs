// Worker thread for the transaction thread tests. workerData: { mode, path, id, ops, gate }.
import { parentPort, workerData } from 'node:worker_threads';
import { DataStore } from 'slabkv';

const { mode, path, id, ops, gate } = workerData;
const startTogether = () => {
  const cells = new Int32Array(gate);
  Atomics.add(cells, 0, 1);
  while (Atomics.load(cells, 0) < cells[1]) Atomics.wait(cells, 0, Atomics.load(cells, 0), 5);
};
const db = new DataStore(path);
startTogether();
const problems = [];

if (mode === 'increment') {
  for (let i = 0; i < ops; i++) db.update('counter', (c) => ({ n: (c?.n ?? 0) + 1 }));
} else if (mode === 'transfer') {
  // Moves one unit between two of 8 accounts per transaction, through two updates, with the intermediate value
  // visible inside the transaction only.
  for (let i = 0; i < ops; i++) {
    const from = `acct:${(i * 3 + id) % 8}`;
    const to = `acct:${(i * 5 + id + 1) % 8}`;
    if (from === to) continue;
    db.transaction(() => {
      db.update(from, (a) => ({ balance: a.balance - 1 }));
      db.update(to, (a) => ({ balance: a.balance + 1 }));
    });
  }
} else if (mode === 'steps') {
  // One key set ten times per transaction: only the last of each ten may ever be seen by another thread.
  for (let i = 0; i < ops; i++) db.transaction(() => { for (let j = 0; j < 10; j++) db.set('stepped', { v: i * 10 + j, pad: 's'.repeat(j * 40) }); });
} else if (mode === 'audit') {
  // Reads the accounts inside a transaction (a consistent view) and the stepped key without the lock.
  for (let i = 0; i < ops; i++) {
    const total = db.transaction(() => { let sum = 0; for (let a = 0; a < 8; a++) sum += db.get(`acct:${a}`).balance; return sum; });
    if (total !== 800) problems.push(`accounts sum to ${total}`);
    const stepped = db.get('stepped');
    if (stepped !== undefined && stepped.v % 10 !== 9) problems.push(`saw step ${stepped.v} of a transaction`);
    if (!db.has('acct:0')) problems.push('an account went missing');
  }
}
db.close();
parentPort.postMessage({ problems: problems.slice(0, 5) });
