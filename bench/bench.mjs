// slabkv benchmark: node --expose-gc bench/bench.mjs [--quick | --startup | --keyv | --changes]   (--startup, --keyv: only the
// start-up or the Keyv section, printed, nothing written)
// Every figure that compares stores is measured side by side in one run: the stores take turns (their order
// rotates each round), each round is repeated, and the median is kept. Writes bench/RESULTS.md, bench/chart.svg and
// bench/chart-threads.svg.
import { fork, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataStore } from '../dist/index.mjs'; // bench/ is its own package (its peers), so not 'slabkv'
import { blocksAfterDeleteAll, fillLarge, fillMixed } from './fill.mjs';
import { peers, freshDir } from './peers.mjs';
import { chart } from './chart.mjs';
import { lookupFloor } from './floor.mjs';
import { lifecycleReport } from './lifecycle.mjs';
import { parallelReads, parallelReport, threadGroups } from './parallel-reads.mjs';
import { changingValues, changesReport } from './changes.mjs';
import { keyvReport, keyvThroughput } from './keyv.mjs';
import { importTime, describe as describeImport } from './import.mjs';
import { backupTime, describe as describeBackup } from './backup.mjs';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 1 : 3;
/**
 * Rounds of the changing-values section: five, not three. Creating 200,000 keys in one transaction takes about half
 * a second, and this machine's noise moved the median of three such runs by up to 15%.
 */
const CHANGES_ROUNDS = QUICK ? 1 : 5;
const SIZES = QUICK ? [100_000] : [100_000, 1_000_000];
const KEYV_KEYS = QUICK ? 10_000 : 50_000;
const ROOT = join(process.env.BENCH_DIR ?? tmpdir(), `slabkv-bench-${process.pid}`);
mkdirSync(ROOT, { recursive: true });
const gc = globalThis.gc ?? (() => { throw new Error('run with node --expose-gc'); });
const log = (...args) => console.error(...args);

// ---- data ----

const key = (i) => `user:${String(i).padStart(8, '0')}`;
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov', 'Ken Thompson'];
/** About 150 bytes of JSON. */
const value = (i) => ({ id: i, name: NAMES[i % NAMES.length], email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 7919) % 1000 / 10, tags: ['alpha', 'beta', i % 2 ? 'gamma' : 'delta'], created: 1767225600000 + i });
/** A permutation of 0..n-1 from a seeded generator, so runs read in the same random order. */
function shuffled(n, seed = 42) {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const now = () => performance.now();

// ---- throughput, interleaved ----

async function throughput(n) {
  const keys = Array.from({ length: n }, (_, i) => key(i));
  const missing = Array.from({ length: n }, (_, i) => `miss:${String(i).padStart(8, '0')}`);
  const readOrder = shuffled(n);
  const names = Object.keys(peers);
  const samples = {}; // name -> op -> [ops/s]
  const record = (name, op, seconds) => { ((samples[name] ??= {})[op] ??= []).push(n / seconds); };
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const peer = peers[name];
      const dir = freshDir(ROOT, name);
      const db = peer.open(dir);
      if (db.ready) await db.ready();
      gc();
      let t = now();
      if (peer.async) for (let i = 0; i < n; i++) await db.create(keys[i], value(i));
      else for (let i = 0; i < n; i++) db.create(keys[i], value(i));
      record(name, 'create', (now() - t) / 1000);
      t = now();
      let check = 0;
      for (let i = 0; i < n; i++) check += db.read(keys[readOrder[i]]).id;
      record(name, 'read', (now() - t) / 1000);
      if (check !== (n * (n - 1)) / 2) throw new Error(`${name} read wrong values`);
      if (db.readText) {
        t = now();
        for (let i = 0; i < n; i++) check += db.readText(keys[readOrder[i]]).length;
        record(name, 'readText', (now() - t) / 1000);
      }
      t = now();
      for (let i = 0; i < n; i++) if (db.has(missing[i])) throw new Error(`${name} has a missing key`);
      record(name, 'has (miss)', (now() - t) / 1000);
      t = now();
      if (peer.async) for (let i = 0; i < n; i++) await db.delete(keys[readOrder[i]]);
      else for (let i = 0; i < n; i++) db.delete(keys[readOrder[i]]);
      record(name, 'delete', (now() - t) / 1000);
      if (db.createMany) {
        t = now();
        db.createMany(keys, value);
        record(name, 'create (one transaction)', (now() - t) / 1000);
        if (db.read(keys[n - 1]).id !== n - 1) throw new Error(`${name} did not commit its transaction`);
      }
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      log(`  ${n} keys, round ${round + 1}/${ROUNDS}: ${name} done`);
    }
  }
  const result = {};
  for (const [name, ops] of Object.entries(samples)) {
    result[name] = Object.fromEntries(Object.entries(ops).map(([op, xs]) => [op, median(xs)]));
  }
  return result;
}

