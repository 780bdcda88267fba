// Worker thread for the Keyv store's thread test: its own Keyv and KeyvSlabkv on the shared path, writing keys of
// its own (short, long, one by one and with setMany) and reading those of the other workers once they are there.
import { parentPort, workerData } from 'node:worker_threads';
import Keyv from 'keyv';
import { KeyvSlabkv } from 'slabkv/keyv';

const { path, id, workers, count } = workerData;
const keyv = new Keyv({ store: new KeyvSlabkv(path), namespace: 'threads' });
const key = (worker, i) => (i % 2 === 0 ? `w${worker}:${i}` : `https://example.com/worker/${worker}/item/${i}?${'q'.repeat(100)}`);
const value = (worker, i) => ({ worker, i, text: `value ${i} of worker ${worker}` });

for (let i = 0; i < count; i += 10) {
  const batch = Array.from({ length: 10 }, (_, j) => ({ key: key(id, i + j), value: value(id, i + j) }));
  if ((i / 10) % 2 === 0) await keyv.setMany(batch);
  else for (const { key: k, value: v } of batch) await keyv.set(k, v);
}
// Every worker's keys, once each is there (the others may still be writing).
let wrong = 0;
for (let worker = 0; worker < workers; worker++) {
  for (let i = 0; i < count; i += 7) {
    let got;
    while ((got = await keyv.get(key(worker, i))) === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    if (JSON.stringify(got) !== JSON.stringify(value(worker, i))) wrong++;
  }
}
await keyv.disconnect();
parentPort.postMessage({ wrong });
