// Worker for the parallel-reads tests.
import { parentPort, workerData } from 'node:worker_threads';
import { DataStore } from 'slabkv';

const { mode, path } = workerData;
const db = new DataStore(path);

if (mode === 'hold-lock') {
  // Holds the lock until the main thread opens the gate; after HOLD_LIMIT_MS it lets go anyway and says so, so
  // that a read that waits for the lock fails the test instead of hanging it.
  const HOLD_LIMIT_MS = 60_000;
  let how = 'never held';
  db.verify({ onProgress: (done) => {
    if (done !== 0) return;
    parentPort.postMessage('holding');
    how = Atomics.wait(workerData.gate, 0, 0, HOLD_LIMIT_MS);
  } });
  parentPort.postMessage({ released: how });
} else if (mode === 'race') {
  // Stable keys must always be there with their value; churned keys may be missing for a moment, but a value read
  // must be one that was written for that key.
  const { stop, stable, churn } = workerData;
  const next = randomBelow(workerData.seed + 1);
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
} else if (mode === 'torture-write') {
  // Writer `id` owns the keys t:i with i % writers === id. Each change of key i moves its state: an even state s
  // is "present with version s / 2", an odd one "deleted". The writer announces a state (log[2i]) before the call
  // that makes it and commits it (log[2i + 1]) after the call returned. Between changes it creates keys of its own
  // (g:id:n) so that the file grows and the index doubles while the readers read.
  const { log, stop, id, writers, keys, growth } = workerData;
  const next = randomBelow(id + 7);
  let changes = 0;
  let grown = 0;
  parentPort.postMessage('writing');
  while (Atomics.load(stop, 0) === 0 || grown < growth) {
    for (let n = 0; n < 20; n++, changes++) {
      const i = next(Math.floor(keys / writers)) * writers + id;
      const state = Atomics.load(log, 2 * i + 1);
      Atomics.store(log, 2 * i, state + 1);
      db.delete(`t:${i}`);
      Atomics.store(log, 2 * i + 1, state + 1);
      Atomics.store(log, 2 * i, state + 2);
      db.create(`t:${i}`, tortureValue(`t:${i}`, (state + 2) / 2)); // another size: chunks and spans are reused
      Atomics.store(log, 2 * i + 1, state + 2);
    }
    for (let n = 0; n < 20 && grown < growth; n++, grown++) db.create(`g:${id}:${grown}`, tortureValue(`g:${id}:${grown}`, grown));
    if (grown >= growth) Atomics.store(stop, 2 + id, 1); // this writer's growth is done
  }
  parentPort.postMessage({ changes, grown });
} else if (mode === 'torture-read') {
  // Checks every read against the writers' log: a value of version v needs state 2v between the state committed
  // before the read began and the state announced after it ended; KEY_NOT_FOUND (or has() false) needs an odd
  // state in that range.
  const { log, stop, keys, progress } = workerData;
  const next = randomBelow(workerData.seed + 1);
  const wrong = [];
  let reads = 0;
  parentPort.postMessage('reading');
  while (Atomics.load(stop, 0) === 0 && wrong.length < 10) {
    Atomics.add(progress, workerData.seed, 100);
    for (let n = 0; n < 100; n++, reads++) {
      const i = next(keys);
      const key = `t:${i}`;
      const how = next(3);
      const committed = Atomics.load(log, 2 * i + 1);
      let seen; // the state the read shows: 2v for version v, -1 for absent
      let problem = null;
      try {
        if (how === 2) {
          seen = db.has(key) ? -2 : -1;
        } else {
          const value = how === 0 ? db.read(key) : JSON.parse(db.readText(key));
          if (value.key !== key || value.pad !== tortureValue(key, value.version).pad) problem = `torn or foreign value ${JSON.stringify(value).slice(0, 80)}`;
          seen = 2 * value.version;
        }
      } catch (error) {
        if (error.code === 'KEY_NOT_FOUND') seen = -1;
        else problem = `${error.code ?? ''} ${error.message}`;
      }
      const announced = Atomics.load(log, 2 * i);
      if (problem === null) {
        const ok = seen === -1 ? committed % 2 === 1 || announced > committed // a deleted state in range
          : seen === -2 ? committed % 2 === 0 || announced > committed // a present state in range
            : committed <= seen && seen <= announced;
        if (!ok) problem = `saw state ${seen} with committed ${committed}, announced ${announced}`;
      }
      if (problem !== null) wrong.push(`${key}: ${problem}`);
    }
  }
  Atomics.add(progress, workerData.seed, 1 << 24); // a reader that stops early (too much wrong) lets the test finish
  parentPort.postMessage({ reads, wrong });
}

/** randomBelow returns a seeded generator of whole numbers below its argument n. */
function randomBelow(seed) {
  return (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % n; };
}

/** tortureValue is version v of key's value: its size, 20 to about 3,000 bytes, follows the version. */
function tortureValue(key, version) {
  return { key, version, pad: 'w'.repeat((version * 389) % 3000) };
}