// ---- slabkv alone: growth latency, heap, open time, space, durability, recovery, locking ----

function growthLatency(n) {
  const dir = freshDir(ROOT, 'latency');
  const db = new DataStore(join(dir, 'latency.slabkv'));
  const latencies = new Float64Array(n);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) {
    const t = now();
    db.create(key(i), value(i));
    latencies[i] = now() - t;
  }
  gc();
  const memory = process.memoryUsage();
  // The first create of a session also writes the "open" mark to disk (one msync): reported on its own.
  const sorted = Float64Array.from(latencies.subarray(1)).sort();
  let slowest = 1;
  for (let i = 2; i < n; i++) if (latencies[i] > latencies[slowest]) slowest = i;
  const stats = db.stats();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    n,
    p50: sorted[Math.floor(n * 0.5)], p99: sorted[Math.floor(n * 0.99)], p999: sorted[Math.floor(n * 0.999)], max: sorted[n - 2],
    slowestAt: slowest, first: latencies[0],
    heapGrowth: memory.heapUsed - heapBefore, rss: memory.rss, fileBytes: stats.fileBytes, buckets: stats.buckets,
  };
}

function openTime(counts) {
  const paths = counts.map((count) => {
    const dir = freshDir(ROOT, 'open');
    const path = join(dir, 'open.slabkv');
    const db = new DataStore(path);
    for (let i = 0; i < count; i++) db.create(key(i), value(i));
    db.close();
    return path;
  });
  const times = counts.map(() => []);
  for (let round = 0; round < 30; round++) {
    paths.forEach((path, i) => {
      const t = now();
      const db = new DataStore(path);
      times[i].push(now() - t);
      db.close();
    });
  }
  return counts.map((count, i) => ({ count, ms: median(times[i]) }));
}

async function space(n) {
  // Sizes spread evenly on a log scale from 50 bytes to 16 KiB of JSON; three rounds of churn replace half the keys.
  let s = 7;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const sizes = Array.from({ length: n * 4 }, () => Math.round(50 * Math.pow(16384 / 50, rand())));
  const valueOf = (i) => ({ i, pad: 'x'.repeat(Math.max(0, sizes[i] - 20 - String(i).length)) });
  const result = {};
  for (const name of ['slabkv', 'lmdb', 'sqlite', 'classic-level']) {
    const peer = peers[name];
    const dir = freshDir(ROOT, `space-${name}`);
    const db = peer.open(dir);
    if (db.ready) await db.ready();
    const live = new Map();
    let next = 0;
    const put = async () => { const i = next++; const k = `m:${i}`; await db.create(k, valueOf(i)); live.set(k, k.length + JSON.stringify(valueOf(i)).length); };
    for (let i = 0; i < n; i++) await put();
    for (let round = 0; round < 3; round++) {
      let dropped = 0;
      for (const k of [...live.keys()]) if (dropped < n / 2 && rand() < 0.5) { await db.delete(k); live.delete(k); dropped++; }
      while (live.size < n) await put();
    }
    const liveBytes = [...live.values()].reduce((a, b) => a + b, 0);
    result[name] = { fileBytes: db.bytes(), liveBytes, ratio: db.bytes() / liveBytes };
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    log(`  space: ${name} done`);
  }
  return result;
}

