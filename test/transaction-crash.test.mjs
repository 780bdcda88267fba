// Transactions and set under kill -9: killed at every crash point of the commit, inside the function, and at random
// moments of a loop; the next open finds each transaction whole or not at all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';

const child = fileURLToPath(new URL('./transaction-child.mjs', import.meta.url));
const tmp = scratch();
test.after(() => tmp.remove());
let n = 0;

function run(mode, path, crashPoint, log) {
  const env = { ...process.env };
  if (crashPoint) env.SLABKV_CRASH_POINT = crashPoint; else delete env.SLABKV_CRASH_POINT;
  return spawnSync(process.execPath, [child, mode, path, ...(log ? [log] : [])], { env, encoding: 'utf8' });
}

function seeded() {
  const path = tmp.file(`crash-${n++}.slabkv`);
  assert.is(run('seed', path).status, 0);
  return path;
}

function state(path) {
  const db = new DataStore(path);
  const entries = Object.fromEntries(db.entries());
  const report = db.verify();
  db.close();
  assert.ok(report.ok, report.problems.join('; '));
  return entries;
}

const before = (s) => {
  for (let i = 0; i < 10; i++) assert.equal(s[`acct:${i}`], { balance: 100 });
  assert.is(s['acct:new'], undefined);
  assert.is(s.doc.version, 'old');
};
const after = (s) => {
  assert.is(s['acct:0'], undefined);
  for (let i = 1; i < 10; i++) assert.equal(s[`acct:${i}`], { balance: 101 });
  assert.equal(s['acct:new'], { balance: 10 });
  assert.equal(s.doc, { version: 'new' });
};

for (const [point, expect] of [
  ['change.busy', before], // the transaction's first write not yet made
  ['commit.marked', after], // the commit store made, nothing settled
  ['commit.settling', after], // one record settled
  ['commit.settled', after], // every record settled, the commit field still set
  ['commit.cleared', after], // the commit field cleared, busy still set
]) {
  test(`a transaction killed at ${point} is found ${expect === after ? 'whole' : 'absent'} by the next open`, () => {
    const path = seeded();
    const result = run('one-transaction', path, point);
    assert.is(result.signal, 'SIGKILL', `killed at ${point}: ${result.stderr}`);
    expect(state(path));
  });
}

for (const point of ['change.busy', 'commit.marked', 'commit.settling', 'commit.settled', 'commit.cleared']) {
  test(`with durability 'always', a transaction killed at ${point} is found ${point === 'change.busy' ? 'absent' : 'whole'}`, () => {
    const path = seeded();
    assert.is(run('one-transaction-always', path, point).signal, 'SIGKILL');
    (point === 'change.busy' ? before : after)(state(path));
  });
}

// The transaction journals 23 records: two for each of its 10 updates and its set (the old record superseded, the
// new one written), one for its create; its delete of acct:0, which it wrote itself, freed that record at once.
for (const n of [1, 12, 23]) {
  test(`a transaction killed in its undo (after ${n} records undone) is absent`, () => {
    const path = seeded();
    const result = run('throw-inside', path, `undo.undoing@${n}`);
    assert.is(result.signal, 'SIGKILL', `killed in the undo: ${result.stderr}`);
    before(state(path));
  });
}

test('a transaction killed inside its function, after clear(), is absent', () => {
  const path = seeded();
  assert.is(run('die-inside', path).signal, 'SIGKILL');
  before(state(path));
});

for (const [point, version] of [['change.busy', 'old'], ['commit.marked', 'new'], ['commit.settling', 'new'], ['commit.settled', 'new'], ['commit.cleared', 'new']]) {
  test(`set killed at ${point} leaves the ${version} value, never neither`, () => {
    const path = seeded();
    assert.is(run('set', path, point).signal, 'SIGKILL');
    assert.is(state(path).doc.version, version);
  });
}

test('killed at random moments, a loop of transactions, sets and updates loses no acknowledged change and leaves none half made', async () => {
  const path = seeded();
  const log = tmp.file(`loop-${n++}.log`);
  // Each run is killed once the loop has acknowledged a number of steps from a fixed sequence, plus a few
  // milliseconds: the kill lands at a moment the test does not choose, after progress it does.
  const steps = [3, 40, 1, 120, 17, 260, 8, 75, 2, 190, 33, 500];
  const endsIn = () => (existsSync(log) ? (readFileSync(log, 'utf8').match(/"end"/g) ?? []).length : 0);
  let ended = -1;
  for (const [k, step] of steps.entries()) {
    const target = endsIn() + step;
    const proc = spawn(process.execPath, [child, 'loop', path, log], { stdio: 'ignore' });
    let exited = false;
    proc.on('exit', () => { exited = true; });
    while (endsIn() < target && !exited) await new Promise((resolve) => setTimeout(resolve, 2));
    await new Promise((resolve) => setTimeout(resolve, k % 4));
    proc.kill('SIGKILL');
    if (!exited) await new Promise((resolve) => proc.on('exit', resolve));
    const s = state(path);
    const total = Object.keys(s).filter((k) => k.startsWith('acct:')).reduce((sum, k) => sum + s[k].balance, 0);
    assert.is(total, 1000, 'money is neither made nor lost: every transfer whole or absent');
    assert.ok(s.counter, 'the counter is never missing');
    const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    const ends = lines.filter((l) => 'end' in l).length;
    const begins = lines.filter((l) => 'begin' in l).length;
    // Every acknowledged step counted once; the one in flight at the kill (begun, not ended) may be there or not.
    assert.ok(s.counter.n >= ends && s.counter.n <= begins, `counter ${s.counter.n} between ${ends} acknowledged and ${begins} begun`);
    ended = ends;
  }
  assert.ok(ended > 0, 'the loop made progress');
});

test.run();
