// One contract, two stores: the suite of contract.mjs against the file store and against RedisDataStore on a real
// redis-server, and on a valkey-server, each of them that is installed, that this file starts on a free port and
// stops (skipped, saying why, where none is installed).
import { createClient } from '@redis/client';
import { DataStore } from 'slabkv';
import { RedisDataStore } from 'slabkv/redis';
import { asyncStore, contractSuite } from './contract.mjs';
import { scratch } from './helpers.mjs';
import { serverPrograms, skipOrServer } from './redis-server.mjs';

const tmp = scratch();
let files = 0;
const fileStore = contractSuite('DataStore (file)', async () => asyncStore(new DataStore(tmp.file(`contract-${files++}.slabkv`))));
fileStore.after(() => tmp.remove());
fileStore.run();

for (const program of serverPrograms()) {
  const server = await skipOrServer('the DataStore contract against RedisDataStore', program);
  if (server) {
    const admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    const redisStore = contractSuite(`RedisDataStore on ${server.version.split(' ').slice(0, 3).join(' ')}`, async () => {
      await admin.flushAll();
      return RedisDataStore.connect({ url: server.url });
    });
    redisStore.after(async () => {
      await admin.close();
      await server.stop();
    });
    redisStore.run();
  }
}
