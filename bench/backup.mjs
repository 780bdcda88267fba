// db.backup of a full store, in use: its time against the disk's own speed (writing as many bytes to a new file and
// syncing it, the least any copy must do), and the longest a writer in another thread waited meanwhile. Run alone:
// node bench/backup.mjs [MiB]; `npm run bench` includes it (1 GiB).
import { closeSync, mkdtempSync, openSync, rmSync, fsyncSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DataStore } from '../dist/index.mjs';

const now = () => performance.now();

/** backupTime fills a store of `cap` bytes in `dir`, then times its backup while a worker thread keeps creating keys. */
export async function backupTime(dir, cap = 2 ** 30) {
  const path = join(dir, 'full.slabkv');
  const db = new DataStore(path, { maxFileSize: cap });
  const pad = 'b'.repeat(1000);
  let count = 0;
  try { for (;; count++) db.create(`b:${count}`, { count, pad }); } catch (error) { if (error.code !== 'STORE_FULL') throw error; }
  for (let i = 0; i < 2000; i++) db.delete(`b:${i}`); // room for the writer
  const fileBytes = db.stats().fileBytes;

  const disk = diskWriteMs(join(dir, 'disk-speed'), fileBytes);

  const flags = new Int32Array(new SharedArrayBuffer(8)); // [0]: 1 = stop; [1]: creates made
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { path, flags: flags.buffer } });
  const done = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  while (Atomics.load(flags, 1) < 100) await new Promise((resolve) => setTimeout(resolve, 1));
  const target = join(dir, 'backup.slabkv');
  const t = now();
  db.backup(target);
  const ms = now() - t;
  await new Promise((resolve) => setTimeout(resolve, 20)); // the writer goes on after the backup
  Atomics.store(flags, 0, 1);
  const { maxWaitMs, creates } = await done;
  db.close();
  const copy = new DataStore(target);
  const verifiedOk = copy.verify().ok && copy.stats().recovered === null;
  copy.close();
  rmSync(path);
  rmSync(target);
  return { fileBytes, records: count, ms, diskMs: disk, maxWaitMs, creates, verifiedOk };
}

/** diskWriteMs times writing `bytes` from memory to a new file and syncing it: the disk's speed for that much. */
function diskWriteMs(file, bytes) {
  const block = Buffer.alloc(8 * 2 ** 20, 0x5a);
  const fd = openSync(file, 'w');
  const t = now();
  for (let at = 0; at < bytes; at += block.length) writeSync(fd, block, 0, Math.min(block.length, bytes - at));
  fsyncSync(fd);
  const ms = now() - t;
  closeSync(fd);
  rmSync(file);
  return ms;
}

if (!isMainThread) {
  // The writer: creates keys until told to stop (deleting all but its last 64), and reports the longest a create took.
  const flags = new Int32Array(workerData.flags);
  const db = new DataStore(workerData.path);
  let maxWaitMs = 0;
  let i = 0;
  for (; Atomics.load(flags, 0) === 0; i++) {
    const t = now();
    db.create(`w:${i}`, { i });
    maxWaitMs = Math.max(maxWaitMs, now() - t);
    if (i >= 63) db.delete(`w:${i - 63}`); // 64 keys live at most: however fast it runs, it never fills the store
    Atomics.store(flags, 1, i + 1);
  }
  db.close();
  parentPort.postMessage({ maxWaitMs, creates: i });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'slabkv-backup-'));
  try {
    const r = await backupTime(dir, Number(process.argv[2] ?? 1024) * 2 ** 20);
    console.log(describe(r) + '.');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** describe is the figures in a sentence. */
export function describe(r) {
  const mibs = (ms) => `${((r.fileBytes / 2 ** 20) / (ms / 1000)).toFixed(0)} MiB/s`;
  return `backup of a full ${(r.fileBytes / 2 ** 20).toFixed(0)} MiB store in use (${r.records} records of ~1 KiB): ` +
    `${(r.ms / 1000).toFixed(2)} s, ${mibs(r.ms)}, against ${(r.diskMs / 1000).toFixed(2)} s (${mibs(r.diskMs)}) to ` +
    `write and sync as many bytes to a new file (${(r.diskMs / r.ms).toFixed(2)}× that speed); a writer in another ` +
    `thread waited at most ${r.maxWaitMs.toFixed(0)} ms for a create meanwhile; the backup ${r.verifiedOk ? 'opened without recovery and verified clean' : 'did NOT verify clean'}`;
}
