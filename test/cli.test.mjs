// The command line, run as a user runs it: a child process, JSON on stdout, errors and exit codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';
import { FIXTURE, V1_FIXTURES } from '../scripts/make-fixture.mjs';
import { scratch } from './helpers.mjs';

const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
const tmp = scratch();
test.after(() => tmp.remove());

function slabkv(args, { input, env, stdin } = {}) {
  const result = spawnSync(CLI, args, { encoding: 'utf8', input, env: { ...process.env, ...env }, timeout: 30000, stdio: [stdin ?? 'pipe', 'pipe', 'pipe'] });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, lines: result.stdout.split('\n').filter(Boolean) };
}

/** noStackTrace asserts that stderr is the CLI's one-line answer, not a JavaScript stack trace. */
function noStackTrace(result) {
  assert.not.match(result.stderr, /\n\s+at /, result.stderr);
  assert.not.match(result.stderr, /Error:|node:internal/, result.stderr);
}

/** storeOf writes a store of `count` entries k:0… with the CLI's load and returns its path. */
function storeOf(name, count) {
  const file = tmp.file(name);
  const input = Array.from({ length: count }, (_, i) => JSON.stringify({ key: `k:${i}`, value: { i, pad: 'p'.repeat(40) }, expiresAt: null })).join('\n');
  assert.is(slabkv(['load', '--file', file], { input }).code, 0);
  return file;
}

test('put, get, has, del, keys with the library\'s rules and exit codes', () => {
  const file = tmp.file('cli.slabkv');
  assert.is(slabkv(['put', 'user:1', '{"name":"Ada"}', '--file', file]).code, 0);
  assert.is(slabkv(['put', 'user:2', '{"name":"Grace"}', '--ttl', '3600', '--file', file]).code, 0);
  assert.is(slabkv(['put', 'order:1', '{"total":3}', '--file', file]).code, 0);
  assert.equal(JSON.parse(slabkv(['get', 'user:1', '--file', file]).stdout), { name: 'Ada' });
  assert.equal(slabkv(['has', 'user:1', '--file', file]), { code: 0, stdout: 'true\n', stderr: '', lines: ['true'] });
  assert.is(slabkv(['has', 'nobody', '--file', file]).code, 1);
  assert.equal(slabkv(['keys', '--prefix', 'user:', '--file', file]).lines.map((l) => JSON.parse(l)).sort(), ['user:1', 'user:2']);
  const exists = slabkv(['put', 'user:1', '{}', '--file', file]);
  assert.is(exists.code, 15);
  assert.match(exists.stderr, /^slabkv: KEY_EXISTS: /);
  assert.is(slabkv(['del', 'user:1', '--file', file]).code, 0);
  assert.is(slabkv(['get', 'user:1', '--file', file]).code, 16);
  assert.is(slabkv(['put', 'k'.repeat(33), '{}', '--file', file]).code, 11);
  assert.is(slabkv(['put', 'k', '[1]', '--file', file]).code, 12);
  assert.is(slabkv(['put', 'k', 'not json', '--file', file]).code, 12);
  assert.is(slabkv(['put', 'k', '{}', '--ttl', '1.5', '--file', file]).code, 14);
});

test('usage errors exit 2; every command has --help', () => {
  assert.is(slabkv([]).code, 2);
  assert.is(slabkv(['frobnicate']).code, 2);
  assert.is(slabkv(['get']).code, 2);
  assert.is(slabkv(['get', 'k', '--bogus']).code, 2);
  for (const command of ['put', 'get', 'del', 'has', 'keys', 'stats', 'verify', 'repair', 'inspect', 'dump', 'load']) {
    const help = slabkv([command, '--help']);
    assert.is(help.code, 0, command);
    assert.match(help.stdout, `slabkv ${command}`);
  }
  assert.match(slabkv(['--help']).stdout, 'Exit codes');
});

test('without --file the default store is used', () => {
  const env = { XDG_DATA_HOME: join(tmp.dir, 'xdg') };
  assert.is(slabkv(['put', 'k', '{"a":1}'], { env }).code, 0);
  assert.equal(JSON.parse(slabkv(['get', 'k'], { env }).stdout), { a: 1 });
});

