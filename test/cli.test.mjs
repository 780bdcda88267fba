// The command line, run as a user runs it: a child process, JSON on stdout, errors and exit codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataStore } from 'slabkv';
import { FIXTURE } from '../scripts/make-fixture.mjs';
import { scratch } from './helpers.mjs';

const CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
const tmp = scratch();
test.after(() => tmp.remove());

function slabkv(args, { input, env } = {}) {
  const result = spawnSync(CLI, args, { encoding: 'utf8', input, env: { ...process.env, ...env }, timeout: 30000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, lines: result.stdout.split('\n').filter(Boolean) };
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
  for (const command of ['put', 'get', 'del', 'has', 'keys', 'stats', 'verify', 'inspect', 'dump', 'load']) {
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
  assert.match(header, /0x00000010  01 00 00 00\s+formatVersion\s+1/);
  assert.match(header, /tableOffset\s+0x00001000/);
  assert.match(header, /checksum\s+0xd0fcb643 \(matches\)/);
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

test.run();
