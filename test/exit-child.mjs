// A child process for the exit tests: node test/exit-child.mjs <pattern> <path>. Each pattern is a usual way to
// clean up at exit, run with slabkv's own exit hook (installed at the first open) before or after it. The child
// writes keys, then ends as the pattern says; what its cleanup saw is printed as JSON lines.
import { writeSync } from 'node:fs';
import { DataStore } from 'slabkv';

const [pattern, path] = process.argv.slice(2);
const say = (event) => writeSync(1, JSON.stringify(event) + '\n');
const attempt = (what, fn) => {
  try {
    say({ [what]: fn() ?? 'ok' });
  } catch (error) {
    say({ [what]: 'threw', code: error.code ?? null, name: error.name });
  }
};

/** open makes the store and writes a few keys, through two handles (they share the file). */
function open() {
  const db = new DataStore(path);
  const other = new DataStore(path);
  for (let i = 0; i < 50; i++) db.create(`k:${i}`, { i });
  return [db, other];
}

if (pattern === 'exit-listener-after-open') {
  const [db, other] = open();
  process.on('exit', () => {
    attempt('read', () => db.has('k:1'));
    attempt('close', () => { db.close(); other.close(); });
    attempt('close again', () => db.close());
  });
} else if (pattern === 'exit-listener-before-open') {
  let handles = [];
  process.on('exit', () => attempt('close', () => { for (const db of handles) db.close(); }));
  handles = open();
} else if (pattern === 'process-exit-in-listener-order') {
  const [db, other] = open();
  process.on('exit', () => attempt('close', () => { other.close(); db.close(); }));
  process.exit(0);
} else if (pattern === 'sigint-handler') {
  const [db, other] = open();
  process.on('SIGINT', () => {
    attempt('close', () => { db.close(); other.close(); });
    process.exit(0);
  });
  setInterval(() => {}, 1000);
  process.kill(process.pid, 'SIGINT');
} else if (pattern === 'sigterm-exit-listener') {
  const [db, other] = open();
  process.on('SIGTERM', () => process.exit(0));
  process.on('exit', () => attempt('close', () => { db.close(); other.close(); }));
  setInterval(() => {}, 1000);
  process.kill(process.pid, 'SIGTERM');
} else if (pattern === 'before-exit') {
  const [db, other] = open();
  process.once('beforeExit', () => attempt('close', () => { db.close(); other.close(); }));
} else if (pattern === 'dispose-in-exit-listener') {
  const [db, other] = open();
  process.on('exit', () => attempt('close', () => { db[Symbol.dispose](); other[Symbol.dispose](); }));
}
