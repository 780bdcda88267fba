/**
 * rebuild: recovery after an unclean shutdown. Records are the truth; everything else is derived from them and
 * rebuilt: each slab's free list and live count, the partial lists, the free span list, the bucket array and the
 * record counts.
 *
 * It walks the span headers first, without writing. A span header that does not hold (power loss can leave the
 * header page of a new span unwritten, or torn) is not trusted for a length: a span whose header is bad is read as
 * a RECORDS span of the size class under which most of its chunks are sound records (its header is then
 * rewritten), or, when there is none, its first slab becomes free space and the walk goes on at the next. Then it drops live records
 * whose checksums fail (torn writes), reclaims expired ones, and indexes the rest. Two passes over the records,
 * no per-key JavaScript objects.
 */
import {
  CHUNK_SIZES, COMMIT_DONE, COMMIT_NONE, HEADER_SIZE, Header, MAX_FILE_SIZE, RECORD_FREE, RECORD_LIVE, SLAB_SIZE,
  SPAN_FREE, SPAN_RECORDS, SPAN_SLABS,
} from '../format/layout.js';
import { readExpiresAt } from '../format/record.js';
import { isHeapEnd } from '../format/header.js';
import {
  capacityFor, keyLength, keyStart, recordState, setFreeNext, setRecordState, setSlabFreeHead, setSlabLiveCount,
  setSlabNextPartial, setSlabPrevPartial, spanParam,
} from '../format/fields.js';
import { corrupt } from '../errors.js';
import { isExpired, isLiveState, isSoundRecord } from '../format/rules.js';
import { forEachChunk, readSpan, type SpanInfo } from './walk.js';
import { KeyBuffer } from './key-buffer.js';
import { place } from './buckets.js';
import { forgetExpiredCount } from './expiry.js';
import type { Region } from './region.js';
import type { Table } from './table.js';

export interface RecoveryReport {
  /** live records indexed */
  records: number;
  /** live records dropped because their bytes failed the checksum or their lengths were out of range */
  dropped: number;
  /** expired records whose space was reclaimed */
  expired: number;
  /** later copies of a key found twice (kept: the first in file order) */
  duplicates: number;
  /** spans with a damaged span header whose records were read under their inferred size class */
  repairedSlabs: number;
  /** slabs with a damaged span header and no sound record under any class, made free space */
  unreadableSlabs: number;
  /** milliseconds the rebuild took */
  ms: number;
}

/**
 * salvageSpans lists the spans that start below walkTo, reading spans with a bad header as described above. A span
 * whose header does not hold is read, from its first slab, as a RECORDS span of the class under which most of its
 * chunks are sound records (each record's slabIndex must agree with where it lies), among the classes whose later
 * slabs in the file hold no span header that holds. A span may end past walkTo (its later slabs zeros: lost pages,
 * or never written), and a RECORDS span past the end of the file (the file was cut short, or lost its last growth:
 * a span header that holds is the writer's, and the file is lengthened to fit it; the chunks of a salvaged span are
 * counted only where they lie in the file); the heap then ends where it does. Other spans are cut at the end of the
 * file: their content is not kept. Read-only.
 */
function salvageSpans(file: Region, walkTo: number, fileSize: number, report: RecoveryReport): SpanInfo[] {
  const w = file.words;
  const list: SpanInfo[] = [];
  for (let offset = HEADER_SIZE; offset < walkTo;) {
    const span = readSpan(file, offset, MAX_FILE_SIZE); // holds by its checksum, wherever it ends
    if (span) {
      if (span.kind !== SPAN_RECORDS) span.slabCount = Math.min(span.slabCount, (fileSize - offset) / SLAB_SIZE);
      list.push(span);
      offset += span.slabCount * SLAB_SIZE;
      continue;
    }
    let best = -1;
    let bestCount = 0;
    for (let c = 0; c < CHUNK_SIZES.length; c++) {
      const slabs = SPAN_SLABS[c]!;
      if (offset + slabs * SLAB_SIZE > MAX_FILE_SIZE) continue;
      let inside = false;
      for (let k = 1; k < slabs && offset + k * SLAB_SIZE < fileSize && !inside; k++) {
        inside = readSpan(file, offset + k * SLAB_SIZE, MAX_FILE_SIZE) !== null;
      }
      if (inside) continue;
      let count = 0;
      forEachChunk({ offset, kind: SPAN_RECORDS, slabCount: slabs, param: c }, (chunk) => {
        if (chunk + CHUNK_SIZES[c]! <= fileSize && isSoundRecord(w, file.bytes, chunk, offset, c)) count++;
      });
      if (count > bestCount) { best = c; bestCount = count; }
    }
    if (best >= 0) report.repairedSlabs++;
    else report.unreadableSlabs++;
    const slabs = best >= 0 ? SPAN_SLABS[best]! : 1;
    list.push(best >= 0 ? { offset, kind: SPAN_RECORDS, slabCount: slabs, param: best } : { offset, kind: SPAN_FREE, slabCount: 1, param: 0 });
    offset += slabs * SLAB_SIZE;
  }
  return list;
}

