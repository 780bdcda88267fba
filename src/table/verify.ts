/**
 * verify: a read-only check of every structure and checksum of an open store. It reports each problem as a
 * sentence and as a structure (what kind of problem, at which offset), and changes nothing. Transient memory: one bit per 8 bytes of heap, to see each record indexed exactly once.
 */
import {
  BUCKET_EMPTY, BUCKET_MOVED, CHUNK_SIZES, HEADER_SIZE, Header, RECORD_FREE, RECORD_LIVE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS,
  chunksPerSpan,
} from '../format/layout.js';
import { readExpiresAt, recordChecksum } from '../format/record.js';
import {
  bucketAt, bucketHash, bucketRecord, freeNext, keyLength, keyStart, recordState, recordStoredChecksum, slabFreeHead,
  slabLiveCount, slabNextPartial, slabPrevPartial, spanParam, valueLength,
} from '../format/fields.js';
import { hex } from '../format/header.js';
import { isExpired, isSoundRecord, recordBoundsProblem } from '../format/rules.js';
import { forEachChunk, spans, type SpanInfo } from './walk.js';
import { KeyBuffer } from './key-buffer.js';
import { indexArrays } from './buckets.js';
import type { Table } from './table.js';

const MAX_PROBLEMS = 100;

/** What a problem found by verify is about; its offset says where. */
export type VerifyProblemKind =
  | 'span-header' // a span header does not hold (offset: the span); the heap cannot be walked past it
  | 'damaged-record' // a live record's lengths or checksum fail (offset: the record); its key and value are lost
  | 'unindexed-record' // a sound live record that a lookup of its key does not reach (offset: the record)
  | 'span-count' // a span's live count or free list disagrees with its chunks (offset: the span)
  | 'header-count' // a count in the header disagrees with the slabs (offset: the header field)
  | 'list' // a partial list or the free span list reaches what does not belong on it, or loops (offset: that)
  | 'bucket' // a bucket points at no sound live record, holds another hash, repeats a record, or is a moved marker in the current array (offset: the bucket)
  | 'index-count' // the buckets in use are not one per record (offset: the header's tableOffset)
  | 'tail'; // a byte other than zero between heapEnd and fileSize (offset: the word)

export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** byte offset in the file of what the problem is about */
  offset: number;
  /** the problem as a sentence, as in VerifyReport.problems */
  message: string;
}

export interface VerifyReport {
  /** true when no problem was found */
  ok: boolean;
  /** live records that have not expired (when a damaged span header stops the walk: those a lookup still reads) */
  keys: number;
  /** live records, expired or not (counted the same way) */
  records: number;
  /** what is wrong, one sentence each (at most 100) */
  problems: string[];
  /** the same problems, in the same order, each with its kind and offset */
  details: VerifyProblem[];
}

export function verify(table: Table, nowMs: number, onProgress?: (done: number, total: number) => void): VerifyReport {
  const check = new Verification(table);
  const list = spans(table.file);
  if (!Array.isArray(list)) {
    check.problem('span-header', list.offset, list.problem); // without trustworthy span headers nothing further can be walked
    check.readableKeys(nowMs);
    return check.report();
  }
  check.spansAndRecords(list, nowMs, onProgress);
  check.counts();
  check.partialLists();
  check.freeSpanList(list);
  check.index();
  check.tail();
  return check.report();
}

/** One verification's findings, and its steps, each a structure of the file checked against the others. */
class Verification {
  readonly #problems: VerifyProblem[] = [];
  readonly #key = new KeyBuffer();
  #keys = 0;
  #records = 0;
  #expiring = 0;

  constructor(readonly table: Table) {}

  get #heapEnd(): number { return this.table.heap.header(Header.heapEnd); }

