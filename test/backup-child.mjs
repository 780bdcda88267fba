// A helper for the backup tests. As a process: node test/backup-child.mjs <store> <target> <n> writes n keys to the
// store, says so, and backs it up to target (the tests arm a crash point with SLABKV_CRASH_POINT, and the child
// dies by SIGKILL there). As a worker thread (workerData: { path, stop }): changes the store until told to stop,
// so that at every instant it holds k:i alone or k:i-1 and k:i, for the last i begun; with mode 'transfers', moves
// units from acct:a to acct:b, a transaction each, so that their sum never changes.
import { createHash } from 'node:crypto';
import { readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DataStore } from 'slabkv';

export const valueOf = (i) => ({ i, pad: 'b'.repeat((i * 37) % 900) });

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const [path, target, count] = process.argv.slice(2);
  const db = new DataStore(path);
  for (let i = 0; i < Number(count); i++) db.create(`k:${i}`, valueOf(i));
  for (let i = 0; i < Number(count); i += 3) db.delete(`k:${i}`); // free chunks, and spans, in the copy
  // The store's bytes after its header (what the page cache holds, the mapping's writes included), to show that the
  // backup writes none of them.
  const heap = createHash('sha256').update(readFileSync(path).subarray(4096)).digest('hex');
  writeSync(1, JSON.stringify({ written: Number(count), heap }) + '\n');
  db.backup(target);
  writeSync(1, JSON.stringify({ backedUp: target }) + '\n');
  db.close();
} else if (!isMainThread && workerData.mode === 'transfers') {
  // Moves one unit at a time from acct:a to acct:b, each move a transaction of two updates, until told to stop.
  const { path, stop } = workerData;
  const flags = new Int32Array(stop); // [0]: set by the parent to stop; [1]: transfers made
  const db = new DataStore(path);
  for (let i = 1; Atomics.load(flags, 0) === 0; i++) {
    db.transaction(() => {
      db.update('acct:a', (a) => ({ balance: a.balance - 1 }));
      db.update('acct:b', (b) => ({ balance: b.balance + 1 }));
    });
    Atomics.store(flags, 1, i);
  }
  db.close();
  parentPort.postMessage({ transfers: Atomics.load(flags, 1) });
} else if (!isMainThread) {
  const { path, stop } = workerData;
  const flags = new Int32Array(stop); // [0]: set by the parent to stop; [1]: the last i begun
  const db = new DataStore(path);
  db.create('k:0', valueOf(0));
  let i = 1;
  for (; Atomics.load(flags, 0) === 0; i++) {
    Atomics.store(flags, 1, i);
    db.create(`k:${i}`, valueOf(i));
    db.delete(`k:${i - 1}`);
  }
  db.close();
  parentPort.postMessage({ last: i - 1 });
}
