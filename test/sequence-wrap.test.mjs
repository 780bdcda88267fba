// The sequence word of spec section 11 wraps past 2^31 (it is an Int32Array element: it goes negative), and
// readers without the lock go on working: they test its parity and whether it moved, never its sign.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const format = createRequire(import.meta.url)('slabkv/format');
const tmp = scratch();
test.after(() => tmp.remove());

test('past the wrap of the sequence, a read without the lock still succeeds while another thread holds the lock', async () => {
  const path = tmp.file('wrap.slabkv');
  // A store of a few hundred slabs (so that verify, below, calls onProgress), left open by a killed writer.
  const made = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { DataStore } from 'slabkv';
    const db = new DataStore(${JSON.stringify(path)});
    db.transaction(() => { for (let i = 0; i < 24000; i++) db.set('w' + i, { i, pad: 'p'.repeat(900) }); });
    process.kill(process.pid, 'SIGKILL');`], { cwd: new URL('.', import.meta.url), encoding: 'utf8' });
  assert.is(made.signal, 'SIGKILL', made.stderr);
  const bytes = readFileSync(path);
  bytes.writeUInt32LE(0x7ffffffe, format.Header.sequence); // two changes from the wrap
  writeFileSync(path, bytes);
  const db = new DataStore(path); // rebuilt (the file was written from outside): one change, past the wrap
  db.set('w0', { i: 0 });
  db.set('w1', { i: 1 });
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`
    const { workerData: { path, signal } } = require('node:worker_threads');
    const { DataStore } = require('slabkv');
    const db = new DataStore(path);
    Atomics.wait(signal, 0, 0); // until the main thread holds the lock
    const value = db.get('w2');
    Atomics.store(signal, 0, value && value.i === 2 ? 2 : 3);
    Atomics.notify(signal, 0);
    db.close();`, { eval: true, workerData: { path, signal } });
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  let answer = 0;
  db.verify({
    onProgress: () => {
      if (answer !== 0) return;
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
      // The worker's read must not wait for this lock: a read that did would leave the signal at 1.
      Atomics.wait(signal, 0, 1, 10_000);
      answer = Atomics.load(signal, 0);
    },
  });
  await exited;
  assert.is(answer, 2, 'the worker read the key without the lock while verify held it');
  db.close();
});

test.run();
