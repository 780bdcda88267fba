// The process the model test's crash countdown kills:
//   node test/model-child.mjs <seed> <store> <special keys, JSON> <log> <unit> [inside-transaction@n]
// It replays the seed's operations (test/model.mjs) on a new store, armed with SLABKV_CRASH_POINT=name@n, or
// killing itself inside the n-th transaction's function once its operations are done (before its commit); and
// writes the index of each top-level operation to the log before the operation begins. The log is written with
// write(2), so every line written before the kill is in the file; its last line is the operation the kill cut.
import { openSync, readFileSync, writeSync } from 'node:fs';
import { run } from './model.mjs';

const [seed, path, specialPath, logPath, unit, kill] = process.argv.slice(2);
const log = openSync(logPath, 'w');
const special = JSON.parse(readFileSync(specialPath, 'utf8'));
const killInside = kill?.startsWith('inside-transaction@') ? Number(kill.split('@')[1]) : 0;
let transactions = 0;
run(Number(seed), path, {
  special,
  unit: Number(unit),
  observe: false,
  beforeOp: (op) => writeSync(log, `${op}\n`),
  inside: () => { if (++transactions === killInside) process.kill(process.pid, 'SIGKILL'); },
});
writeSync(log, 'done\n');
