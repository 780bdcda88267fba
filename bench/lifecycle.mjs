// The file's lifecycle, measured: opening a store whose writer was killed while idle (the kernel kept every
// page, so it is resumed without a rebuild) against a clean open and a forced rebuild; and open/close cycles.
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'

const CHILD = fileURLToPath(new URL('./lifecycle-child.mjs', import.meta.url));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const REPEATS = 5;

/** killIdleWriter runs a writer that fills the store to n keys, makes a change, and is killed with SIGKILL. */
async function killIdleWriter(path, n) {
  const child = spawn(process.execPath, [CHILD, path, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => { child.stdout.once('data', resolve); child.once('exit', reject); });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

function timeOpen(path) {
  const started = performance.now();
  const db = new DataStore(path);
  const ms = performance.now() - started;
  const recovered = db.stats().recovered;
  db.close();
  return { ms, rebuilt: recovered !== null };
}

export async function openAfterKill(dir, counts) {
  const results = [];
  for (const n of counts) {
    const path = join(dir, `killed-${n}.slabkv`);
    const clean = [], killed = [], rebuilt = [];
    let resumedEveryTime = true;
    for (let r = 0; r < REPEATS; r++) {
      await killIdleWriter(path, n);
      const afterKill = timeOpen(path);
      resumedEveryTime &&= !afterKill.rebuilt;
      killed.push(afterKill.ms);
      clean.push(timeOpen(path).ms);
    }
    // A copy of a file left open is another file: its open mark does not match, so it is rebuilt.
    await killIdleWriter(path, n);
    const copy = join(dir, `copy-${n}.slabkv`);
    for (let r = 0; r < REPEATS; r++) {
      copyFileSync(path, copy);
      rebuilt.push(timeOpen(copy).ms);
    }
    rmSync(copy);
    results.push({ n, cleanMs: median(clean), killedMs: median(killed), rebuildMs: median(rebuilt), resumedEveryTime });
    rmSync(path);
  }
  return results;
}

export function openCloseCycles(dir, cycles) {
  const path = join(dir, 'cycles.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 1000; i++) db.create(`k:${i}`, { i });
  db.close();
  // All of the process's mappings (V8's heap adds some as it grows), and those of the store's file, which a leak
  // would add one of per cycle.
  const mappings = () => {
    const lines = readFileSync('/proc/self/maps', 'utf8').split('\n');
    return { maps: lines.length, fileMaps: lines.filter((line) => line.endsWith(path)).length };
  };
  const before = { ...mappings(), rss: process.memoryUsage().rss };
  const started = performance.now();
  for (let i = 0; i < cycles; i++) new DataStore(path).close();
  const seconds = (performance.now() - started) / 1000;
  const after = { ...mappings(), rss: process.memoryUsage().rss };
  rmSync(path);
  return { cycles, perSecond: cycles / seconds, before, after };
}

export function lifecycleReport(r, goal) {
  const lines = [];
  for (const o of r.openAfterKill) {
    goal(o.resumedEveryTime && o.killedMs <= 3 * o.cleanMs, `open after kill -9 of an idle writer within 3× a clean open, ${o.n} keys: ${o.killedMs.toFixed(2)} ms against ${o.cleanMs.toFixed(2)} ms (${(o.killedMs / o.cleanMs).toFixed(2)}×; a rebuild takes ${o.rebuildMs.toFixed(0)} ms)`);
  }
  const c = r.cycles;
  goal(c.after.fileMaps === c.before.fileMaps && c.after.rss - c.before.rss < 64 * 1048576, `${c.cycles} open/close cycles keep mappings and RSS flat: mappings of the file ${c.before.fileMaps} → ${c.after.fileMaps} (of the process ${c.before.maps} → ${c.after.maps}), RSS ${(c.before.rss / 1048576).toFixed(0)} → ${(c.after.rss / 1048576).toFixed(0)} MiB`);
  lines.push(`- **Open after kill -9 of an idle writer** (median of ${REPEATS}; the writer made one change, so the file was marked open): ${r.openAfterKill.map((o) => `${o.n} keys: ${o.killedMs.toFixed(2)} ms, against ${o.cleanMs.toFixed(2)} ms clean and ${o.rebuildMs.toFixed(0)} ms for a rebuild (a copy of the same file, which must be rebuilt)`).join('; ')}.`);
  lines.push(`- **Open/close cycles:** ${c.perSecond.toFixed(0)} per second on a 1,000-key store, ${c.cycles} in a row with mappings of the file ${c.before.fileMaps} → ${c.after.fileMaps}, of the process ${c.before.maps} → ${c.after.maps}, and RSS ${(c.before.rss / 1048576).toFixed(0)} → ${(c.after.rss / 1048576).toFixed(0)} MiB.`);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve') {
  // Forked by bench.mjs at its start, while that process is small, this process runs the section when asked: by
  // then the bench's process holds so much memory that the OS may refuse to fork it for a writer (ENOMEM).
  process.once('message', async ({ dir, counts, cycles }) => {
    const result = { openAfterKill: await openAfterKill(dir, counts), cycles: openCloseCycles(dir, cycles) };
    process.send(result, () => process.exit(0));
  });
}
