/**
 * What a store tells about itself: listing its live keys a batch at a time, its statistics, a verification and the
 * space per size class. Each runs with the lock held (write-path.ts's locked or exclusive).
 */
import { fstatSync } from 'node:fs';
import { Header, HEADER_SIZE } from '../format/layout.js';
import { headerField } from '../format/fields.js';
import { countExpired } from '../table/expiry.js';
import type { RecoveryReport } from '../table/recovery.js';
import { verify, type VerifyReport } from '../table/verify.js';
import { scanLive, spaceByClass, type ClassSpace } from '../table/walk.js';
import { lookupTime } from './lookups.js';
import type { SharedStore } from './shared-store.js';

/** Slabs read per batch by keys() and entries(), under the lock: a few hundred records. */
const SCAN_SLABS = 4;

export interface DataStoreStats {
  /**
   * Live keys: stored and not expired. Exact; O(1) but for the first count after an expiry time has passed (or after
   * the open, or a clock set back), which passes over the index once.
   */
  keys: number;
  /** Records stored, including expired ones whose space is not yet reclaimed. */
  records: number;
  /** Current length of the file. */
  fileBytes: number;
  /** The limit this handle grows the file to. */
  maxFileBytes: number;
  /** Bytes of the file in use by slabs and bucket arrays. */
  heapBytes: number;
  /** Buckets in the current bucket array. */
  buckets: number;
  /** keys / buckets. */
  loadFactor: number;
  /** True while the bucket array is being doubled, bucket by bucket. */
  rehashing: boolean;
  /**
   * What recovery did when this thread found the file not cleanly closed, repair when it was opened with
   * repair: true, or the upgrade when it upgraded a version 1 file; else null.
   */
  recovered: RecoveryReport | null;
  /**
   * How this thread found the file when it opened it: 'clean' (closed cleanly), 'resumed' (left open by a writer
   * that died between changes, used as it was: recovered is null), 'recovered' (left open, rebuilt), 'repaired'
   * (opened with repair: true), or 'shared' (already open in another thread of the process).
   */
  openedFrom: 'clean' | 'resumed' | 'recovered' | 'repaired' | 'shared';
  /** Bytes of disk the file occupies (its allocated blocks): below fileBytes once free spans are given back. */
  diskBytes: number;
  /**
   * Whether freed space goes back to the file system: 'supported' once a free span's blocks were given back
   * (hole punching), 'unsupported' when the file system refused (the space stays in the file, for reuse), and
   * 'unknown' until this thread has freed a span.
   */
  holePunching: 'supported' | 'unsupported' | 'unknown';
}

/**
 * scanBatch adds to `batch` the live keys (with their values' JSON text when withValues) of the spans from `at`
 * on, below `end` (scanEnd when the scan began), a few slabs' worth, and returns where the next batch starts (0 at
 * the end). Inside this thread's transaction it lists the store as the transaction sees it.
 */
export function scanBatch(store: SharedStore, at: number, end: number, prefix: string | undefined, withValues: boolean, batch: Array<[string, string | undefined]>): number {
  const table = store.table;
  return scanLive(store.file, at, end, SCAN_SLABS, lookupTime(store), (record) => {
    const key = table.keyAt(record);
    if (prefix === undefined || key.startsWith(prefix)) batch.push([key, withValues ? table.valueText(record) : undefined]);
  }, store.transaction.depth > 0);
}

/** scanEnd is where the heap ends now: a scan begun now stops there (scanLive). */
export function scanEnd(store: SharedStore): number {
  return headerField(store.file.words, Header.heapEnd);
}

export function storeStats(store: SharedStore, maxFileBytes: number): DataStoreStats {
  const w = store.file.words;
  const records = headerField(w, Header.recordCount);
  const buckets = headerField(w, Header.tableCapacity);
  return {
    keys: records - countExpired(store.table, lookupTime(store)),
    records,
    fileBytes: headerField(w, Header.fileSize),
    maxFileBytes,
    heapBytes: headerField(w, Header.heapEnd) - HEADER_SIZE,
    buckets,
    loadFactor: records / buckets,
    rehashing: headerField(w, Header.oldTableOffset) !== 0,
    recovered: store.recovered,
    openedFrom: store.openedFrom,
    diskBytes: fstatSync(store.file.fd).blocks * 512,
    holePunching: store.file.punching,
  };
}

export function verifyStore(store: SharedStore, onProgress?: (done: number, total: number) => void): VerifyReport {
  return verify(store.table, Date.now(), onProgress);
}

export function spaceOf(store: SharedStore): ClassSpace[] {
  return spaceByClass(store.file);
}
