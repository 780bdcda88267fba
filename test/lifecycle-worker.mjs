// Worker for the lifecycle tests: opens the store when asked, and closes it the moment the main thread opens the gate.
import { parentPort, workerData } from 'node:worker_threads';
import { DataStore } from 'slabkv';

let gate;
let db;
parentPort.on('message', (message) => {
  if (message.gate) gate = message.gate;
  if ('open' in message) {
    db = new DataStore(workerData.path);
    db.create(`worker:${message.open}`, { round: message.open });
  }
  if ('close' in message) {
    Atomics.store(gate, 1, message.close + 1); // at the gate
    Atomics.wait(gate, 0, message.close); // until the main thread moves it past this round
    db.close();
  }
  parentPort.postMessage('done');
});
