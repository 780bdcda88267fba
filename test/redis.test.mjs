// RedisDataStore against a real server: what only a server can show (other processes, a lost connection, Redis
// values of other kinds). The DataStore contract it shares with the file store is in contract.test.mjs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createClient } from '@redis/client';
import { DataStoreError } from 'slabkv';
import { RedisDataStore } from 'slabkv/redis';
import { redisServer, skipOrServer } from './redis-server.mjs';

const server = await skipOrServer('RedisDataStore against a Redis server');
let admin;

/** rejectsCode asserts that the promise rejects with a DataStoreError of the code, and returns the error. */
async function rejectsCode(promise, code) {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, DataStoreError, `expected a DataStoreError, got ${error}`);
    assert.is(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.unreachable(`expected ${code}, nothing was thrown`);
}

test.before(async () => {
  if (!server) return;
  admin = createClient({ url: server.url });
  admin.on('error', () => {});
  await admin.connect();
});
test.before.each(async () => { await admin?.flushAll(); });
test.after(async () => {
  await admin?.close();
  await server?.stop();
});

test('loading slabkv never loads @redis/client; slabkv/redis loads it only to connect', () => {
  const loaded = (code) => execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    ${code};
    process.stdout.write(String(Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/@redis/'))));`], { encoding: 'utf8' });
  assert.is(loaded("await import('slabkv'); createRequire(import.meta.url)('slabkv')"), 'false');
  assert.is(loaded("await import('slabkv/redis')"), 'false');
  assert.is(loaded("const { RedisDataStore } = await import('slabkv/redis'); await RedisDataStore.connect({ url: 'redis://127.0.0.1:1' }).catch(() => {})"), 'true');
});

test('bad options are OPTION_INVALID; a server that cannot be reached is IO_ERROR with the cause', async () => {
  await rejectsCode(RedisDataStore.connect({ url: 'http://localhost' }), 'OPTION_INVALID');
  await rejectsCode(RedisDataStore.connect({ uri: 'redis://localhost' }), 'OPTION_INVALID');
  await rejectsCode(RedisDataStore.connect({ connectTimeout: -1 }), 'OPTION_INVALID');
  await rejectsCode(RedisDataStore.connect({ clientOptions: { keyPrefix: 'app:' } }), 'OPTION_INVALID');
  await rejectsCode(RedisDataStore.connect('redis://localhost'), 'OPTION_INVALID');
  // A port nobody listens on: the server's own port once it is stopped.
  const gone = await redisServer();
  await gone.stop();
  const error = await rejectsCode(RedisDataStore.connect({ url: `redis://user:secret@127.0.0.1:${gone.port}` }), 'IO_ERROR');
  assert.is(error.cause.code, 'ECONNREFUSED');
  assert.not.match(error.message, /secret/, 'the password is not in the message');
});

if (server) {
  test('update is atomic across processes: 4 processes x 300 increments of one key end at 1,200', async () => {
    const child = new URL('./redis-counter-child.mjs', import.meta.url).pathname;
    const runs = await Promise.all(Array.from({ length: 4 }, () => promisify(execFile)(process.execPath, [child, server.url, 'counter', '300'])));
    const db = await RedisDataStore.connect({ url: server.url });
    assert.equal(await db.read('counter'), { n: 1200 });
    await db.close();
    const tries = runs.reduce((sum, { stdout }) => sum + JSON.parse(stdout).runs, 0);
    assert.ok(tries >= 1200, `fn ran ${tries} times for 1,200 increments`);
  });

  test('a lost connection fails each call with IO_ERROR at once, with the cause, and is made again when the server is back', async () => {
    const own = await redisServer();
    const db = await RedisDataStore.connect({ url: own.url });
    await db.set('k', { a: 1 });
    await own.stop();
    for (const call of [() => db.read('k'), () => db.set('k', { a: 2 }), () => db.update('k', () => ({ a: 3 })), () => db.keys().next()]) {
      const error = await rejectsCode(call(), 'IO_ERROR');
      assert.ok(error.cause instanceof Error, 'the client error is the cause');
    }
    // A server back on the port: the connection is made again, and calls work.
    const back = await redisServer({ port: own.port });
    let value;
    for (let tries = 0; value === undefined; tries++) {
      try {
        await db.set('k', { a: 4 });
        value = await db.read('k');
      } catch (error) {
        assert.is(error.code, 'IO_ERROR');
        if (tries === 200) throw new Error(`no reconnection after ${tries} tries: ${error.message}`);
        await sleep(50);
      }
    }
    assert.equal(value, { a: 4 });
    await db.close();
    await rejectsCode(db.read('k'), 'STORE_CLOSED');
    await back.stop();
  });

  test('a key of another Redis type, or a string that is not a JSON object, is VALUE_INVALID and left alone', async () => {
    await admin.rPush('list', 'x');
    await admin.set('text', 'plain text');
    await admin.set('array', '[1,2]');
    const db = await RedisDataStore.connect({ url: server.url });
    await rejectsCode(db.read('list'), 'VALUE_INVALID');
    await rejectsCode(db.update('list', () => ({ a: 1 })), 'VALUE_INVALID');
    await rejectsCode(db.read('text'), 'VALUE_INVALID');
    await rejectsCode(db.get('array'), 'VALUE_INVALID');
    await rejectsCode(db.update('text', () => ({ a: 1 })), 'VALUE_INVALID');
    // readText, as the file store's, gives only a JSON object's text.
    await rejectsCode(db.readText('text'), 'VALUE_INVALID');
    await rejectsCode(db.readText('array'), 'VALUE_INVALID');
    await rejectsCode(db.readText('list'), 'VALUE_INVALID');
    assert.is(await admin.get('text'), 'plain text');
    assert.equal(await admin.lRange('list', 0, -1), ['x']);
    // keys() lists the string keys that are slabkv keys: not the list, not a key of 33 characters.
    await admin.set('x'.repeat(33), '{}');
    const keys = [];
    for await (const key of db.keys()) keys.push(key);
    assert.equal(keys.sort(), ['array', 'text']);
    await db.close();
  });

  test('values are stored as their JSON text, as slabkv dump --format resp writes them, with the expiry exact', async () => {
    const db = await RedisDataStore.connect({ url: server.url });
    const expiresAt = Date.now() + 3_600_123;
    await db.create('user:1', { name: 'Ada', tags: ['x'], n: 1.5 }, { expiresAt });
    assert.is(await admin.get('user:1'), '{"name":"Ada","tags":["x"],"n":1.5}');
    assert.is(Number(await admin.sendCommand(['PEXPIRETIME', 'user:1'])), expiresAt);
    await admin.set('from-dump', '{"made":"elsewhere"}');
    assert.equal(await db.read('from-dump'), { made: 'elsewhere' });
    await db.close();
  });

  test('update runs fn again when another client changed the key meanwhile, and never writes over that change', async () => {
    const db = await RedisDataStore.connect({ url: server.url });
    await db.set('k', { n: 0 }, 3600);
    const expiresAt = await db.expiresAt('k');
    const seen = [];
    const result = await db.update('k', (current) => {
      seen.push(current?.n);
      // The first time, another client changes the key between update's read and its write (redis-cli runs to
      // its end before fn returns); that write must stand, and fn must run again on it.
      if (seen.length === 1) execFileSync(server.cli, ['-p', String(server.port), 'SET', 'k', '{"n":100}', 'KEEPTTL']);
      return { n: current.n + 1 };
    });
    assert.equal(seen, [0, 100]);
    assert.equal(result, { n: 101 });
    assert.equal(await db.read('k'), { n: 101 });
    assert.is(await db.expiresAt('k'), expiresAt, 'update without ttl keeps the expiry');
    // Deleted meanwhile: fn runs again on undefined.
    seen.length = 0;
    await db.update('k', (current) => {
      seen.push(current?.n);
      if (seen.length === 1) execFileSync(server.cli, ['-p', String(server.port), 'DEL', 'k']);
      return current === undefined ? undefined : { n: 0 };
    });
    assert.equal(seen, [101, undefined]);
    assert.is(await db.has('k'), false);
    await db.close();
  });
}

test.run();
