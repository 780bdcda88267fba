// A helper process for the tests: node test/child.mjs <mode> <path> [args...]; prints one JSON line per event.
import { openSync, writeSync } from 'node:fs';
import { DataStore } from 'slabkv';

const [mode, path, ...args] = process.argv.slice(2);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');

if (mode === 'try-open') {
  try {
    const db = new DataStore(path);
    say({ opened: true, keys: db.stats().keys });
    db.close();
  } catch (error) {
    say({ opened: false, code: error.code, message: error.message });
  }
} else if (mode === 'hold') {
  // Opens the store, says so, and keeps it open until killed or told to close on stdin.
  const db = new DataStore(path);
  if (args[0] === 'write') db.create(`held:${process.pid}`, { pid: process.pid });
  say({ holding: true, pid: process.pid });
  process.stdin.on('data', () => { db.close(); say({ closed: true }); process.exit(0); });
} else if (mode === 'write-forever') {
  // Creates and deletes keys, logging each call before and after; the parent kills it with SIGKILL. The log is a
  // file written with write(2): a pipe would queue lines in this process when full, and lose them at the kill.
  const db = new DataStore(path);
  const start = Number(args[0] ?? 0);
  const log = openSync(args[1], 'w');
  const dieInRehash = args[2] === 'die-in-rehash'; // kill itself while the bucket array is being doubled
  const say = (event) => writeSync(log, JSON.stringify(event) + '\n');
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  for (let i = start; ; i++) {
    // Each change is announced before it is made, so the parent knows which one was in flight when it was killed.
    const key = `w:${i}`;
    say({ creating: key });
    db.create(key, { i, pad: 'p'.repeat((i * 13) % 600) });
    say({ created: key });
    if (dieInRehash && db.stats().rehashing && i % 7 === 0) {
      say({ dying: 'in rehash' });
      process.kill(process.pid, 'SIGKILL');
    }
    if (i % 3 === 0 && i > start) {
      say({ deleting: `w:${i - 1}` });
      db.delete(`w:${i - 1}`);
      say({ deleted: `w:${i - 1}` });
    }
  }
}