test('stats and verify report; verify exits 30 on a damaged file; a foreign file exits 20', () => {
  const file = tmp.file('stats.slabkv');
  copyFileSync(FIXTURE, file);
  const stats = JSON.parse(slabkv(['stats', '--file', file]).stdout);
  assert.is(stats.records, 2);
  assert.is(stats.closedCleanly, true);
  assert.equal(stats.classes.map((c) => [c.chunkSize, c.records]), [[48, 2]]);
  assert.equal(JSON.parse(slabkv(['verify', '--file', file]).stdout).ok, true);
  const damaged = tmp.file('damaged.slabkv');
  copyFileSync(FIXTURE, damaged);
  const bytes = readFileSync(damaged);
  bytes[0x11040] ^= 1;
  writeFileSync(damaged, bytes);
  const verify = slabkv(['verify', '--file', damaged]);
  assert.is(verify.code, 30);
  assert.not.ok(JSON.parse(verify.stdout).ok);
  writeFileSync(tmp.file('foreign.txt'), 'hello');
  assert.is(slabkv(['get', 'k', '--file', tmp.file('foreign.txt')]).code, 20);
});

test('inspect decodes the header, a key\'s probe and record, and any offset', () => {
  const file = tmp.file('inspect.slabkv');
  copyFileSync(FIXTURE, file);
  const header = slabkv(['inspect', '--file', file]).stdout;
  assert.match(header, /0x00000010  03 00 00 00\s+formatVersion\s+3/);
  assert.match(header, /tableOffset\s+0x00001000/);
  assert.match(header, /checksum\s+0x71b26aa6 \(matches\)/);
  const key = slabkv(['inspect', '--key', 'user:1', '--file', file]).stdout;
  assert.match(key, 'XXH32 seed 0 = 0x7d366961');
  assert.match(key, 'first bucket = hash & 4095 = 2401');
  assert.match(key, /bucket 2401 at 0x00005b18: 20 10 01 00 61 69 36 7d\s+→ FOUND/);
  assert.match(key, /0x00011024  7f 8d 19 9e\s+checksum\s+0x9e198d7f \(matches\)/);
  assert.match(key, '{"name":"Ada"}');
  assert.match(slabkv(['inspect', '--key', 'nobody', '--file', file]).stdout, 'the key is not in the file');
  const atRecord = slabkv(['inspect', '--offset', String(0x11058), '--file', file]).stdout;
  assert.match(atRecord, 'in the RECORDS span at 0x00011000');
  assert.match(atRecord, '2026-01-01T00:01:00.000Z');
  assert.match(slabkv(['inspect', '--offset', String(0x5b18), '--file', file]).stdout, /bucket 2401 at 0x00005b18/);
  assert.match(slabkv(['inspect', '--offset', '40', '--file', file]).stdout, 'field fileSize');
  assert.is(slabkv(['inspect', '--offset', '999999999', '--file', file]).code, 2);
  // It reads without the lock, so it works on a store this process has open.
  const held = new DataStore(file);
  const whileHeld = slabkv(['inspect', '--key', 'user:1', '--file', file]);
  assert.is(whileHeld.code, 0);
  assert.match(whileHeld.stdout, 'FOUND');
  assert.is(slabkv(['get', 'user:1', '--file', file]).code, 18); // STORE_LOCKED
  held.close();
});

test('inspect reads a version 1 file as version 1, without upgrading it', () => {
  const file = tmp.file('inspect-v1.slabkv');
  copyFileSync(V1_FIXTURES.tiny, file);
  const before = readFileSync(file);
  const header = slabkv(['inspect', '--file', file]).stdout;
  assert.match(header, 'version 1 file');
  assert.match(header, /formatVersion\s+1/);
  assert.match(header, /checksum\s+0xd0fcb643 \(matches\)/);
  assert.match(header, /0x00000158  98 40 00 00 00 00 00 00\s+class 27\s+chunk 16536 bytes, spans of 1 slabs/);
  assert.not.match(header, 'DOES NOT MATCH');
  assert.not.match(header, /class 28|sequence|readVersion/);
  const key = slabkv(['inspect', '--key', 'user:1', '--file', file]).stdout;
  assert.match(key, /→ FOUND/);
  assert.match(key, /0x00011024  7f 8d 19 9e\s+checksum\s+0x9e198d7f \(matches\)/);
  assert.match(key, /0x00011032  00 00\s+reserved\s+0/);
  assert.match(key, '{"name":"Ada"}');
  assert.match(slabkv(['inspect', '--offset', String(0x88), '--file', file]).stdout, /class 1 \s+chunk 48 bytes/);
  // A version 1 class whose chunk size version 2 does not have: the offset finds the record in its chunk.
  const spans = tmp.file('inspect-spans-v1.slabkv');
  copyFileSync(V1_FIXTURES.spans, spans);
  const record = slabkv(['inspect', '--offset', String(0x11000 + 32 + 100), '--file', spans]).stdout;
  assert.match(record, 'size class 27 (16536-byte chunks)');
  assert.match(record, /chunk 0 of the span, at 0x00011020 \(16536 bytes\)/);
  assert.match(record, /checksum\s+0x[0-9a-f]{8} \(matches\)/);
  assert.ok(readFileSync(file).equals(before), 'inspect changed nothing: the file is still version 1');
});