export function rebuild(table: Table, nowMs: number, fileSize: number): RecoveryReport {
  const started = performance.now();
  const walkTo = Math.max(checkHeapEnd(table, fileSize), dataEnd(table.file, fileSize));
  const report: RecoveryReport = { records: 0, dropped: 0, expired: 0, duplicates: 0, repairedSlabs: 0, unreadableSlabs: 0, ms: 0 };
  const list = salvageSpans(table.file, walkTo, fileSize, report); // read-only: a refused file is left as it was
  const last = list[list.length - 1];
  const heapEnd = last === undefined ? walkTo : Math.max(walkTo, last.offset + last.slabCount * SLAB_SIZE);
  resetDerivedState(table, list, heapEnd, fileSize); // from here on the file is changed, under busy = 1
  const expiring = rebuildSpans(table, list, nowMs, report);
  table.heap.setHeader(Header.commit, COMMIT_NONE); // every record of the transaction under way is settled now
  indexRecords(table, list, expiring, report);
  table.heap.releaseFreeSpans(); // spans freed before the crash, and those merged here
  report.ms = performance.now() - started;
  return report;
}

/**
 * dataEnd is the end of the last slab below fileSize that holds a byte other than zero (HEADER_SIZE if none). A
 * rebuild walks at least that far: past heapEnd lie zeros in a sound file, so a byte there is a record a lost
 * session left (its data pages reached the disk, its header page did not) or a sign that heapEnd is damaged, and
 * either way a sound record there is kept. Read-only.
 */
function dataEnd(file: Region, fileSize: number): number {
  let end = fileSize;
  while (end > HEADER_SIZE && isZero(file.words, end - SLAB_SIZE, end)) end -= SLAB_SIZE;
  return end;
}

/** isZero: every byte in [start, end) is zero (both multiples of 4). */
function isZero(words: Uint32Array, start: number, end: number): boolean {
  for (let i = start >>> 2; i < end >>> 2; i++) if (words[i] !== 0) return false;
  return true;
}

/** checkHeapEnd refuses a file whose heapEnd is not a slab boundary inside it: nothing could be walked. */
function checkHeapEnd(table: Table, fileSize: number): number {
  const heapEnd = table.heap.header(Header.heapEnd);
  if (!isHeapEnd(heapEnd, fileSize)) {
    throw corrupt(`recovery refused: heapEnd ${heapEnd} is not a slab boundary inside the ${fileSize}-byte file`);
  }
  return heapEnd;
}

/**
 * resetDerivedState marks the file busy (a crash while it is changed leaves it to be rebuilt again; the caller
 * clears busy once the rebuilt store is in use), clears the tail past heapEnd, rewrites the RECORDS span headers
 * the salvage decided on, and empties every list and the rehash state, which the passes below build anew.
 */
function resetDerivedState(table: Table, list: SpanInfo[], heapEnd: number, fileSize: number): void {
  const { file, heap } = table;
  heap.setHeader(Header.busy, 1);
  heap.setHeader(Header.fileSize, fileSize);
  if (heapEnd > fileSize) file.growTo(heapEnd); // a RECORDS span the file was cut through: its length back, in zeros
  heap.setHeader(Header.heapEnd, heapEnd); // raised to dataEnd, if it was below
  // Past heapEnd (raised to dataEnd) every byte is zero, as allocTable counts on: the blocks are given back.
  if (fileSize > heapEnd) file.release(heapEnd, fileSize - heapEnd);
  for (const span of list) if (span.kind === SPAN_RECORDS) heap.writeSpanHeader(span.offset, SPAN_RECORDS, span.slabCount, span.param);
  for (let c = 0; c < CHUNK_SIZES.length; c++) heap.setPartialHead(c, 0);
  heap.setHeader(Header.freeSpanHead, 0);
  heap.setHeader(Header.oldTableOffset, 0);
  heap.setHeader(Header.oldTableCapacity, 0);
  heap.setHeader(Header.rehashIndex, 0);
  heap.setHeader(Header.sweepIndex, 0);
}

/**
 * rebuildSpans is the first pass: each RECORDS span keeps its sound, unexpired records, and gets its free list,
 * live count and partial link anew; bucket arrays, FREE spans and spans left empty become free space, merged
 * where they touch. Returns how many kept records have an expiry time.
 */
function rebuildSpans(table: Table, list: SpanInfo[], nowMs: number, report: RecoveryReport): number {
  const freeSpace = freeSpaceMerger(table);
  const committed = table.heap.header(Header.commit) === COMMIT_DONE;
  let expiring = 0;
  for (const span of list) {
    if (span.kind === SPAN_RECORDS) {
      const kept = rebuildRecordsSpan(table, span, nowMs, committed, report);
      report.records += kept.live;
      expiring += kept.expiring;
      if (kept.live > 0) continue;
      span.kind = SPAN_FREE; // pass 2 skips it
    }
    freeSpace(span.offset, span.slabCount);
  }
  return expiring;
}

