/**
 * Expiry: counting the records whose time has passed, and the sweep that reclaims them without anyone reading
 * them. Both go through the index; an expired record is invisible from its expiry time on (spec section 6), and
 * its chunk comes back when the sweep, a create over its key or recovery meets it.
 */
import { BUCKET_EMPTY, BUCKET_MOVED, Header } from '../format/layout.js';
import { bucketAt, bucketRecord, headerField, setHeaderField } from '../format/fields.js';
import { isExpired } from '../format/rules.js';
import { indexArrays } from './buckets.js';
import type { Table } from './table.js';

/** countExpired counts the records still stored whose expiry time has passed: O(buckets), 0 at once when none expire. */
export function countExpired(table: Table, nowMs: number): number {
  const w = table.file.words;
  if (headerField(w, Header.expiringCount) === 0) return 0;
  let expired = 0;
  for (const [array, capacity] of indexArrays(w)) {
    for (let slot = 0; slot < capacity; slot++) {
      const record = bucketRecord(w, bucketAt(array, slot))!;
      if (record === BUCKET_EMPTY || record === BUCKET_MOVED) continue;
      table.checkRecordBounds(record);
      if (isExpired(table.expiresAt(record), nowMs)) expired++;
    }
  }
  return expired;
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
