/**
 * Field access: the one place that reads and writes each field of the header, a span header, a RECORDS span's
 * allocation state, a record and a bucket, and that turns an index (class, chunk, bucket slot) into a byte offset.
 * Nothing above src/format adds a field offset to a position by hand.
 *
 * Plain functions over the file's u32 view (`words`), taking byte offsets: the hot path calls them once per field,
 * so they allocate nothing and stay small enough for V8 to inline. Every field is a u32 at a 4-aligned offset, except
 * a record's keyLength and slabIndex, the two u16 halves of one word (read together, written together).
 */
import {
  BUCKET_EMPTY, BUCKET_MOVED, BUCKET_SIZE, Bucket, CHUNK_SIZES, CLASS_ENTRY_SIZE, ClassEntry, Free, HEADER_SIZE, Header, MAX_LOAD_DENOMINATOR,
  MAX_LOAD_NUMERATOR, MIN_TABLE_CAPACITY, RECORD_HEADER_SIZE, Record, SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_HEADER_SIZE,
  Slab, Span,
} from './layout.js';
import { spanChecksum } from './record.js';

/** wordOf is the index in the u32 view of the field at a byte offset: for Atomics, which take word indexes. */
export function wordOf(offset: number): number {
  return offset >>> 2;
}

/** wordsOf views bytes (4-aligned, as a mapping and Buffer.alloc are) as u32 words, to read them with these accessors. */
export function wordsOf(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

// ---- header ----

/** headerField reads a u32 header field; field is one of the Header offsets. */
export function headerField(words: Uint32Array, field: number): number {
  return words[field >>> 2]!;
}

export function setHeaderField(words: Uint32Array, field: number, value: number): void {
  words[field >>> 2] = value;
}

/** headerU64 reads a u64 header field (a whole number of ms: below 2^53) as two little-endian u32 words. */
export function headerU64(words: Uint32Array, field: number): number {
  return words[(field + 4) >>> 2]! * 2 ** 32 + words[field >>> 2]!;
}

export function setHeaderU64(words: Uint32Array, field: number, value: number): void {
  words[field >>> 2] = value % 2 ** 32;
  words[(field + 4) >>> 2] = Math.floor(value / 2 ** 32);
}

/** classEntryAt is the byte offset of a size class's entry in the header's class table. */
export function classEntryAt(sizeClass: number): number {
  return Header.classTable + sizeClass * CLASS_ENTRY_SIZE;
}

/** partialHead is the first RECORDS span of the class with a free chunk, or 0. */
export function partialHead(words: Uint32Array, sizeClass: number): number {
  return words[(classEntryAt(sizeClass) + ClassEntry.partialHead) >>> 2]!;
}

export function setPartialHead(words: Uint32Array, sizeClass: number, span: number): void {
  words[(classEntryAt(sizeClass) + ClassEntry.partialHead) >>> 2] = span;
}

/** classChunkSize is the chunk size the class table gives a size class (fixed by the format: CHUNK_SIZES). */
export function classChunkSize(words: Uint32Array, sizeClass: number): number {
  return words[(classEntryAt(sizeClass) + ClassEntry.chunkSize) >>> 2]!;
}

/** classSpanSlabs is the span length the class table gives a size class (fixed by the format: SPAN_SLABS). */
export function classSpanSlabs(words: Uint32Array, sizeClass: number): number {
  return words[(classEntryAt(sizeClass) + ClassEntry.spanSlabs) >>> 2]!;
}

// ---- spans ----

/** slabStart is the start of the slab that holds offset (an offset in the heap). */
export function slabStart(offset: number): number {
  return HEADER_SIZE + Math.floor((offset - HEADER_SIZE) / SLAB_SIZE) * SLAB_SIZE;
}

export function spanKind(words: Uint32Array, span: number): number {
  return words[(span + Span.kind) >>> 2]!;
}

export function spanSlabCount(words: Uint32Array, span: number): number {
  return words[(span + Span.slabCount) >>> 2]!;
}

/** spanParam: a RECORDS span's size class, a TABLE span's bucket capacity, a FREE span's next free span or 0. */
export function spanParam(words: Uint32Array, span: number): number {
  return words[(span + Span.param) >>> 2]!;
}

/** spanStoredChecksum is the checksum written in the span header (spanChecksum computes the one it should be). */
export function spanStoredChecksum(words: Uint32Array, span: number): number {
  return words[(span + Span.checksum) >>> 2]!;
}

/** writeSpanHeader writes a whole span header, its checksum last. */
export function writeSpanHeader(words: Uint32Array, bytes: Uint8Array, span: number, kind: number, slabCount: number, param: number): void {
  words[(span + Span.kind) >>> 2] = kind;
  words[(span + Span.slabCount) >>> 2] = slabCount;
  words[(span + Span.param) >>> 2] = param;
  words[(span + Span.checksum) >>> 2] = spanChecksum(bytes, span);
}

// ---- RECORDS span allocation state (the "slab header" after the span header) ----

export function slabLiveCount(words: Uint32Array, span: number): number {
  return words[(span + Slab.liveCount) >>> 2]!;
}

export function setSlabLiveCount(words: Uint32Array, span: number, live: number): void {
  words[(span + Slab.liveCount) >>> 2] = live;
}

/** slabFreeHead is the span's first free chunk, or 0 when the span is full. */
export function slabFreeHead(words: Uint32Array, span: number): number {
  return words[(span + Slab.freeHead) >>> 2]!;
}

export function setSlabFreeHead(words: Uint32Array, span: number, chunk: number): void {
  words[(span + Slab.freeHead) >>> 2] = chunk;
}

export function slabNextPartial(words: Uint32Array, span: number): number {
  return words[(span + Slab.nextPartial) >>> 2]!;
}

export function setSlabNextPartial(words: Uint32Array, span: number, next: number): void {
  words[(span + Slab.nextPartial) >>> 2] = next;
}

export function slabPrevPartial(words: Uint32Array, span: number): number {
  return words[(span + Slab.prevPartial) >>> 2]!;
}

export function setSlabPrevPartial(words: Uint32Array, span: number, previous: number): void {
  words[(span + Slab.prevPartial) >>> 2] = previous;
}

/** chunkAt is the offset of chunk `index` of a RECORDS span of the size class: chunks follow the slab header. */
export function chunkAt(span: number, sizeClass: number, index: number): number {
  return span + SLAB_HEADER_SIZE + index * CHUNK_SIZES[sizeClass]!;
}

/** chunkIndex is which chunk of the span starts at offset: an integer only when one does. */
export function chunkIndex(span: number, sizeClass: number, offset: number): number {
  return (offset - span - SLAB_HEADER_SIZE) / CHUNK_SIZES[sizeClass]!;
}

// ---- records ----

/** recordState: RECORD_LIVE or RECORD_FREE. One aligned store makes a record live or free (table.ts). */
export function recordState(words: Uint32Array, record: number): number {
  return words[(record + Record.state) >>> 2]!;
}

export function setRecordState(words: Uint32Array, record: number, state: number): void {
  words[(record + Record.state) >>> 2] = state;
}

/** recordStoredChecksum is the checksum written in a live record (recordChecksum computes the one it should be). */
export function recordStoredChecksum(words: Uint32Array, record: number): number {
  return words[(record + Record.checksum) >>> 2]!;
}

export function setRecordStoredChecksum(words: Uint32Array, record: number, checksum: number): void {
  words[(record + Record.checksum) >>> 2] = checksum;
}

/** freeNext is the next free chunk of the span after a free chunk, or 0 (the field a live record uses for its checksum). */
export function freeNext(words: Uint32Array, chunk: number): number {
  return words[(chunk + Free.next) >>> 2]!;
}

export function setFreeNext(words: Uint32Array, chunk: number, next: number): void {
  words[(chunk + Free.next) >>> 2] = next;
}

/** keyLength is the u16 low half of the word it shares with slabIndex. */
export function keyLength(words: Uint32Array, record: number): number {
  return words[(record + Record.keyLength) >>> 2]! & 0xffff;
}

/** slabIndex is the u16 high half: which slab of its span holds the record's first byte. */
export function slabIndex(words: Uint32Array, record: number): number {
  return words[(record + Record.keyLength) >>> 2]! >>> 16; // Record.slabIndex is keyLength + 2
}

export function valueLength(words: Uint32Array, record: number): number {
  return words[(record + Record.valueLength) >>> 2]!;
}

/** setRecordLengths writes keyLength and slabIndex (one word) and valueLength. */
export function setRecordLengths(words: Uint32Array, record: number, keyLength: number, slabIndex: number, valueLength: number): void {
  words[(record + Record.keyLength) >>> 2] = keyLength | (slabIndex << 16);
  words[(record + Record.valueLength) >>> 2] = valueLength;
}

/** keyStart is the offset of a record's key bytes; its value follows them. */
export function keyStart(record: number): number {
  return record + RECORD_HEADER_SIZE;
}

/**
 * keyEquals tells whether a record's key is the `length` bytes held in keyWords, comparing a word at a time: a key
 * starts 8-aligned, and its last word, masked to the key's last bytes (little-endian: the first bytes are the low
 * ones), lies within the record's chunk. keyWords' bytes past `length` may be anything.
 */
export function keyEquals(words: Uint32Array, record: number, keyWords: Uint32Array, length: number): boolean {
  if (keyLength(words, record) !== length) return false;
  const at = keyStart(record) >>> 2;
  const whole = length >>> 2;
  for (let i = 0; i < whole; i++) if (words[at + i] !== keyWords[i]) return false;
  const rest = length & 3;
  return rest === 0 || ((words[at + whole]! ^ keyWords[whole]!) & ((1 << (rest * 8)) - 1)) === 0;
}

export function valueStart(words: Uint32Array, record: number): number {
  return record + RECORD_HEADER_SIZE + keyLength(words, record);
}

/** recordSize is the bytes a record of these lengths takes: what its chunk must hold. */
export function recordSize(keyLength: number, valueLength: number): number {
  return RECORD_HEADER_SIZE + keyLength + valueLength;
}

// ---- buckets ----

/** bucketAt is the byte offset of bucket `slot` of the bucket array in the TABLE span at `table`. */
export function bucketAt(table: number, slot: number): number {
  return table + SPAN_HEADER_SIZE + slot * BUCKET_SIZE;
}

/** bucketSlot is which slot of the array at `table` the bucket at byte offset `bucket` is. */
export function bucketSlot(table: number, bucket: number): number {
  return (bucket - table - SPAN_HEADER_SIZE) / BUCKET_SIZE;
}

/** tableEnd is the end of the bucket array of `capacity` buckets in the TABLE span at `table`. */
export function tableEnd(table: number, capacity: number): number {
  return table + SPAN_HEADER_SIZE + capacity * BUCKET_SIZE;
}

/**
 * bucketRecord is the record a bucket points at, or BUCKET_EMPTY, or (old array) BUCKET_MOVED; undefined past the
 * end of the view (a damaged header can point there).
 */
export function bucketRecord(words: Uint32Array, bucket: number): number | undefined {
  return words[(bucket + Bucket.recordOffset) >>> 2];
}

export function bucketHash(words: Uint32Array, bucket: number): number {
  return words[(bucket + Bucket.hash) >>> 2]!;
}

/** setBucket fills a bucket: the hash first, then the record, whose store makes the bucket used. */
export function setBucket(words: Uint32Array, bucket: number, record: number, hash: number): void {
  words[(bucket + Bucket.hash) >>> 2] = hash;
  words[(bucket + Bucket.recordOffset) >>> 2] = record;
}

/** markBucketMoved marks an old-array bucket moved (or deleted) so that probes go on past it; its hash stays. */
export function markBucketMoved(words: Uint32Array, bucket: number): void {
  words[(bucket + Bucket.recordOffset) >>> 2] = BUCKET_MOVED;
}

/** clearBucket empties a bucket of the current array: the record first, then the hash (an empty bucket is all zero). */
export function clearBucket(words: Uint32Array, bucket: number): void {
  words[(bucket + Bucket.recordOffset) >>> 2] = BUCKET_EMPTY;
  words[(bucket + Bucket.hash) >>> 2] = 0;
}

// ---- load factor ----

/** withinLoad tells whether `records` fit a bucket array of `capacity` without passing the 3/4 load limit. */
export function withinLoad(records: number, capacity: number): boolean {
  return records * MAX_LOAD_DENOMINATOR <= capacity * MAX_LOAD_NUMERATOR;
}

/** capacityFor is the smallest bucket capacity (a power of two, at least the minimum) that holds `records`. */
export function capacityFor(records: number): number {
  let capacity = MIN_TABLE_CAPACITY;
  while (!withinLoad(records, capacity)) capacity *= 2;
  return capacity;
}