test('dump and load move every entry; load is all or nothing and names the bad line', () => {
  const from = tmp.file('from.slabkv');
  const entries = [];
  for (let i = 0; i < 300; i++) {
    const args = ['put', `k:${i}`, JSON.stringify({ i, s: 'é'.repeat(i) }), '--file', from];
    if (i % 50 === 0) args.push('--ttl', '3600');
    entries.push(args);
  }
  const loadInput = entries.map(([, key, json], i) => JSON.stringify({ key, value: JSON.parse(json), expiresAt: i % 50 === 0 ? Date.now() + 3_600_000 : null })).join('\n') + '\n';
  assert.equal(JSON.parse(slabkv(['load', '--file', from], { input: loadInput }).stdout), { loaded: 300, skippedExpired: 0 });
  const dump = slabkv(['dump', '--file', from]);
  assert.is(dump.code, 0);
  assert.is(dump.lines.length, 300);
  const to = tmp.file('to.slabkv');
  const dumpFile = tmp.file('dump.jsonl');
  writeFileSync(dumpFile, dump.stdout);
  assert.equal(JSON.parse(slabkv(['load', '--input', dumpFile, '--file', to]).stdout), { loaded: 300, skippedExpired: 0 });
  for (const i of [0, 1, 150, 299]) assert.equal(JSON.parse(slabkv(['get', `k:${i}`, '--file', to]).stdout), { i, s: 'é'.repeat(i) });
  const withExpiry = dump.lines.map((l) => JSON.parse(l)).find((e) => e.key === 'k:50');
  assert.ok(withExpiry.expiresAt > Date.now());
  // A bad line anywhere: nothing is loaded, and the line is named.
  const fresh = tmp.file('fresh.slabkv');
  const bad = ['{"key":"a","value":{}}', '{"key":"b","value":[1]}', '{"key":"c","value":{}}'].join('\n');
  const refused = slabkv(['load', '--file', fresh], { input: bad });
  assert.is(refused.code, 31);
  assert.match(refused.stderr, 'line 2');
  assert.is(slabkv(['has', 'a', '--file', fresh]).code, 1);
  const duplicate = slabkv(['load', '--file', fresh], { input: '{"key":"a","value":{}}\n{"key":"a","value":{}}\n' });
  assert.is(duplicate.code, 31);
  assert.match(duplicate.stderr, 'appears twice');
  // An entry whose key exists refuses the whole load.
  assert.is(slabkv(['load', '--file', to], { input: '{"key":"new","value":{}}\n{"key":"k:1","value":{}}\n' }).code, 31);
  assert.is(slabkv(['has', 'new', '--file', to]).code, 1);
  // Expired entries are skipped.
  assert.equal(JSON.parse(slabkv(['load', '--file', fresh], { input: `{"key":"old","value":{},"expiresAt":${Date.now() - 1000}}\n` }).stdout), { loaded: 0, skippedExpired: 1 });
});

test('read-only commands refuse a missing file with IO_ERROR and create nothing; put creates', () => {
  const missing = tmp.file('mistyped.slabkv');
  for (const args of [['get', 'k'], ['has', 'k'], ['keys'], ['stats'], ['verify'], ['dump'], ['inspect'], ['del', 'k'], ['repair']]) {
    const result = slabkv([...args, '--file', missing]);
    assert.is(result.code, 23, args[0]);
    assert.match(result.stderr, /^slabkv: IO_ERROR: there is no store at .*only put and load create one/);
    assert.not.ok(existsSync(missing), `${args[0]} created the file`);
  }
  const env = { XDG_DATA_HOME: join(tmp.dir, 'xdg-empty') };
  assert.is(slabkv(['keys'], { env }).code, 23);
  assert.not.ok(existsSync(join(tmp.dir, 'xdg-empty')), 'no default folder was made');
  assert.is(slabkv(['put', 'k', '{}', '--file', missing]).code, 0);
  assert.is(slabkv(['get', 'k', '--file', missing]).code, 0);
});

