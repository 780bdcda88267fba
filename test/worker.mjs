// Worker thread for the thread tests. workerData: { mode, path, id, ops, gate }.
import { parentPort, workerData } from 'node:worker_threads';
import { DataStore, DataStoreError } from 'slabkv';

const { mode, path, id, ops, gate } = workerData;
const attempt = (fn) => { try { fn(); return true; } catch (error) { if (error instanceof DataStoreError && (error.code === 'KEY_EXISTS' || error.code === 'KEY_NOT_FOUND')) return false; throw error; } };
/** All workers start together: each adds one to the gate, then waits until the gate reaches the count. */
const startTogether = () => {
  if (!gate) return;
  const cells = new Int32Array(gate);
  Atomics.add(cells, 0, 1);
  while (Atomics.load(cells, 0) < cells[1]) Atomics.wait(cells, 0, Atomics.load(cells, 0), 5);
};

if (mode === 'mixed') {
  const db = new DataStore(path);
  startTogether();
  const created = {}; // shared key -> successful creates minus successful deletes by this worker
  for (let i = 0; i < ops; i++) {
    const own = `t${id}:${i}`;
    db.create(own, { id, i, pad: 'm'.repeat((i * 7 + id) % 1500) });
    if (i % 4 === 0) db.delete(own);
    const shared = `shared:${i % 50}`;
    if (i % 2 === 0) { if (attempt(() => db.create(shared, { by: id, i }))) created[shared] = (created[shared] ?? 0) + 1; }
    else if (attempt(() => db.delete(shared))) created[shared] = (created[shared] ?? 0) - 1;
    if (i % 4 !== 0 && db.read(own).i !== i) throw new Error(`worker ${id} read a wrong value for ${own}`);
  }
  db.close();
  parentPort.postMessage({ created });
} else if (mode === 'race') {
  const db = new DataStore(path);
  startTogether();
  const won = [];
  for (let j = 0; j < ops; j++) if (attempt(() => db.create(`race:${j}`, { winner: id }))) won.push(j);
  db.close();
  parentPort.postMessage({ won });
} else if (mode === 'lifetime') {
  // Open, work a little, then close or (on odd ids) just exit with the store open.
  const db = new DataStore(path);
  for (let i = 0; i < ops; i++) {
    db.create(`life${id}:${i}`, { id, i });
    db.read(`life${id}:${i}`);
  }
  if (id % 2 === 0) db.close();
  parentPort.postMessage({ done: true });
} else if (mode === 'hold') {
  const db = new DataStore(path);
  db.create(`held:${id}`, { id });
  parentPort.postMessage({ holding: true });
  parentPort.once('message', () => { db.close(); parentPort.postMessage({ closed: true }); });
} else if (mode === 'found') {
  const db = new DataStore(path);
  parentPort.postMessage({ openedFrom: db.stats().openedFrom });
  db.close();
} else if (mode === 'spin-in-store') {
  // Works until terminated: worker.terminate() can land in the middle of a change.
  const db = new DataStore(path);
  parentPort.postMessage({ started: true });
  for (let i = 0; ; i++) {
    db.create(`spin${id}:${i}`, { i, pad: 's'.repeat(i % 3000) });
    if (i % 2) db.delete(`spin${id}:${i - 1}`);
  }
}
