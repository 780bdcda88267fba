// slabkv dump --format resp | redis-cli --pipe, into a real server: every key, value and expiry arrives exact, in
// Redis and in Valkey (each that is installed: test/redis-server.mjs).
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@redis/client';
import { DataStore } from 'slabkv';
import { scratch } from './helpers.mjs';
import { serverPrograms, skipOrServer } from './redis-server.mjs';

const cli = new URL('../dist/cli.cjs', import.meta.url).pathname;
const tmp = scratch();
let suites = 0;
for (const program of serverPrograms()) {
  const server = await skipOrServer('slabkv dump --format resp into a Redis server', program);
  if (server) pipeSuite(server).run();
}

/** pipeSuite is the dump's tests against one server. */
function pipeSuite(server) {
  const id = suites++;
  const file = (name) => tmp.file(`${id}-${name}`); // each server's suite has files of its own
  const test = suite(`slabkv dump --format resp | ${server.cli} --pipe, ${server.version.split(' ').slice(0, 3).join(' ')}`);
  let client;
  test.before(async () => {
    client = createClient({ url: server.url });
    client.on('error', () => {}); // a failed command rejects; the test sees that
    await client.connect();
  });
  test.after(async () => {
    await client?.close();
    await server.stop();
  });

  /** pipe runs `slabkv dump --format resp --file FILE | redis-cli -p PORT --pipe` in a shell, as a user does. */
  function pipe(file) {
    const shell = spawnSync('bash', ['-c', 'set -o pipefail; node "$1" dump --format resp --file "$2" | "$3" -p "$4" --pipe', '-', cli, file, server.cli, String(server.port)], { encoding: 'utf8' });
    assert.is(shell.status, 0, `the pipe failed:\n${shell.stdout}${shell.stderr}`);
    return shell.stdout;
  }

  test('every key, value and expiry arrives exact; expired keys are left out', async () => {
    const path = file('to-redis.slabkv');
    const db = new DataStore(path);
    const entries = new Map();
    const put = (key, value, ttl) => { db.create(key, value, ttl); entries.set(key, { text: db.readText(key), expiresAt: db.expiresAt(key) }); };
    for (let i = 0; i < 2000; i++) put(`k:${i}`, { i, name: `name ${i}` }, i % 3 === 0 ? { expiresAt: Date.now() + 3_600_000 + i } : i % 3 === 1 ? 7200 : undefined);
    put('😀'.repeat(32), { emoji: '😀🎉', cjk: '键值存储', quote: '"\\' }); // 32 code points of 4 bytes each
    put('with space and *?[glob]', { lines: 'a\r\nb\nc', tab: '\t', nul: '\u0000' });
    put('$5\r\nSET', { note: 'a key that looks like the protocol' });
    put('big', { blob: 'x'.repeat(16384 - 11) }); // the largest value: 16,384 bytes of JSON
    assert.is(Buffer.byteLength(db.readText('big')), 16384);
    const soon = Date.now() + 500; // ahead of both creates on a busy machine
    db.create('expired:1', { gone: true }, { expiresAt: soon });
    db.create('expired:2', { gone: true }, { expiresAt: soon });
    db.close();
    while (Date.now() <= soon) await sleep(10);

    const report = pipe(path);
    assert.match(report, new RegExp(`errors: 0, replies: ${entries.size}\\b`));
    assert.is(await client.dbSize(), entries.size, 'the expired keys were left out');
    for (const [key, { text, expiresAt }] of entries) {
      assert.is(await client.get(key), text, key);
      const at = Number(await client.sendCommand(['PEXPIRETIME', key]));
      assert.is(at, expiresAt ?? -1, `expiry of ${key}`);
    }
  });

  test('the dump of an empty store sends nothing and succeeds', async () => {
    const path = file('empty.slabkv');
    new DataStore(path).close();
    await client.flushAll();
    assert.match(pipe(path), /errors: 0, replies: 0\b/);
    assert.is(await client.dbSize(), 0);
  });

  return test;
}

test('a format other than jsonl or resp is a usage error', () => {
  const file = tmp.file('usage.slabkv');
  new DataStore(file).close();
  const run = spawnSync(process.execPath, [cli, 'dump', '--format', 'csv', '--file', file], { encoding: 'utf8' });
  assert.is(run.status, 2);
  assert.match(run.stderr, /--format must be jsonl or resp/);
});

test.after(() => tmp.remove());
test.run();