test('dump of a store with a damaged record writes the rest, names the record on stderr and exits 21', () => {
  const file = storeOf('dump-damaged.slabkv', 5);
  const bytes = readFileSync(file);
  const key = bytes.indexOf('k:2{"i":2');
  bytes[key + 6] ^= 1; // a byte of the value of k:2
  writeFileSync(file, bytes);
  const dump = slabkv(['dump', '--file', file]);
  assert.is(dump.code, 21);
  assert.equal(dump.lines.map((line) => JSON.parse(line).key).sort(), ['k:0', 'k:1', 'k:3', 'k:4']);
  assert.match(dump.stderr, new RegExp(`dump skipped: record at 0x${(key - 24).toString(16).padStart(8, '0')} is damaged.*"k:2"`));
  assert.match(dump.stderr, /slabkv: FILE_CORRUPT: dumped 4 entries/);
  const clean = slabkv(['dump', '--file', storeOf('dump-clean.slabkv', 5)]);
  assert.is(clean.code, 0);
  assert.is(clean.stderr, '');
});

test('dump then load keeps every expiry time exactly', () => {
  const from = tmp.file('exact-from.slabkv');
  const at = Date.now() + 3_600_123;
  const input = [0, 1, 2].map((i) => JSON.stringify({ key: `e:${i}`, value: { i }, expiresAt: at + i * 7 })).join('\n');
  assert.is(slabkv(['load', '--file', from], { input }).code, 0);
  const dumped = slabkv(['dump', '--file', from]).stdout;
  assert.equal(dumped.split('\n').filter(Boolean).map((l) => JSON.parse(l).expiresAt).sort(), [at, at + 7, at + 14]);
  const to = tmp.file('exact-to.slabkv');
  assert.is(slabkv(['load', '--file', to], { input: dumped }).code, 0);
  assert.is(slabkv(['dump', '--file', to]).stdout.split('\n').sort().join('\n'), dumped.split('\n').sort().join('\n'));
});

test('a load cut short is finished by the same load with --resume; without it the load is refused and undone', () => {
  const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ key: `r:${i}`, value: { i }, expiresAt: i % 3 ? null : Date.now() + 3_600_000 }));
  const file = tmp.file('resume.slabkv');
  // What a kill -9 leaves: the entries before the point reached, each whole.
  assert.is(slabkv(['load', '--file', file], { input: lines.slice(0, 200).join('\n') }).code, 0);
  const again = slabkv(['load', '--file', file], { input: lines.join('\n') });
  assert.is(again.code, 31);
  assert.match(again.stderr, 'line 1: key "r:0" already exists');
  const resumed = slabkv(['load', '--resume', '--file', file], { input: lines.join('\n') });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout), { loaded: 300, skippedExpired: 0, alreadyThere: 200 });
  assert.is(slabkv(['keys', '--file', file]).lines.length, 500);
  // --resume still refuses a key that holds something else, and undoes what it made.
  const other = [JSON.stringify({ key: 'r:new', value: {} }), JSON.stringify({ key: 'r:1', value: { i: 'other' } })].join('\n');
  assert.is(slabkv(['load', '--resume', '--file', file], { input: other }).code, 31);
  assert.is(slabkv(['has', 'r:new', '--file', file]).code, 1);
});

test('dump | head -1 ends quietly; unreadable inputs are IO_ERROR (23), a foreign file FILE_INVALID (20)', () => {
  const file = storeOf('pipe.slabkv', 3000); // far more than a pipe's buffer
  const piped = spawnSync('bash', ['-c', `"$0" dump --file "$1" | head -1; echo "status \${PIPESTATUS[0]}" >&2`, CLI, file], { encoding: 'utf8', timeout: 30000 });
  assert.is(piped.stdout.split('\n').filter(Boolean).length, 1);
  assert.is(piped.stderr, 'status 0\n');
  const missingInput = slabkv(['load', '--input', join(tmp.dir, 'nonexistent.jsonl'), '--file', tmp.file('io.slabkv')]);
  assert.is(missingInput.code, 23);
  assert.match(missingInput.stderr, /^slabkv: IO_ERROR: cannot read .*ENOENT/);
  noStackTrace(missingInput);
  const dir = join(tmp.dir, 'a-dir');
  mkdirSync(dir);
  const fd = openSync(dir, 'r');
  const fromDir = slabkv(['load', '--file', tmp.file('io.slabkv')], { stdin: fd });
  closeSync(fd);
  assert.is(fromDir.code, 23);
  assert.match(fromDir.stderr, /^slabkv: IO_ERROR: .*EISDIR/);
  const inspectDir = slabkv(['inspect', '--file', dir]);
  assert.is(inspectDir.code, 23);
  noStackTrace(inspectDir);
  const fifo = join(tmp.dir, 'fifo');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  const inspectFifo = slabkv(['inspect', '--file', fifo]);
  assert.is(inspectFifo.code, 23, 'refused, not blocked until the 30 s timeout');
  const foreign = tmp.file('foreign.bin');
  writeFileSync(foreign, 'not a store at all');
  const inspectForeign = slabkv(['inspect', '--file', foreign]);
  assert.is(inspectForeign.code, 20);
  assert.match(inspectForeign.stderr, /^slabkv: FILE_INVALID: /);
});

