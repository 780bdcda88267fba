/**
 * The lookups of one key, run by write-path.ts's read with or without the lock. Each reads the index and the
 * record only: nothing is written, nothing allocated but the result.
 */
import { isExpired } from '../format/rules.js';
import type { KeyBuffer } from '../table/key-buffer.js';
import type { SharedStore } from './shared-store.js';

/**
 * lookupTime is the instant expiries are judged at: inside this thread's transaction its time (Transaction.now), so
 * that its reads agree with its changes; else now.
 */
export function lookupTime(store: SharedStore): number {
  const tx = store.transaction;
  return tx.depth > 0 ? tx.now : Date.now();
}

/**
 * liveRecord returns the record of key if it is live, or 0 when it is missing or expired. The clock is read only
 * for a key that can expire: Date.now() costs as much as a lookup's own arithmetic.
 */
export function liveRecord(store: SharedStore, key: KeyBuffer): number {
  const table = store.table;
  const bucket = table.find(key);
  if (bucket === 0) return 0;
  const record = table.recordIn(bucket);
  const expiresAt = table.expiresAt(record);
  return expiresAt !== 0 && isExpired(expiresAt, lookupTime(store)) ? 0 : record;
}

/** valueText is the JSON text of key's value, its checksum checked, or undefined when key is not live. */
export function valueText(store: SharedStore, key: KeyBuffer): string | undefined {
  const record = liveRecord(store, key);
  if (record === 0) return undefined;
  store.table.checkChecksum(record);
  return store.table.valueText(record);
}

export function isLive(store: SharedStore, key: KeyBuffer): boolean {
  return liveRecord(store, key) !== 0;
}

/** expiryOf is when key expires (ms since the epoch; 0 = never), or -1 when key is not live. */
export function expiryOf(store: SharedStore, key: KeyBuffer): number {
  const record = liveRecord(store, key);
  return record === 0 ? -1 : store.table.expiresAt(record);
}
