/**
 * verify: a read-only check of every structure and checksum of an open store. It reports problems as sentences
 * and changes nothing. Transient memory: one bit per 8 bytes of heap, to see each record indexed exactly once.
 */
import {
  BUCKET_EMPTY, BUCKET_MOVED, CHUNK_SIZES, HEADER_SIZE, Header, RECORD_LIVE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS,
  chunksPerSpan,
} from '../format/layout.js';
import { keyHash, readExpiresAt } from '../format/record.js';
import {
  bucketAt, bucketHash, bucketRecord, freeNext, keyLength, keyStart, recordState, slabFreeHead, slabLiveCount,
  slabNextPartial, slabPrevPartial, spanKind, spanParam,
} from '../format/fields.js';
import { hex } from '../format/header.js';
import { forEachChunk, recordIsSound, spans } from './walk.js';
import { KeyBuffer } from './key-buffer.js';
import type { Table } from './table.js';

const MAX_PROBLEMS = 100;

export interface VerifyReport {
  /** true when no problem was found */
  ok: boolean;
  /** live records that have not expired */
  keys: number;
  /** live records, expired or not */
  records: number;
  /** what is wrong, one sentence each (at most 100) */
  problems: string[];
}

export function verify(table: Table, nowMs: number, onProgress?: (done: number, total: number) => void): VerifyReport {
  const file = table.file;
  const heap = table.heap;
  const w = file.words;
  const problems: string[] = [];
  const problem = (text: string): void => { if (problems.length < MAX_PROBLEMS) problems.push(text); };
  const report = (): VerifyReport => ({ ok: problems.length === 0, keys, records, problems });
  let keys = 0;
  let records = 0;
  let expiring = 0;
  const key = new KeyBuffer();

  const list = spans(file);
  if (typeof list === 'string') { problem(list); return report(); }
  const heapEnd = heap.header(Header.heapEnd);
  const indexed = new Uint8Array(Math.ceil((heapEnd - HEADER_SIZE) / 64)); // one bit per 8-byte unit
  const bit = (offset: number): [number, number] => [(offset - HEADER_SIZE) >>> 6, 1 << (((offset - HEADER_SIZE) >>> 3) & 7)];

  // Records, slab by slab: soundness, the slab's own free list and live count.
  let freeSpans = 0;
  for (const [index, span] of list.entries()) {
    if (onProgress && index % 256 === 0) onProgress(index, list.length);
    if (span.kind === SPAN_FREE) freeSpans++;
    if (span.kind !== SPAN_RECORDS) continue;
    let live = 0;
    forEachChunk(span, (chunk) => {
      if (recordState(w, chunk) !== RECORD_LIVE) return;
      if (!recordIsSound(file, chunk, span.offset, span.param)) { problem(`record at ${hex(chunk)} is damaged (lengths or checksum)`); return; }
      live++;
      const expiresAt = readExpiresAt(w, chunk);
      if (expiresAt === 0 || expiresAt > nowMs) keys++;
      if (expiresAt !== 0) expiring++;
      key.setBytes(file.bytes, keyStart(chunk), keyLength(w, chunk));
      try {
        const bucket = table.find(key);
        if (bucket === 0 || table.recordIn(bucket) !== chunk) problem(`record at ${hex(chunk)} (key ${JSON.stringify(table.keyAt(chunk))}) is not found through the index`);
      } catch (error) {
        problem(`looking up the key of ${hex(chunk)}: ${(error as Error).message}`);
      }
    });
    records += live;
    if (slabLiveCount(w, span.offset) !== live) problem(`span ${hex(span.offset)} counts ${slabLiveCount(w, span.offset)} live records; it holds ${live}`);
    let free = 0;
    const capacity = chunksPerSpan(span.param);
    for (let chunk = slabFreeHead(w, span.offset); chunk !== 0; chunk = freeNext(w, chunk)) {
      if (!heap.isChunkOf(span.offset, span.param, chunk) || recordState(w, chunk) === RECORD_LIVE || ++free > capacity) {
        problem(`free list of span ${hex(span.offset)} reaches ${hex(chunk)}, not a free chunk of the span (or it loops)`);
        break;
      }
    }
    if (free + live !== capacity && problems.length === 0) problem(`span ${hex(span.offset)} has ${capacity - live} free chunks; its free list has ${free}`);
  }
  if (heap.header(Header.recordCount) !== records) problem(`header counts ${heap.header(Header.recordCount)} records; the slabs hold ${records}`);
  if (heap.header(Header.expiringCount) !== expiring) problem(`header counts ${heap.header(Header.expiringCount)} records with an expiry time; the slabs hold ${expiring}`);

  // Partial lists: each a chain of slabs of its class with a free chunk, linked both ways.
  const slabCount = (heapEnd - HEADER_SIZE) / SLAB_SIZE;
  for (let c = 0; c < CHUNK_SIZES.length; c++) {
    let previous = 0;
    let steps = 0;
    for (let slab = heap.partialHead(c); slab !== 0; slab = slabNextPartial(w, slab)) {
      if (heap.classOfSpan(slab) !== c || slabFreeHead(w, slab) === 0 || slabPrevPartial(w, slab) !== previous || ++steps > slabCount) {
        problem(`partial list of size class ${c} reaches ${hex(slab)}, which does not belong on it (or it loops)`);
        break;
      }
      previous = slab;
    }
  }

  // Free span list: every FREE span once.
  let listed = 0;
  for (let span = heap.header(Header.freeSpanHead); span !== 0; span = spanParam(w, span)) {
    if (span < HEADER_SIZE || span >= heapEnd || (span - HEADER_SIZE) % SLAB_SIZE !== 0 || spanKind(w, span) !== SPAN_FREE || ++listed > freeSpans) {
      problem(`free span list reaches ${hex(span)}, not a free span (or it loops)`);
      break;
    }
  }
  if (listed !== freeSpans && problems.length === 0) problem(`the heap has ${freeSpans} free spans; the free span list has ${listed}`);

  // The index: every bucket points at a sound live record with the key's hash, each record once.
  let buckets = 0;
  const arrays: Array<[number, number]> = [[heap.header(Header.tableOffset), heap.header(Header.tableCapacity)]];
  if (heap.header(Header.oldTableOffset) !== 0) arrays.push([heap.header(Header.oldTableOffset), heap.header(Header.oldTableCapacity)]);
  for (const [offset, capacity] of arrays) {
    for (let slot = 0; slot < capacity; slot++) {
      const bucket = bucketAt(offset, slot);
      const record = bucketRecord(w, bucket)!;
      if (record === BUCKET_EMPTY || record === BUCKET_MOVED) continue;
      buckets++;
      const span = heap.spanOfChunk(record);
      if (span === 0 || !recordIsSound(file, record, span, spanParam(w, span))) { problem(`bucket ${slot} of ${hex(offset)} points at ${hex(record)}, not a sound live record`); continue; }
      const length = keyLength(w, record);
      if (keyHash(file.bytes.subarray(keyStart(record), keyStart(record) + length), length) !== bucketHash(w, bucket)) {
        problem(`bucket ${slot} of ${hex(offset)} holds a hash that is not its key's`);
      }
      const [byte, mask] = bit(record);
      if (indexed[byte]! & mask) problem(`record ${hex(record)} is in the index twice`);
      indexed[byte] = indexed[byte]! | mask;
    }
  }
  if (buckets !== records && problems.length === 0) problem(`the index has ${buckets} buckets in use for ${records} records`);
  return report();
}