function durabilityCost(n) {
  const result = {};
  for (const durability of ['flush', 'always']) {
    const dir = freshDir(ROOT, 'durability');
    const db = new DataStore(join(dir, 'd.slabkv'), { durability });
    for (let i = 0; i < 20000; i++) db.create(key(i), value(i)); // a store of some size: msync cost depends on it
    const t = now();
    for (let i = 20000; i < 20000 + n; i++) db.create(key(i), value(i));
    result[durability] = ((now() - t) / n) * 1000; // µs per create
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

function recoveryTime() {
  // Fill a store to its 1 GiB ceiling with ~1 KiB values, close it, then mark it open as a crash would leave it.
  const dir = freshDir(ROOT, 'recovery');
  const path = join(dir, 'full.slabkv');
  const db = new DataStore(path);
  const pad = 'r'.repeat(1000);
  let count = 0;
  try { for (;; count++) db.create(`r:${count}`, { count, pad }); } catch (error) { if (error.code !== 'STORE_FULL') throw error; }
  const fileBytes = db.stats().fileBytes;
  db.close();
  const fd = openSync(path, 'r+');
  const open = Buffer.alloc(4);
  open.writeUInt32LE(1);
  writeSync(fd, open, 0, 4, 32); // header state = open
  closeSync(fd);
  const t = now();
  const again = new DataStore(path);
  const ms = now() - t;
  const recovered = again.stats().recovered;
  const verified = again.verify();
  again.close();
  rmSync(dir, { recursive: true, force: true });
  return { count, fileBytes, ms, recovered, verifiedOk: verified.ok };
}

function lockCost() {
  // The uncontended cost of the thread lock, as slabkv takes it: a compareExchange and an exchange on a word of
  // shared memory (in slabkv, a word of the mapped file: the same instructions on the same kind of cached page).
  // Compared with a whole read of the same run.
  const dir = freshDir(ROOT, 'lock');
  const path = join(dir, 'lock.slabkv');
  const db = new DataStore(path);
  for (let i = 0; i < 1000; i++) db.create(key(i), value(i));
  const n = 2_000_000;
  const words = new Int32Array(new SharedArrayBuffer(4096));
  let t = now();
  for (let i = 0; i < n; i++) { if (Atomics.compareExchange(words, 0, 0, 7) === 0) Atomics.exchange(words, 0, 0); }
  const lockNs = ((now() - t) / n) * 1e6;
  t = now();
  for (let i = 0; i < n; i++) db.has(key(i % 1000));
  const hasNs = ((now() - t) / n) * 1e6;
  t = now();
  for (let i = 0; i < n / 4; i++) db.read(key(i % 1000));
  const readNs = ((now() - t) / (n / 4)) * 1e6;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { lockNs, hasNs, readNs };
}

// ---- start-up, each run in a new process ----

/** inNewProcesses runs a CommonJS script in `runs` new node processes; it prints a JSON object of figures. */
function inNewProcesses(script, runs) {
  const figures = {};
  for (let i = 0; i < runs; i++) {
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`start-up script failed: ${child.stderr}`);
    for (const [name, ms] of Object.entries(JSON.parse(child.stdout))) (figures[name] ??= []).push(ms);
  }
  return Object.fromEntries(Object.entries(figures).map(([name, xs]) => [name, median(xs)]));
}

/** wallMs is the median wall time of running a command in a new process. */
function wallMs(args, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
    times.push(now() - t);
    if (child.status !== 0) throw new Error(`${args.join(' ')} failed: ${child.stderr}`);
  }
  return median(times);
}

function startupTime(runs = QUICK ? 11 : 21) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = freshDir(ROOT, 'startup');
  const file = join(dir, 'cli.slabkv');
  // What a program pays the first time it uses slabkv: load it, open a new store, one create, one read, close.
  // "process" is the time from the start of the process (node's own start-up included) to the end of that.
  const first = inNewProcesses(`
    const t0 = performance.now();
    const { DataStore } = require(${JSON.stringify(join(root, 'dist', 'index.cjs'))});
    const t1 = performance.now();
    const db = new DataStore(require('node:path').join(${JSON.stringify(dir)}, 'first-' + process.pid + '.slabkv'));
    db.create('user:1', { name: 'Ada' });
    db.read('user:1');
    db.close();
    const t2 = performance.now();
    console.log(JSON.stringify({ require: t1 - t0, first: t2 - t0, process: t2 }));`, runs);
  const cli = join(root, 'dist', 'cli.cjs');
  spawnSync(process.execPath, [cli, 'put', 'user:1', '{"name":"Ada"}', '--file', file]);
  const get = wallMs([cli, 'get', 'user:1', '--file', file], runs);
  const bare = wallMs(['-e', '0'], runs);
  rmSync(dir, { recursive: true, force: true });
  return { runs, ...first, get, bare };
}

