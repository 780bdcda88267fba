// A child process for the lifecycle tests: node test/lifecycle-child.mjs <mode> <path> [n]. The tests arm a crash
// point with SLABKV_CRASH_POINT; the child then dies by SIGKILL at exactly that instant. Each acknowledged change is
// logged to stdout (one JSON line) only after it returned.
import { openSync, closeSync, statSync, writeSync } from 'node:fs';
import { DataStore } from 'slabkv';

const [mode, path, count] = process.argv.slice(2);
const n = Number(count ?? 0);
const say = (event) => writeSync(1, JSON.stringify(event) + '\n');
export const valueOf = (i) => ({ i, pad: 'x'.repeat((i * 37) % 900) });

if (mode === 'create') {
  // Creates the store (the crash point may be in its creation), then one key, and closes.
  const db = new DataStore(path);
  db.create('first', { ok: true });
  say({ created: 'first' });
  db.close();
  say({ closed: true });
} else if (mode === 'write-close') {
  // Writes n keys, then closes (the crash point may be in a change, in growth or in close).
  const db = new DataStore(path);
  for (let i = 0; i < n; i++) {
    db.create(`k:${i}`, valueOf(i));
    say({ created: i });
  }
  db.close();
  say({ closed: true });
} else if (mode === 'write-delete-close') {
  // Writes n keys, deletes the first half (spans become free, to be given back at close), then closes.
  const db = new DataStore(path);
  for (let i = 0; i < n; i++) db.create(`k:${i}`, valueOf(i));
  for (let i = 0; i < n / 2; i++) db.delete(`k:${i}`);
  say({ written: n, deleted: n / 2 });
  db.close();
  say({ closed: true });
} else if (mode === 'repair') {
  // Opens the store with repair (the crash point may be in it), then closes.
  const db = new DataStore(path, { repair: true });
  say({ repaired: db.stats().recovered });
  db.close();
  say({ closed: true });
} else if (mode === 'exit-without-close') {
  const db = new DataStore(path);
  for (let i = 0; i < n; i++) db.create(`k:${i}`, valueOf(i));
  say({ exiting: true });
  process.exit(0);
} else if (mode === 'hold-after-writes' || mode === 'hold-after-damage') {
  // Writes n keys (and, for hold-after-damage, damages the free span list in the header behind the store's back),
  // settles, says so, and stays idle until killed.
  const db = new DataStore(path);
  for (let i = 0; i < n; i++) db.create(`k:${i}`, valueOf(i));
  if (mode === 'hold-after-damage') {
    const fd = openSync(path, 'r+');
    const word = Buffer.alloc(4);
    word.writeUInt32LE(4096 + 3 * 65536); // a slab boundary inside the heap that starts no FREE span
    writeSync(fd, word, 0, 4, 72); // Header.freeSpanHead: not checked at open, rebuilt by recovery
    closeSync(fd);
  }
  await settle(db);
  say({ holding: true });
  setInterval(() => db.has('k:0'), 1000);
}

/**
 * settle leaves the file as an open can prove its writer's own (spec section 10): it waits until the clock has
 * passed the file's ctime (its last stamp) by more than the file system's timestamp granularity, then takes the lock
 * once (stats), which notes a later lastWriteAt without writing a page that was clean (no new stamp).
 */
async function settle(db) {
  const { ctimeNs } = statSync(path, { bigint: true });
  const granularityMs = ctimeNs % 1000000n !== 0n ? 1 : 2000;
  while (Date.now() <= Number(ctimeNs / 1000000n) + granularityMs + 50) await new Promise((resolve) => setTimeout(resolve, 10));
  db.stats();
}
