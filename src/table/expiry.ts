/**
 * Expiry: counting the records whose time has passed, and the sweep that reclaims them without anyone reading
 * them. An expired record is invisible from its expiry time on (spec section 6), and its chunk comes back when the
 * sweep, a create over its key or recovery meets it.
 *
 * Counting is O(1) while no expiry time passes. Three run-time header fields keep the last count (section 9):
 * `expiredCount` records expire at or before `countedAt`, and every other record with an expiry time expires at or
 * after `nextExpiry` (0: nothing is known). From countedAt until nextExpiry the expired records are expiredCount;
 * inserts and removes keep the three true. A pass over the index is made only when the clock has reached
 * nextExpiry (or gone back before countedAt), and after an open or a recovery, which know nothing.
 */
import { BUCKET_EMPTY, BUCKET_MOVED, Header } from '../format/layout.js';
import { bucketAt, bucketRecord, headerField, headerU64, setHeaderField, setHeaderU64 } from '../format/fields.js';
import { isExpired } from '../format/rules.js';
import { indexArrays } from './buckets.js';
import type { Table } from './table.js';

/** nextExpiry when no record with an expiry time is left unexpired: later than any expiry time. */
const NEVER = Number.MAX_SAFE_INTEGER;

/** countExpired counts the records still stored whose expiry time has passed: O(1) until the next one passes. */
export function countExpired(table: Table, nowMs: number): number {
  const w = table.file.words;
  if (headerField(w, Header.expiringCount) === 0) return 0;
  const next = headerU64(w, Header.nextExpiry);
  if (next !== 0 && nowMs < next && nowMs >= headerU64(w, Header.countedAt)) return headerField(w, Header.expiredCount);
  let expired = 0;
  let soonest = NEVER;
  for (const [array, capacity] of indexArrays(w)) {
    for (let slot = 0; slot < capacity; slot++) {
      const record = bucketRecord(w, bucketAt(array, slot))!;
      if (record === BUCKET_EMPTY || record === BUCKET_MOVED) continue;
      table.checkRecordBounds(record);
      const expiresAt = table.expiresAt(record);
      if (isExpired(expiresAt, nowMs)) expired++;
      else if (expiresAt !== 0 && expiresAt < soonest) soonest = expiresAt;
    }
  }
  noteCount(w, nowMs, expired, soonest);
  return expired;
}

/**
 * noteExpiringInsert keeps the count true as a record expiring at expiresAt (not 0) is stored. Called before
 * expiringCount counts it: when it is the only one, the count is known at once.
 */
export function noteExpiringInsert(w: Uint32Array, expiresAt: number): void {
  if (headerField(w, Header.expiringCount) === 0) {
    noteCount(w, 0, 0, expiresAt);
    return;
  }
  const next = headerU64(w, Header.nextExpiry);
  if (next === 0) return;
  if (expiresAt <= headerU64(w, Header.countedAt)) setHeaderField(w, Header.expiredCount, headerField(w, Header.expiredCount) + 1);
  else if (expiresAt < next) setHeaderU64(w, Header.nextExpiry, expiresAt);
}

/** noteExpiringRemove keeps the count true as a record expiring at expiresAt (not 0) goes. */
export function noteExpiringRemove(w: Uint32Array, expiresAt: number): void {
  if (headerU64(w, Header.nextExpiry) !== 0 && expiresAt <= headerU64(w, Header.countedAt)) {
    setHeaderField(w, Header.expiredCount, headerField(w, Header.expiredCount) - 1);
  }
}

/** forgetExpiredCount clears the three fields: nothing is known (the next count passes over the index). */
export function forgetExpiredCount(w: Uint32Array): void {
  noteCount(w, 0, 0, 0);
}

/** noteCount writes a count. nextExpiry goes to 0 first and is written last: a thread stopped between leaves 0. */
function noteCount(w: Uint32Array, countedAt: number, expired: number, nextExpiry: number): void {
  setHeaderU64(w, Header.nextExpiry, 0);
  setHeaderField(w, Header.expiredCount, expired);
  setHeaderU64(w, Header.countedAt, countedAt);
  setHeaderU64(w, Header.nextExpiry, nextExpiry);
}

/**
 * sweep looks at up to `budget` buckets of the current array from the sweep cursor and deletes the records that
 * expired at or before nowMs, so expired space comes back without anyone reading it. Returns how many it removed.
 * The current array holds no moved markers (only an old array does), so every bucket that is not empty is a record.
 */
export function sweep(table: Table, nowMs: number, budget: number): number {
  const w = table.file.words;
  if (headerField(w, Header.expiringCount) === 0) return 0;
  const array = headerField(w, Header.tableOffset);
  const mask = headerField(w, Header.tableCapacity) - 1;
  let slot = headerField(w, Header.sweepIndex) & mask;
  let removed = 0;
  for (let n = 0; n < budget; n++) {
    const bucket = bucketAt(array, slot);
    const record = bucketRecord(w, bucket)!;
    if (record !== BUCKET_EMPTY) {
      table.checkRecordBounds(record);
      if (isExpired(table.expiresAt(record), nowMs)) {
        table.remove(bucket);
        removed++;
        continue; // a later bucket may have shifted into this slot
      }
    }
    slot = (slot + 1) & mask;
  }
  if (headerField(w, Header.tableOffset) === array) setHeaderField(w, Header.sweepIndex, slot); // the cursor is the array's
  return removed;
}