// ---- report ----

const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} k` : x.toFixed(0));
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

async function main() {
  const started = new Date();
  const results = { throughput: {} };
  soFar = results;
  const keyv = () => keyvThroughput((name) => freshDir(ROOT, `keyv-${name}`), KEYV_KEYS, ROUNDS, value, shuffled(KEYV_KEYS), log);
  if (process.argv.includes('--keyv')) {
    console.log(keyvReport(await keyv(), fmt, ratio).join('\n'));
    rmSync(ROOT, { recursive: true, force: true });
    return;
  }
  if (process.argv.includes('--changes')) {
    const goals = ['| | Goal (measured in the same run) |', '|---|---|'];
    const goal = (ok, text) => goals.push(`| ${ok ? 'met' : '**not met**'} | ${text} |`);
    const tables = changesReport(changingValues(ROOT, QUICK ? [100_000] : [200_000, 1_000_000], CHANGES_ROUNDS, key, value), goal, fmt, CHANGES_ROUNDS);
    console.log([...goals, '', ...tables].join('\n'));
    rmSync(ROOT, { recursive: true, force: true });
    return;
  }
  // The lifecycle section's process, forked now, while this one is small (lifecycle.mjs --serve).
  const lifecycleRunner = fork(fileURLToPath(new URL('./lifecycle.mjs', import.meta.url)), ['--serve'], { stdio: 'inherit' });
  log('start-up');
  results.startup = startupTime();
  log('import against require');
  results.load = importTime(QUICK ? 11 : 41);
  if (process.argv.includes('--startup')) {
    lifecycleRunner.kill();
    console.log(results.startup, describeImport(results.load));
    rmSync(ROOT, { recursive: true, force: true });
    return;
  }

  for (const n of SIZES) {
    log(`throughput at ${n} keys`);
    results.throughput[n] = await throughput(n);
  }
  log('changing values: transactions, set, update, get');
  results.changes = changingValues(ROOT, QUICK ? [100_000] : [200_000, 1_000_000], CHANGES_ROUNDS, key, value);
  const big = SIZES.at(-1);
  log('the floor of a lookup: a bare index in plain JavaScript against a Map');
  results.floor = lookupFloor(Array.from({ length: big }, (_, i) => key(i)), shuffled(big), ROUNDS);
  log('growth latency and heap');
  results.latency = growthLatency(big);
  log('open time');
  results.open = openTime([1000, big]);
  log('space after churn');
  results.space = await space(QUICK ? 5000 : 30000);
  log('space at STORE_FULL (issue 13)');
  results.fill = spaceAtFull(QUICK ? 64 * 2 ** 20 : 2 ** 30);
  log('durability');
  results.durability = durabilityCost(2000);
  log('lock');
  results.lock = lockCost();
  if (!QUICK) { log('recovery of a full 1 GiB store'); results.recovery = recoveryTime(); }
  log(`backup of a full ${QUICK ? '64 MiB' : '1 GiB'} store in use`);
  const backupDir = freshDir(ROOT, 'backup');
  results.backup = await backupTime(backupDir, QUICK ? 64 * 2 ** 20 : 2 ** 30);
  rmSync(backupDir, { recursive: true, force: true });
  log('lifecycle: open after kill -9, open/close cycles');
  const lifecycleDir = freshDir(ROOT, 'lifecycle');
  results.lifecycle = await new Promise((resolve, reject) => {
    lifecycleRunner.once('message', resolve);
    lifecycleRunner.once('exit', (code) => reject(new Error(`the lifecycle section's process exited (${code}) before it answered`)));
    lifecycleRunner.send({ dir: lifecycleDir, counts: QUICK ? [200_000] : [200_000, 1_000_000], cycles: QUICK ? 20_000 : 100_000 });
  });
  log('worker threads: reads and creates, one worker and two');
  results.parallel = await parallelReads(freshDir(ROOT, 'parallel'), 200_000, ROUNDS);
  log('Keyv: slabkv/keyv, @keyv/sqlite, keyv-file and a Map; flat-cache beside them');
  results.keyv = await keyv();
  writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(results, null, 2));
  writeFileSync(new URL('./chart.svg', import.meta.url), chart(results.throughput[big], `Operations per second, ${big.toLocaleString('en')} keys`));
  const threads = threadGroups(results.parallel);
  writeFileSync(new URL('./chart-threads.svg', import.meta.url), chart(threads, `Worker threads, ${results.parallel.n.toLocaleString('en')} keys`, Object.keys(Object.values(threads)[0])));
  writeFileSync(new URL('./RESULTS.md', import.meta.url), report(results, started));
  rmSync(ROOT, { recursive: true, force: true });
  log('wrote bench/RESULTS.md, bench/chart.svg, bench/chart-threads.svg, bench/results.json');
}

