/**
 * Table: the hash index over the heap's records, and the operations on records that keep both in step.
 *
 * The index is an open-addressed bucket array with linear probing (buckets.ts). It grows by doubling,
 * incrementally: a new array is allocated and every later change moves REHASH_STEP buckets from the old array to
 * the new one, so no single call pays for the whole move. While an old array exists, a lookup probes the new array,
 * then the old. Deletion from the current array shifts later buckets back (no tombstones); in the old array a moved
 * or deleted bucket is marked BUCKET_MOVED so that probes continue past it.
 *
 * Record states are the truth: a record becomes live with one aligned store after its bytes and checksum are in
 * place, and stops being live with one store before its chunk is reused. The index, counters and free lists are
 * derived, and are rebuilt from the records after a crash (recovery.ts).
 *
 * A lookup returns the bucket it found (its byte offset in the file, a plain number: nothing is allocated per call),
 * from which recordIn gives the record and remove deletes it.
 */
import {
  BUCKET_EMPTY, BUCKET_MOVED, CHUNK_SIZES, Header, MIN_TABLE_CAPACITY, RECORD_FREE, RECORD_LIVE, RECORD_SUPERSEDED,
  RECORD_UNCOMMITTED, SPAN_TABLE, classFor, slabsForTable,
} from '../format/layout.js';
import { readExpiresAt, recordChecksum, writeExpiresAt } from '../format/record.js';
import {
  bucketAt, bucketHash, bucketRecord, headerField, keyLength, keyStart, markBucketMoved, recordSize, recordState,
  recordStoredChecksum, setBucket, setHeaderField, setRecordLengths, setRecordState, setRecordStoredChecksum, slabIndex,
  spanKind, spanParam, spanSlabCount, tableEnd, valueLength, valueStart, withinLoad,
} from '../format/fields.js';
import { hex } from '../format/header.js';
import { Heap } from './heap.js';
import { corrupt } from '../errors.js';
import { recordBoundsProblem, recordLengthsFit, spanShapeProblem } from '../format/rules.js';
import { indexArrays, place, probe, shiftOut } from './buckets.js';
import { noteExpiringInsert, noteExpiringRemove } from './expiry.js';
import type { KeyBuffer } from './key-buffer.js';
import type { Region } from './region.js';

/**
 * Buffer's own utf8Slice skips the argument checks of toString('utf8', start, end), which cost as much as the
 * decoding of a short value. It is not in Node's documentation, so toString stays as the fallback.
 */
type Utf8Sliceable = Buffer & { utf8Slice?: (start: number, end: number) => string };
const decodeUtf8: (bytes: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Utf8Sliceable).utf8Slice === 'function'
    ? (bytes, start, end) => (bytes as Utf8Sliceable).utf8Slice!(start, end)
    : (bytes, start, end) => bytes.toString('utf8', start, end);
/**
 * And utf8Write skips those of write(string, offset, length, 'utf8'): the value is measured already, and it fits.
 */
type Utf8Writable = Buffer & { utf8Write?: (text: string, offset: number, length: number) => number };
const encodeUtf8: (bytes: Buffer, text: string, offset: number, length: number) => number =
  typeof (Buffer.prototype as Utf8Writable).utf8Write === 'function'
    ? (bytes, text, offset, length) => (bytes as Utf8Writable).utf8Write!(text, offset, length)
    : (bytes, text, offset, length) => bytes.write(text, offset, length, 'utf8');
/** Buckets moved from the old array per change: 16 per insert finishes a move long before the next doubling. */
const REHASH_STEP = 16;

export class Table {
  readonly heap: Heap;

  constructor(readonly file: Region, maxSize: number) {
    this.heap = new Heap(file, maxSize);
  }

  private get words(): Uint32Array { return this.file.words; }
  private header(field: number): number { return headerField(this.file.words, field); }
  private setHeader(field: number, value: number): void { setHeaderField(this.file.words, field, value); }

  get recordCount(): number { return this.header(Header.recordCount); }

