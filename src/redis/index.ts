export { RedisDataStore, type RedisDataStoreOptions } from './redis-data-store.js';
export type { Expiry, JsonObject, JsonValue } from '../api/validate.js';
