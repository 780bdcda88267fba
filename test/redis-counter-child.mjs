// A process incrementing one counter through RedisDataStore.update: argv url, key, how many times.
import { RedisDataStore } from 'slabkv/redis';

const [url, key, times] = process.argv.slice(2);
const db = await RedisDataStore.connect({ url });
let runs = 0;
for (let i = 0; i < Number(times); i++) {
  await db.update(key, (current) => { runs++; return { n: (current?.n ?? 0) + 1 }; });
}
await db.close();
console.log(JSON.stringify({ runs }));