  /** createIndex allocates the first bucket array of a new store. */
  createIndex(capacity = MIN_TABLE_CAPACITY): void {
    const table = this.allocTable(capacity);
    this.setHeader(Header.tableOffset, table);
    this.setHeader(Header.tableCapacity, capacity);
  }

  /** checkIndex validates the header's bucket arrays before they are used. */
  checkIndex(): void {
    this.checkTableSpan(this.header(Header.tableOffset), this.header(Header.tableCapacity), 'table');
    const old = this.header(Header.oldTableOffset);
    if (old !== 0) {
      const oldCapacity = this.header(Header.oldTableCapacity);
      this.checkTableSpan(old, oldCapacity, 'old table');
      if (this.header(Header.rehashIndex) >= oldCapacity) throw corrupt(`rehashIndex ${this.header(Header.rehashIndex)} is past the old table's ${oldCapacity} buckets`);
    }
  }

  /** checkTableSpan: a TABLE span of sound shape, whose capacity is the header's, a power of two, and fits it. */
  private checkTableSpan(offset: number, capacity: number, name: string): void {
    const w = this.words;
    const ok = spanShapeProblem(w, offset, this.header(Header.heapEnd)) === null && spanKind(w, offset) === SPAN_TABLE &&
      capacity >= MIN_TABLE_CAPACITY && (capacity & (capacity - 1)) === 0 && spanParam(w, offset) === capacity &&
      spanSlabCount(w, offset) === slabsForTable(capacity);
    if (!ok) throw corrupt(`the ${name} at ${hex(offset)} with ${capacity} buckets is not a bucket array span`);
  }

  /**
   * allocTable takes a span for an empty bucket array. A reused FREE span is cleared; space from heapEnd is zero
   * already (new file space is, recovery zeroes the tail before it builds anything, and heapEnd never moves
   * down), so doubling a large array costs no pass over it.
   */
  private allocTable(capacity: number): number {
    const heapEnd = this.header(Header.heapEnd);
    const span = this.heap.allocSpan(slabsForTable(capacity), SPAN_TABLE, capacity);
    if (span < heapEnd) this.file.bytes.fill(0, bucketAt(span, 0), tableEnd(span, capacity));
    return span;
  }

  // ---- lookup ----

  /** find returns the bucket (its offset in the file) that holds the key's live record, or 0 if there is none. */
  find(key: KeyBuffer): number {
    const found = this.findOrHole(key);
    return found > 0 ? found : 0;
  }

  /**
   * findOrHole is find, but a miss returns the empty bucket of the current array where the key would go, negated:
   * insert takes it as its `hole`, and places the record without walking the array again.
   */
  findOrHole(key: KeyBuffer): number {
    const w = this.words;
    const found = probe(w, this.header(Header.tableOffset), this.header(Header.tableCapacity), key);
    if (found > 0) return found;
    const old = this.header(Header.oldTableOffset);
    const inOld = old === 0 ? 0 : probe(w, old, this.header(Header.oldTableCapacity), key);
    return inOld > 0 ? inOld : found;
  }

  /** recordIn returns the record a bucket returned by find points at. */
  recordIn(bucket: number): number {
    return bucketRecord(this.words, bucket)!;
  }

  /** checkRecordBounds throws FILE_CORRUPT unless offset can be a live record wholly below heapEnd (recordBoundsProblem). */
  checkRecordBounds(offset: number): void {
    const problem = recordBoundsProblem(this.words, offset, this.header(Header.heapEnd));
    if (problem !== null) throw corrupt(problem);
  }

  /**
   * checkLiveRecord throws FILE_CORRUPT unless a live record of lengths in range starts a chunk of a RECORDS span
   * at offset, and fits it: the sound record's rule but for the checksum, which a delete does not read. Returns
   * the span (its class is the span's param).
   */
  checkLiveRecord(offset: number): number {
    this.checkRecordBounds(offset);
    const span = this.heap.spanOfChunk(offset);
    if (span === 0 || !recordLengthsFit(this.words, offset, CHUNK_SIZES[spanParam(this.words, span)]!)) {
      throw corrupt(`the record at ${hex(offset)} is not a whole record chunk of a RECORDS span`);
    }
    return span;
  }

