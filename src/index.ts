export { DataStore } from './api/data-store.js';
export type { DataStoreStats } from './store/reports.js';
export { DataStoreError, type ErrorCode } from './errors.js';
export type { DataStoreOptions, Expiry, JsonObject, JsonValue } from './api/validate.js';
export type { RecoveryReport } from './table/recovery.js';
export type { VerifyProblem, VerifyProblemKind, VerifyReport } from './table/verify.js';
export type { ClassSpace } from './table/walk.js';
