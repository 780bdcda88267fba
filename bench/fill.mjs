// Space figures of issue 13, shared by `npm run bench` (at 1 GiB) and test/space.test.mjs (at a size that runs in
// seconds): how much of a store's cap holds live key and value bytes when it first says STORE_FULL.
import { rmSync, statSync } from 'node:fs';
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'

/** fillLarge fills a store of maxFileSize bytes with values of 16384 bytes of JSON until STORE_FULL. */
export function fillLarge(path, maxFileSize) {
  rmSync(path, { force: true });
  const db = new DataStore(path, { maxFileSize });
  const pad = 'v'.repeat(16384 - 10);
  let count = 0;
  let valueBytes = 0;
  try {
    for (;; count++) {
      const value = { p: pad.slice(0, 16384 - 13 - String(count).length), n: count }; // {"p":"…","n":123}: 16384 bytes
      db.create(`v:${count}`, value);
      valueBytes += 16384;
    }
  } catch (error) { if (error.code !== 'STORE_FULL') throw error; }
  const fileBytes = db.stats().fileBytes;
  db.close();
  return { count, valueBytes, fileBytes, ofCap: valueBytes / maxFileSize };
}

/**
 * fillMixed fills a store of maxFileSize bytes with values whose JSON length is log-uniform from 20 bytes to 12 KB,
 * until STORE_FULL, then `rounds` times deletes about half the keys and fills it again. Returns the live key and
 * value bytes as a share of the cap, new and after each round.
 */
export function fillMixed(path, maxFileSize, rounds = 3, seed = 7) {
  rmSync(path, { force: true });
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const db = new DataStore(path, { maxFileSize });
  const live = new Map();
  let next = 0;
  let liveBytes = 0;
  const fill = () => {
    for (;;) {
      const size = Math.round(20 * Math.pow(12000 / 20, rand()));
      const key = `m:${next}`;
      const value = { p: 'x'.repeat(Math.max(0, size - 8)) }; // {"p":""} is 8 bytes
      try { db.create(key, value); } catch (error) { if (error.code === 'STORE_FULL') return; throw error; }
      const bytes = key.length + Math.max(size, 8);
      live.set(key, bytes);
      liveBytes += bytes;
      next++;
    }
  };
  fill();
  const ofCap = [liveBytes / maxFileSize];
  for (let round = 0; round < rounds; round++) {
    for (const [key, bytes] of live) if (rand() < 0.5) { db.delete(key); live.delete(key); liveBytes -= bytes; }
    fill();
    ofCap.push(liveBytes / maxFileSize);
  }
  const verified = db.verify().ok;
  db.close();
  return { keys: live.size, liveBytes, ofCap, verified };
}

/** blocksAfterDeleteAll fills a store, deletes every key and reports the file's allocated bytes at peak and after. */
export function blocksAfterDeleteAll(path, count, valueBytes) {
  rmSync(path, { force: true });
  const db = new DataStore(path);
  const pad = 'z'.repeat(valueBytes);
  for (let i = 0; i < count; i++) db.create(`d:${i}`, { i, pad });
  db.flush();
  const peak = statSync(path).blocks * 512;
  for (let i = 0; i < count; i++) db.delete(`d:${i}`);
  db.flush();
  const after = statSync(path).blocks * 512; // while open
  const stats = db.stats();
  db.close();
  const closed = statSync(path).blocks * 512; // closing also gives back the file's unused tail
  const again = new DataStore(path);
  for (let i = 0; i < 100; i++) again.create(`again:${i}`, { i, pad }); // the store keeps working
  const works = again.count === 100 && again.verify().ok;
  again.close();
  return { peak, after, closed, fileBytes: stats.fileBytes, stats, works };
}