  // ---- records ----

  expiresAt(record: number): number {
    const w = this.words;
    return readExpiresAt(w, record);
  }

  valueStart(record: number): number {
    return valueStart(this.words, record);
  }

  valueLength(record: number): number {
    return valueLength(this.words, record);
  }

  /** valueText decodes the JSON text of a live record's value. */
  valueText(record: number): string {
    const start = this.valueStart(record);
    return decodeUtf8(this.file.bytes, start, start + this.valueLength(record));
  }

  /** checkChecksum throws FILE_CORRUPT when a record's bytes no longer match its checksum. */
  checkChecksum(record: number): void {
    const w = this.words;
    const stored = recordStoredChecksum(w, record);
    const actual = recordChecksum(this.file.bytes, record, keyLength(w, record), valueLength(w, record), w);
    if (stored !== actual) throw corrupt(`the record at ${hex(record)} has checksum ${hex(stored)}; its bytes hash to ${hex(actual)}`);
  }

  /** keyAt decodes the key of a live record. */
  keyAt(record: number): string {
    const start = keyStart(record);
    return this.file.bytes.toString('utf8', start, start + keyLength(this.words, record));
  }

  /**
   * insert stores a new record for a key known to be absent and returns it. value is JSON text of valueLength UTF-8
   * bytes. Room in the index is made before the chunk is taken, so a STORE_FULL leaves the store unchanged. The
   * record is made RECORD_LIVE, or RECORD_UNCOMMITTED inside a transaction (live when it commits). `hole` is what
   * findOrHole returned for the key, if nothing changed the index since: the key's bucket is then known.
   */
  insert(key: KeyBuffer, value: string | Uint8Array, valueLength: number, expiresAt: number, state = RECORD_LIVE, hole = 0): number {
    if (this.makeRoom()) hole = 0; // the arrays changed: the bucket is looked for again
    const keyLength = key.length;
    const sizeClass = classFor(recordSize(keyLength, valueLength));
    const heap = this.heap;
    const record = heap.allocChunk(sizeClass);
    const w = this.words;
    const bytes = this.file.bytes;
    writeExpiresAt(w, record, expiresAt);
    setRecordLengths(w, record, keyLength, slabIndex(w, record), valueLength); // allocChunk wrote slabIndex
    const at = keyStart(record);
    const keyBytes = key.bytes;
    for (let i = 0; i < keyLength; i++) bytes[at + i] = keyBytes[i]!;
    if (typeof value === 'string') encodeUtf8(bytes, value, at + keyLength, valueLength);
    else bytes.set(value.subarray(0, valueLength), at + keyLength);
    setRecordStoredChecksum(w, record, recordChecksum(bytes, record, keyLength, valueLength, w));
    setRecordState(w, record, state); // the record exists from this store on (or from the commit)
    this.index(record, key.hash, expiresAt, hole);
    return record;
  }

  /** index adds a bucket for a record (in the hole findOrHole found, if given), and counts it. */
  private index(record: number, hash: number, expiresAt: number, hole = 0): void {
    if (hole < 0) setBucket(this.words, -hole, record, hash);
    else place(this.words, this.header(Header.tableOffset), this.header(Header.tableCapacity), hash, record);
    this.setHeader(Header.recordCount, this.recordCount + 1);
    if (expiresAt !== 0) {
      noteExpiringInsert(this.words, expiresAt);
      this.setHeader(Header.expiringCount, this.header(Header.expiringCount) + 1);
    }
    this.rehashStep(REHASH_STEP);
  }

  /**
   * supersede takes a live record out of the index inside a transaction without freeing it: RECORD_SUPERSEDED, it
   * stays whole until the transaction commits (settle frees it) or is undone (restore). Returns the record.
   */
  supersede(bucket: number): number {
    return this.takeOut(bucket, RECORD_SUPERSEDED);
  }

