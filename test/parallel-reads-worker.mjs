// Worker for the parallel-reads tests.
import { parentPort, workerData } from 'node:worker_threads';
import { DataStore } from 'slabkv';

const { mode, path } = workerData;
const db = new DataStore(path);

if (mode === 'hold-lock') {
  db.verify({ onProgress: () => {
    parentPort.postMessage('holding');
    Atomics.wait(workerData.gate, 0, 0); // hold the lock until the main thread opens the gate
  } });
  parentPort.postMessage('released');
} else if (mode === 'race') {
  // Stable keys must always be there with their value; churned keys may be missing for a moment, but a value read
  // must be one that was written for that key.
  const { stop, stable, churn } = workerData;
  let seed = workerData.seed + 1;
  const next = (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % n; };
  const wrong = [];
  let reads = 0;
  parentPort.postMessage('reading');
  while (Atomics.load(stop, 0) === 0 && wrong.length < 10) {
    Atomics.add(stop, 1, 100);
    for (let n = 0; n < 100; n++, reads++) {
      const stableKey = next(2) === 0;
      const key = stableKey ? `s:${next(stable)}` : `c:${next(churn)}`;
      try {
        const value = db.read(key);
        const sound = value.key === key && value.pad === 'v'.repeat((value.version * 97) % 3000) &&
          (!stableKey || value.version === Number(key.slice(2)));
        if (!sound) wrong.push(`${key}: read ${JSON.stringify(value).slice(0, 60)}`);
      } catch (error) {
        if (stableKey || error.code !== 'KEY_NOT_FOUND') wrong.push(`${key}: ${error.code ?? ''} ${error.message}`);
      }
    }
  }
  Atomics.add(stop, 1, 1 << 24); // a reader that stops early (too much wrong) lets the writer finish
  parentPort.postMessage({ reads, wrong });
}