function report(r, started) {
  const big = SIZES.at(-1);
  const t = r.throughput[big];
  const s = t.slabkv;
  const lines = [];
  const goal = (ok, text) => lines.push(`| ${ok ? 'met' : '**not met**'} | ${text} |`);
  lines.push('# slabkv benchmark results', '');
  lines.push(`Command: \`npm run bench\`${QUICK ? ' (with --quick)' : ''} (node --expose-gc bench/bench.mjs). Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on`);
  lines.push(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${mb(totalmem())} of memory, Node ${process.version}, ${process.platform}.`);
  lines.push(`Stores take turns in each round (the order rotates), ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}; the median is kept. Keys look like \`user:00000001\`; values are JSON objects of about ${JSON.stringify(value(1)).length} bytes; reads go in a random order.`, '');
  lines.push('![operations per second at ' + big + ' keys](chart.svg)', '');
  lines.push('## Goals', '', '| | Goal (measured in the same run) |', '|---|---|');
  goal(s.read >= 1.3 * t.lmdb.read, `read ≥ 1.3× lmdb get: ${ratio(s.read, t.lmdb.read)}`);
  goal(s.read >= 0.9 * t['Map+JSON'].read, `read ≥ 0.9× Map + JSON.parse: ${ratio(s.read, t['Map+JSON'].read)}`);
  goal(s.create >= 3 * t.lmdb.create, `create ≥ 3× lmdb putSync: ${ratio(s.create, t.lmdb.create)}`);
  goal(s.create >= t.lmdb['create (one transaction)'], `create ≥ 1× lmdb putting the same keys in one transaction: ${ratio(s.create, t.lmdb['create (one transaction)'])}`);
  goal(s.delete >= s.create, `delete ≥ create: ${ratio(s.delete, s.create)}`);
  const [small, large] = r.open;
  goal(large.ms < 5 && large.ms <= small.ms * 1.5 + 0.2, `open of a cleanly closed ${large.count}-key store under 5 ms and as fast as a ${small.count}-key one: ${large.ms.toFixed(3)} ms against ${small.ms.toFixed(3)} ms`);
  goal(r.latency.heapGrowth < 5e6, `JS heap growth for ${r.latency.n} keys under 5 MB: ${(r.latency.heapGrowth / 1e6).toFixed(2)} MB`);
  goal(r.space.slabkv.ratio <= 1.5, `file ≤ 1.5× live key+value bytes, mixed sizes after churn: ${r.space.slabkv.ratio.toFixed(2)}×`);
  goal(r.latency.max < 5, `max create latency while the table grows, ${r.latency.n} keys, under 5 ms: ${r.latency.max.toFixed(2)} ms (after the first create, which pays the msync of the "open" mark: ${r.latency.first.toFixed(2)} ms)`);
  goal(s.readText >= 3 * s.read, `readText ≥ 3× read: ${ratio(s.readText, s.read)}`);
  goal(s.readText >= 0.6 * t['Map+JSON'].readText, `readText ≥ 0.6× a Map of JSON text's get: ${ratio(s.readText, t['Map+JSON'].readText)} (the floor of any such lookup here: a bare index's has in plain JavaScript, bench/floor.mjs, runs at ${ratio(r.floor.bareHas, r.floor.mapGet)} a Map's get)`);
  const changesLines = changesReport(r.changes, goal, fmt, CHANGES_ROUNDS);
  const lifecycleLines = lifecycleReport(r.lifecycle, goal);
  const parallelLines = parallelReport(r.parallel, goal, fmt);
  const f = r.fill;
  goal(f.large.ofCap >= 0.95, `16 KiB values fill ≥ 95% of a ${mb(f.large.fileBytes)} store at STORE_FULL: ${(f.large.ofCap * 100).toFixed(1)}% (${f.large.count} values)`);
  goal(f.mixed.ofCap.every((x) => x >= 0.85), `values of 20 B to 12 KB (log-uniform) at STORE_FULL of a 64 MiB store, new and after three rounds of churn: ≥ 85% of the cap is live key and value bytes: ${f.mixed.ofCap.map((x) => (x * 100).toFixed(1) + '%').join(', ')}`);
  goal(f.deleteAll.closed < f.deleteAll.peak / 10, `after deleting every key (30,000 values of 500 B) and closing, the file's blocks are < 10% of their peak: ${(f.deleteAll.closed / f.deleteAll.peak * 100).toFixed(1)}% (${(f.deleteAll.after / f.deleteAll.peak * 100).toFixed(1)}% while still open)`);
  goal(r.startup.first < 40, `require('slabkv'), open a new store, one create, one read, close, in a new process, under 40 ms: ${r.startup.first.toFixed(1)} ms`);
  goal(r.startup.get < 100, `\`slabkv get\` in a new process under 100 ms: ${r.startup.get.toFixed(0)} ms (\`node -e 0\` takes ${r.startup.bare.toFixed(0)} ms)`);
  goal(r.load.require.wall < 10, `\`require('slabkv')\` under 10 ms: ${r.load.require.wall.toFixed(1)} ms`);
  goal(r.load.ratio.wall <= 1.3, `\`await import('slabkv')\` ≤ 1.3× \`require('slabkv')\`, each in a program that has loaded a module of its kind: ${r.load.ratio.wall.toFixed(2)}× (${r.load.import.wall.toFixed(1)} ms against ${r.load.require.wall.toFixed(1)} ms)`);
  goal(r.backup.ms <= r.backup.diskMs, `backup of a full ${mb(r.backup.fileBytes)} store in use at least at disk speed (writing and syncing as many bytes): ${ratio(r.backup.diskMs, r.backup.ms)} (${(r.backup.ms / 1000).toFixed(2)} s against ${(r.backup.diskMs / 1000).toFixed(2)} s)`);
  lines.push('');
  for (const n of SIZES) {
    const tn = r.throughput[n];
    const ops = ['create', 'create (one transaction)', 'read', 'readText', 'has (miss)', 'delete'];
    lines.push(`## Operations per second, ${n} keys`, '', `| store | ${ops.join(' | ')} |`, `|---|${ops.map(() => '---:').join('|')}|`);
    for (const [name, row] of Object.entries(tn)) lines.push(`| ${name} | ${ops.map((op) => (row[op] ? fmt(row[op]) : '')).join(' | ')} |`);
    lines.push('', `slabkv against each, same run: ${Object.keys(tn).filter((x) => x !== 'slabkv').map((x) => `${x}: create ${ratio(tn.slabkv.create, tn[x].create)}, read ${ratio(tn.slabkv.read, tn[x].read)}, has ${ratio(tn.slabkv['has (miss)'], tn[x]['has (miss)'])}, delete ${ratio(tn.slabkv.delete, tn[x].delete)}`).join('; ')}.`, '');
  }
  lines.push(...changesLines);
  lines.push(...keyvReport(r.keyv, fmt, ratio));
  lines.push('## slabkv alone', '');
  lines.push(`- **Create latency while the table grows** (${r.latency.n} creates into an empty store, bucket array doubling incrementally from 4096 to ${r.latency.buckets} buckets): p50 ${(r.latency.p50 * 1000).toFixed(1)} µs, p99 ${(r.latency.p99 * 1000).toFixed(1)} µs, p99.9 ${(r.latency.p999 * 1000).toFixed(1)} µs, max ${r.latency.max.toFixed(2)} ms (at create #${r.latency.slowestAt}; the max includes any GC pause and file growth). The first create of the session, which also writes the file's "open" mark to disk, took ${r.latency.first.toFixed(2)} ms.`);
  lines.push(`- **Memory:** JS heap growth after loading ${r.latency.n} keys: ${(r.latency.heapGrowth / 1e6).toFixed(2)} MB; RSS ${mb(r.latency.rss)} (mapped file pages count in RSS: they are the OS's page cache); file ${mb(r.latency.fileBytes)}.`);
  const st = r.startup;
  lines.push(`- **Start-up** (each in a new process, median of ${st.runs}): \`require('slabkv')\` ${st.require.toFixed(1)} ms; that, then opening a new store, one create, one read and close: ${st.first.toFixed(1)} ms; from the start of the process to the end of that: ${st.process.toFixed(0)} ms. \`slabkv get\` (node dist/cli.cjs) ${st.get.toFixed(0)} ms of wall time, against ${st.bare.toFixed(0)} ms for \`node -e 0\`.`);
  lines.push(`- **The floor of a lookup** at ${big} keys (bench/floor.mjs): a bare open-addressed index in typed arrays, in plain JavaScript, with no checksum, no decoding and no file, answers has() at ${fmt(r.floor.bareHas)}/s against ${fmt(r.floor.mapGet)}/s for a Map's get in the same run (${ratio(r.floor.bareHas, r.floor.mapGet)}): a lookup must take the key's string, its bucket and its record in turn, and a Map's short code lets the CPU overlap those misses across lookups.`);
  lines.push(`- **Open** (median of 30): ${r.open.map((o) => `${o.count} keys ${o.ms.toFixed(3)} ms`).join(', ')}.`);
  lines.push(`- **Space**, values spread from 50 bytes to 16 KiB on a log scale, after three rounds of churn (file bytes ÷ live key+value bytes): ${Object.entries(r.space).map(([name, x]) => `${name} ${x.ratio.toFixed(2)}×`).join(', ')}.`);
  lines.push(`- **Durability:** create costs ${r.durability.flush.toFixed(1)} µs with the default ('flush') and ${r.durability.always.toFixed(1)} µs with durability 'always' (an msync of the file before each create returns) on this machine's disk.`);
  lines.push(`- **Thread lock:** uncontended take-and-release ${r.lock.lockNs.toFixed(1)} ns, against ${r.lock.hasNs.toFixed(0)} ns for a whole has() and ${r.lock.readNs.toFixed(0)} ns for a read() (${((r.lock.lockNs / r.lock.readNs) * 100).toFixed(1)}% of a read).`);
  lines.push(`- **Loading:** ${describeImport(r.load)}.`);
  lines.push(`- **Backup:** ${describeBackup(r.backup)}.`);
  if (r.recovery) lines.push(`- **Recovery** of a full ${mb(r.recovery.fileBytes)} store (${r.recovery.count} records of ~1 KiB) marked as crashed: ${(r.recovery.ms / 1000).toFixed(2)} s, every record kept (${r.recovery.recovered.records}), verify ${r.recovery.verifiedOk ? 'clean' : 'NOT clean'}.`);
  lines.push(...lifecycleLines, ...parallelLines);
  lines.push('', '## Settings of the peers', '');
  for (const [name, peer] of Object.entries(peers)) lines.push(`- **${name}**: ${peer.note}.`);
  return lines.join('\n') + '\n';
}