  problem(kind: VerifyProblemKind, offset: number, message: string): void {
    if (this.#problems.length < MAX_PROBLEMS) this.#problems.push({ kind, offset, message });
  }

  report(): VerifyReport {
    const problems = this.#problems.map((problem) => problem.message);
    return { ok: problems.length === 0, keys: this.#keys, records: this.#records, problems, details: this.#problems };
  }

  /**
   * spansAndRecords: every live record of every RECORDS span is sound and is found through the index; each span's
   * live count is its records', and its free list holds each of its free chunks once.
   */
  spansAndRecords(list: SpanInfo[], nowMs: number, onProgress?: (done: number, total: number) => void): void {
    const { file, heap } = this.table;
    const w = file.words;
    for (const [index, span] of list.entries()) {
      if (onProgress && index % 256 === 0) onProgress(index, list.length);
      if (span.kind !== SPAN_RECORDS) continue;
      let live = 0;
      forEachChunk(span, (chunk) => {
        const state = recordState(w, chunk);
        if (state !== RECORD_LIVE) {
          // verify runs between transactions: a record in state 2 or 3 is one a commit or an undo left unsettled
          if (state !== RECORD_FREE) this.problem('damaged-record', chunk, `chunk at ${hex(chunk)} is in state ${state} with no transaction under way`);
          return;
        }
        if (!isSoundRecord(w, file.bytes, chunk, span.offset, span.param)) { this.problem('damaged-record', chunk, `record at ${hex(chunk)} is damaged (lengths or checksum)`); return; }
        live++;
        const expiresAt = readExpiresAt(w, chunk);
        if (!isExpired(expiresAt, nowMs)) this.#keys++;
        if (expiresAt !== 0) this.#expiring++;
        this.#foundThroughIndex(chunk);
      });
      this.#records += live;
      if (slabLiveCount(w, span.offset) !== live) this.problem('span-count', span.offset, `span ${hex(span.offset)} counts ${slabLiveCount(w, span.offset)} live records; it holds ${live}`);
      let free = 0;
      const capacity = chunksPerSpan(span.param);
      for (let chunk = slabFreeHead(w, span.offset); chunk !== 0; chunk = freeNext(w, chunk)) {
        if (!heap.isChunkOf(span.offset, span.param, chunk) || recordState(w, chunk) === RECORD_LIVE || ++free > capacity) {
          this.problem('span-count', span.offset, `free list of span ${hex(span.offset)} reaches ${hex(chunk)}, not a free chunk of the span (or it loops)`);
          break;
        }
      }
      if (free + live !== capacity && this.#problems.length === 0) this.problem('span-count', span.offset, `span ${hex(span.offset)} has ${capacity - live} free chunks; its free list has ${free}`);
    }
  }

  #foundThroughIndex(record: number): void {
    const { file } = this.table;
    this.#key.setBytes(file.bytes, keyStart(record), keyLength(file.words, record));
    try {
      const bucket = this.table.find(this.#key);
      if (bucket === 0 || this.table.recordIn(bucket) !== record) this.problem('unindexed-record', record, `record at ${hex(record)} (key ${JSON.stringify(this.table.keyAt(record))}) is not found through the index`);
    } catch (error) {
      this.problem('unindexed-record', record, `looking up the key of ${hex(record)}: ${(error as Error).message}`);
    }
  }

  /** counts: the header's record counts are what the spans hold. */
  counts(): void {
    const heap = this.table.heap;
    if (heap.header(Header.recordCount) !== this.#records) this.problem('header-count', Header.recordCount, `header counts ${heap.header(Header.recordCount)} records; the slabs hold ${this.#records}`);
    if (heap.header(Header.expiringCount) !== this.#expiring) this.problem('header-count', Header.expiringCount, `header counts ${heap.header(Header.expiringCount)} records with an expiry time; the slabs hold ${this.#expiring}`);
  }

  /** partialLists: each a chain of spans of its class with a free chunk, linked both ways, without a loop. */
  partialLists(): void {
    const heap = this.table.heap;
    const w = this.table.file.words;
    const slabCount = (this.#heapEnd - HEADER_SIZE) / SLAB_SIZE;
    for (let c = 0; c < CHUNK_SIZES.length; c++) {
      let previous = 0;
      let steps = 0;
      for (let span = heap.partialHead(c); span !== 0; span = slabNextPartial(w, span)) {
        if (heap.classOfSpan(span) !== c || slabFreeHead(w, span) === 0 || slabPrevPartial(w, span) !== previous || ++steps > slabCount) {
          this.problem('list', span, `partial list of size class ${c} reaches ${hex(span)}, which does not belong on it (or it loops)`);
          break;
        }
        previous = span;
      }
    }
  }

  /** freeSpanList: every FREE span on the list once. */
  freeSpanList(list: SpanInfo[]): void {
    const heap = this.table.heap;
    const freeSpans = list.filter((span) => span.kind === SPAN_FREE).length;
    let listed = 0;
    for (let span = heap.header(Header.freeSpanHead); span !== 0; span = spanParam(this.table.file.words, span)) {
      // isFreeSpanLink stops a loop once the steps outnumber the heap's slabs; the count of FREE spans stops it sooner.
      if (!heap.isFreeSpanLink(span, listed + 1) || ++listed > freeSpans) {
        this.problem('list', span, `free span list reaches ${hex(span)}, not a free span (or it loops)`);
        break;
      }
    }
    if (listed !== freeSpans && this.#problems.length === 0) this.problem('list', Header.freeSpanHead, `the heap has ${freeSpans} free spans; the free span list has ${listed}`);
  }

  /**
   * index: every bucket in use points at a sound record, holds its key's hash, and no record is in it twice; only
   * the old array has moved buckets.
   */
  index(): void {
    const { file, heap } = this.table;
    const w = file.words;
    const indexed = new Uint8Array(Math.ceil((this.#heapEnd - HEADER_SIZE) / 64)); // a bit per 8 bytes: records met
    const current = heap.header(Header.tableOffset);
    let buckets = 0;
    for (const [offset, capacity] of indexArrays(w)) {
      for (let slot = 0; slot < capacity; slot++) {
        const bucket = bucketAt(offset, slot);
        const record = bucketRecord(w, bucket)!;
        if (record === BUCKET_MOVED && offset === current) this.problem('bucket', bucket, `bucket ${slot} of the current array ${hex(offset)} is marked moved`);
        if (record === BUCKET_EMPTY || record === BUCKET_MOVED) continue;
        buckets++;
        const span = heap.spanOfChunk(record);
        if (span === 0 || !isSoundRecord(w, file.bytes, record, span, spanParam(w, span))) { this.problem('bucket', bucket, `bucket ${slot} of ${hex(offset)} points at ${hex(record)}, not a sound live record`); continue; }
        this.#key.setBytes(file.bytes, keyStart(record), keyLength(w, record));
        if (this.#key.hash !== bucketHash(w, bucket)) this.problem('bucket', bucket, `bucket ${slot} of ${hex(offset)} holds a hash that is not its key's`);
        const byte = (record - HEADER_SIZE) >>> 6;
        const bit = 1 << (((record - HEADER_SIZE) >>> 3) & 7);
        if (indexed[byte]! & bit) this.problem('bucket', bucket, `record ${hex(record)} is in the index twice`);
        indexed[byte] = indexed[byte]! | bit;
      }
    }
    if (buckets !== this.#records && this.#problems.length === 0) this.problem('index-count', Header.tableOffset, `the index has ${buckets} buckets in use for ${this.#records} records`);
  }

  /**
   * readableKeys counts, when the spans cannot be walked, the records a lookup still reads: those the index reaches
   * that lie within the heap, are live and whose checksum holds, each once. Without it, keys read 0 while keys
   * still read.
   */
  readableKeys(nowMs: number): void {
    const { file, heap } = this.table;
    const w = file.words;
    const heapEnd = heap.header(Header.heapEnd);
    const counted = new Uint8Array(Math.ceil((heapEnd - HEADER_SIZE) / 64)); // a bit per 8 bytes, as index() keeps
    for (const [offset, capacity] of indexArrays(w)) {
      for (let slot = 0; slot < capacity; slot++) {
        const record = bucketRecord(w, bucketAt(offset, slot));
        if (record === undefined || record === BUCKET_EMPTY || record === BUCKET_MOVED) continue;
        if (recordBoundsProblem(w, record, heapEnd) !== null || recordState(w, record) !== RECORD_LIVE) continue;
        if (recordStoredChecksum(w, record) !== recordChecksum(file.bytes, record, keyLength(w, record), valueLength(w, record), w)) continue;
        const byte = (record - HEADER_SIZE) >>> 6;
        const bit = 1 << (((record - HEADER_SIZE) >>> 3) & 7);
        if (counted[byte]! & bit) continue;
        counted[byte] = counted[byte]! | bit;
        this.#records++;
        if (!isExpired(readExpiresAt(w, record), nowMs)) this.#keys++;
      }
    }
  }

  /** tail: the bytes from heapEnd to fileSize are zero, as a writer taking space there counts on (spec section 8). */
  tail(): void {
    const w = this.table.file.words;
    const end = this.table.heap.header(Header.fileSize) >>> 2;
    for (let i = this.#heapEnd >>> 2; i < end; i++) {
      if (w[i] !== 0) {
        this.problem('tail', i * 4, `the unused tail is not zero: the word at ${hex(i * 4)}, past heapEnd ${this.#heapEnd}, is ${hex(w[i]!)}`);
        return;
      }
    }
  }
}