  /**
   * restore undoes supersede (the record is live again, state RECORD_LIVE) or retire (it is the transaction's own
   * again, RECORD_UNCOMMITTED), and puts it back in the index.
   */
  restore(record: number, key: KeyBuffer, state = RECORD_LIVE): void {
    key.setBytes(this.file.bytes, keyStart(record), keyLength(this.words, record));
    setRecordState(this.words, record, state);
    this.index(record, key.hash, this.expiresAt(record));
  }

  /**
   * retire takes a record the transaction under way wrote out of the index and marks it free, but keeps its chunk
   * off the free lists (release puts it there at the commit), so that a nested change's undo can restore it.
   */
  retire(bucket: number): number {
    return this.takeOut(bucket, RECORD_FREE);
  }

  /** takeOut gives an indexed record a state that keeps its chunk and bytes, and empties its bucket. */
  private takeOut(bucket: number, state: number): number {
    const record = this.recordIn(bucket);
    this.checkLiveRecord(record);
    setRecordState(this.words, record, state);
    this.unindex(bucket, record);
    return record;
  }

  /** markRetired is retire without the index (empty does that). */
  markRetired(record: number): number {
    this.checkLiveRecord(record);
    setRecordState(this.words, record, RECORD_FREE);
    return record;
  }

  /** release puts a retired record's chunk on its span's free list (the commit of its transaction). */
  release(record: number): void {
    const span = this.heap.spanOfChunk(record);
    if (span === 0) throw corrupt(`the record at ${hex(record)} is not a record chunk of a RECORDS span`);
    this.heap.freeChunk(record, spanParam(this.words, span), span);
  }

  /**
   * settle ends a record's part in a committed transaction: RECORD_UNCOMMITTED becomes RECORD_LIVE, and a
   * RECORD_SUPERSEDED record is freed. A record in any other state was settled already (a chunk the transaction
   * wrote twice). Records are settled after the header's commit field says the transaction committed.
   */
  settle(record: number): void {
    const w = this.words;
    const state = recordState(w, record);
    if (state === RECORD_UNCOMMITTED) {
      setRecordState(w, record, RECORD_LIVE);
    } else if (state === RECORD_SUPERSEDED) {
      setRecordState(w, record, RECORD_FREE);
      this.release(record);
    }
  }

  /** markSuperseded marks an indexed record RECORD_SUPERSEDED without touching the index (empty does that). */
  markSuperseded(record: number): number {
    this.checkLiveRecord(record);
    setRecordState(this.words, record, RECORD_SUPERSEDED);
    return record;
  }

  /** free frees an indexed record's chunk without touching the index (empty does that). */
  free(record: number): void {
    const span = this.checkLiveRecord(record);
    setRecordState(this.words, record, RECORD_FREE);
    this.heap.freeChunk(record, spanParam(this.words, span), span);
  }

  /** discard removes a record the transaction under way wrote (undo): its bucket is found from its key. */
  discard(record: number, key: KeyBuffer): void {
    key.setBytes(this.file.bytes, keyStart(record), keyLength(this.words, record));
    const bucket = this.find(key);
    if (bucket === 0 || this.recordIn(bucket) !== record) throw corrupt(`the record at ${hex(record)} is not in the index`);
    this.remove(bucket);
  }

  /**
   * empty takes every record out of the index at once: `each` sees every indexed record first (to free or
   * supersede it; it must not touch the index), then the old array is freed, the current one cleared and the
   * counts zeroed. O(buckets).
   */
  empty(each: (record: number) => void): void {
    const w = this.words;
    for (const [array, capacity] of indexArrays(w)) {
      for (let slot = 0; slot < capacity; slot++) {
        const record = bucketRecord(w, bucketAt(array, slot))!;
        if (record !== BUCKET_EMPTY && record !== BUCKET_MOVED) each(record);
      }
    }
    const old = this.header(Header.oldTableOffset);
    if (old !== 0) {
      const oldCapacity = this.header(Header.oldTableCapacity);
      this.setHeader(Header.oldTableOffset, 0);
      this.setHeader(Header.oldTableCapacity, 0);
      this.setHeader(Header.rehashIndex, 0);
      this.heap.freeSpan(old, slabsForTable(oldCapacity));
    }
    const table = this.header(Header.tableOffset);
    this.file.bytes.fill(0, bucketAt(table, 0), tableEnd(table, this.header(Header.tableCapacity)));
    this.setHeader(Header.recordCount, 0);
    this.setHeader(Header.expiringCount, 0);
    this.setHeader(Header.sweepIndex, 0);
  }