/** What a run that fails has measured so far: written to results-partial.json, so that an hour is not lost. */
let soFar = null;
try {
  await main();
} catch (error) {
  if (soFar !== null) writeFileSync(new URL('./results-partial.json', import.meta.url), JSON.stringify(soFar, null, 2));
  throw error;
}

/** spaceAtFull: issue 13's figures, from bench/fill.mjs: 16 KiB values and mixed sizes at STORE_FULL, blocks after deleting all. */
function spaceAtFull(cap) {
  const dir = freshDir(ROOT, 'fill');
  const result = {
    large: fillLarge(join(dir, 'large.slabkv'), cap),
    mixed: fillMixed(join(dir, 'mixed.slabkv'), 64 * 2 ** 20),
    deleteAll: blocksAfterDeleteAll(join(dir, 'punch.slabkv'), 30000, 500),
  };
  rmSync(dir, { recursive: true, force: true });
  log(`  16 KiB values: ${(result.large.ofCap * 100).toFixed(1)}% of ${cap} bytes; mixed: ${result.mixed.ofCap.map((x) => (x * 100).toFixed(1)).join(' / ')}% of 64 MiB; blocks after deleting all: ${(result.deleteAll.after / result.deleteAll.peak * 100).toFixed(1)}% of peak`);
  return result;
}