/** freeSpaceMerger returns a function that frees spans in file order, merging each into the one before it when they touch. */
function freeSpaceMerger(table: Table): (offset: number, slabCount: number) => void {
  const { file, heap } = table;
  let lastFree = 0;
  let lastFreeSlabs = 0;
  return (offset, slabCount) => {
    if (lastFree !== 0 && lastFree + lastFreeSlabs * SLAB_SIZE === offset) {
      // lastFree is the head of the free span list: take it off, and put it back larger.
      heap.setHeader(Header.freeSpanHead, spanParam(file.words, lastFree));
      lastFreeSlabs += slabCount;
    } else {
      lastFree = offset;
      lastFreeSlabs = slabCount;
    }
    heap.linkFreeSpan(lastFree, lastFreeSlabs); // merged here already, in one pass: freeSpan's walk would make it O(n²)
  };
}

/**
 * rebuildRecordsSpan keeps a RECORDS span's sound, unexpired records, frees every other chunk (dropping damaged
 * records, reclaiming expired ones) and writes the span's allocation state. A record of the transaction that was
 * under way is settled first: made live or free as the header's commit field says (isLiveState), so that the
 * transaction is kept whole or undone whole. Returns the records kept.
 */
function rebuildRecordsSpan(table: Table, span: SpanInfo, nowMs: number, committed: boolean, report: RecoveryReport): { live: number; expiring: number } {
  const { file, heap } = table;
  // Its pages are rewritten below. After power loss a span whose blocks were given back can come back under an
  // old RECORDS header: its blocks first, so that a full disk is an IO_ERROR here and never a SIGBUS.
  file.reserve(span.offset, span.slabCount * SLAB_SIZE);
  const w = file.words;
  let live = 0;
  let expiring = 0;
  let freeHead = 0;
  forEachChunk(span, (chunk) => {
    const state = recordState(w, chunk);
    if (state !== RECORD_LIVE && state !== RECORD_FREE) setRecordState(w, chunk, isLiveState(state, committed) ? RECORD_LIVE : RECORD_FREE);
    if (isSoundRecord(w, file.bytes, chunk, span.offset, span.param)) {
      const expiresAt = readExpiresAt(w, chunk);
      if (!isExpired(expiresAt, nowMs)) { live++; if (expiresAt !== 0) expiring++; return; }
      report.expired++;
    } else if (recordState(w, chunk) === RECORD_LIVE) {
      report.dropped++;
    }
    setRecordState(w, chunk, RECORD_FREE);
    setFreeNext(w, chunk, freeHead); // the span's free list comes out in descending order; any order is valid
    freeHead = chunk;
  });
  if (live === 0) return { live, expiring };
  setSlabLiveCount(w, span.offset, live);
  setSlabFreeHead(w, span.offset, freeHead);
  setSlabNextPartial(w, span.offset, 0);
  setSlabPrevPartial(w, span.offset, 0);
  if (freeHead !== 0) heap.linkPartial(span.offset, span.param);
  return { live, expiring };
}

/**
 * indexRecords is the second pass: a fresh bucket array sized for the records kept, and every record in it. Of
 * two records of one key (power loss can lose the page that freed a record while its successor's page reached the
 * disk), the first in file order is kept and the other freed. Sets the header's counts.
 */
function indexRecords(table: Table, list: SpanInfo[], expiring: number, report: RecoveryReport): void {
  const { file, heap } = table;
  heap.setHeader(Header.recordCount, 0);
  heap.setHeader(Header.expiringCount, 0);
  table.createIndex(capacityFor(report.records));
  const w = file.words; // createIndex may have grown the file, and so mapped it again
  const key = new KeyBuffer();
  for (const span of list) {
    if (span.kind !== SPAN_RECORDS) continue;
    forEachChunk(span, (chunk) => {
      if (recordState(w, chunk) !== RECORD_LIVE) return;
      key.setBytes(file.bytes, keyStart(chunk), keyLength(w, chunk));
      if (table.find(key) !== 0) {
        report.duplicates++;
        report.records--;
        if (table.expiresAt(chunk) !== 0) expiring--;
        setRecordState(w, chunk, RECORD_FREE);
        heap.freeChunk(chunk, span.param, span.offset);
        return;
      }
      place(w, heap.header(Header.tableOffset), heap.header(Header.tableCapacity), key.hash, chunk);
      heap.setHeader(Header.recordCount, heap.header(Header.recordCount) + 1);
    });
  }
  heap.setHeader(Header.expiringCount, expiring);
  forgetExpiredCount(file.words);
}