test('inspect of a file cut short says where structures run past its end', () => {
  const file = tmp.file('cut.slabkv');
  copyFileSync(FIXTURE, file);
  truncateSync(file, 0x11028); // through the middle of the record of user:1 at 0x11020
  const atRecord = slabkv(['inspect', '--offset', String(0x11020), '--file', file]);
  assert.is(atRecord.code, 0, atRecord.stderr);
  assert.match(atRecord.stdout, 'past the end of the 69672-byte file');
  const key = slabkv(['inspect', '--key', 'user:1', '--file', file]);
  assert.is(key.code, 0, key.stderr);
  assert.match(key.stdout, 'points past the end of the 69672-byte file');
  assert.is(slabkv(['inspect', '--file', file]).code, 0);
});

test('--version prints the version; a value that is not JSON says which argument', () => {
  const version = slabkv(['--version']);
  assert.is(version.code, 0);
  assert.is(version.stdout.trim(), JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
  const bad = slabkv(['put', 'k', '{name:1}', '--file', tmp.file('json.slabkv')]);
  assert.is(bad.code, 12);
  assert.match(bad.stderr, /^slabkv: VALUE_INVALID: the value argument is not valid JSON/);
});

test('repair rebuilds a store whose change met damage and prints its report', () => {
  const file = tmp.file('repair.slabkv');
  copyFileSync(FIXTURE, file);
  const bytes = readFileSync(file);
  bytes.writeUInt32LE(0x11020, 0x11000 + 20); // the slab's free list points at the live record of user:1
  writeFileSync(file, bytes);
  const put = ['put', 'user:3', '{"name":"Bob"}', '--file', file]; // a record of the same size class, 48 bytes
  assert.is(slabkv(put).code, 21);
  assert.is(slabkv(put).code, 21, 'still refused: nothing was rebuilt unasked');
  const repaired = slabkv(['repair', '--file', file]);
  assert.is(repaired.code, 0, repaired.stderr);
  // user:2 of the fixture expired on 2026-01-01: repair reclaims it, and keeps user:1.
  assert.equal({ ...JSON.parse(repaired.stdout), ms: 0 }, { records: 1, dropped: 0, expired: 1, duplicates: 0, repairedSlabs: 0, unreadableSlabs: 0, ms: 0 });
  assert.is(slabkv(put).code, 0);
  assert.equal(JSON.parse(slabkv(['get', 'user:1', '--file', file]).stdout), { name: 'Ada' });
  assert.is(slabkv(['verify', '--file', file]).code, 0);
});

test('load is all or nothing even when entries it made have expired by the time it is refused', () => {
  const file = storeOf('expiring-load.slabkv', 3);
  const soon = Date.now() + 1500;
  const entries = Array.from({ length: 50 }, (_, i) => JSON.stringify({ key: `soon:${i}`, value: { i }, expiresAt: soon })).join('\n');
  // The refusing line arrives after the entries above have expired: the load undoes them all the same.
  const script = `printf '%s\n' "$1"; sleep 2; printf '%s\n' '{"key":"k:1","value":{}}'`;
  const result = spawnSync('bash', ['-c', `(${script}) | "$0" load --file "$2"`, CLI, entries, file], { encoding: 'utf8', timeout: 30000 });
  assert.is(result.status, 31, result.stderr);
  const db = new DataStore(file);
  assert.equal([...db.keys()].sort(), ['k:0', 'k:1', 'k:2']);
  assert.is(db.stats().records, 3, 'no record of the refused load is left, expired or not');
  db.close();
});

test.run();