  /** isUncommitted: the record was written by the transaction under way (undone: removed with remove). */
  isUncommitted(record: number): boolean {
    return recordState(this.words, record) === RECORD_UNCOMMITTED;
  }

  /** remove deletes the record in a bucket that find returned, and empties the bucket. */
  remove(bucket: number): void {
    const record = this.recordIn(bucket);
    const span = this.checkLiveRecord(record);
    setRecordState(this.words, record, RECORD_FREE); // the record is gone from this store on
    this.unindex(bucket, record);
    this.heap.freeChunk(record, spanParam(this.words, span), span);
  }

  /** unindex empties a record's bucket, and uncounts it. */
  private unindex(bucket: number, record: number): void {
    const expiresAt = this.expiresAt(record);
    this.unplace(bucket);
    this.setHeader(Header.recordCount, this.recordCount - 1);
    if (expiresAt !== 0) {
      noteExpiringRemove(this.words, expiresAt);
      this.setHeader(Header.expiringCount, this.header(Header.expiringCount) - 1);
    }
    this.rehashStep(REHASH_STEP);
  }

  // ---- the index ----

  /** unplace empties a bucket: in the old array by marking it moved, in the current one by shifting back (buckets.ts). */
  private unplace(bucket: number): void {
    const old = this.header(Header.oldTableOffset);
    if (old !== 0 && bucket > old && bucket < tableEnd(old, this.header(Header.oldTableCapacity))) {
      markBucketMoved(this.words, bucket);
      return;
    }
    shiftOut(this.words, this.header(Header.tableOffset), this.header(Header.tableCapacity), bucket);
  }

  /** makeRoom doubles the index before one more record would pass the load limit, and tells whether it did. */
  private makeRoom(): boolean {
    const capacity = this.header(Header.tableCapacity);
    if (withinLoad(this.recordCount + 1, capacity)) return false;
    while (this.header(Header.oldTableOffset) !== 0) this.rehashStep(capacity);
    const table = this.allocTable(capacity * 2);
    this.setHeader(Header.oldTableOffset, this.header(Header.tableOffset));
    this.setHeader(Header.oldTableCapacity, capacity);
    this.setHeader(Header.rehashIndex, 0);
    this.setHeader(Header.tableOffset, table);
    this.setHeader(Header.tableCapacity, capacity * 2);
    this.setHeader(Header.sweepIndex, 0);
    return true;
  }

  /** rehashStep moves up to `count` buckets from the old array; the old array is freed after its last bucket. */
  private rehashStep(count: number): void {
    const old = this.header(Header.oldTableOffset);
    if (old === 0) return;
    const w = this.words;
    const oldCapacity = this.header(Header.oldTableCapacity);
    const table = this.header(Header.tableOffset);
    const capacity = this.header(Header.tableCapacity);
    let index = this.header(Header.rehashIndex);
    for (const end = Math.min(oldCapacity, index + count); index < end; index++) {
      const bucket = bucketAt(old, index);
      const record = bucketRecord(w, bucket)!;
      if (record !== BUCKET_EMPTY && record !== BUCKET_MOVED) {
        place(w, table, capacity, bucketHash(w, bucket), record);
        markBucketMoved(w, bucket);
      }
    }
    if (index < oldCapacity) {
      this.setHeader(Header.rehashIndex, index);
      return;
    }
    this.setHeader(Header.oldTableOffset, 0);
    this.setHeader(Header.oldTableCapacity, 0);
    this.setHeader(Header.rehashIndex, 0);
    this.heap.freeSpan(old, slabsForTable(oldCapacity));
  }
}
