export { DataStore, type DataStoreStats } from './api/data-store.js';
export { DataStoreError, type ErrorCode } from './errors.js';
export type { DataStoreOptions, JsonObject, JsonValue } from './api/validate.js';
export type { RecoveryReport } from './table/recovery.js';
export type { VerifyReport } from './table/verify.js';
export type { ClassSpace } from './table/walk.js';
