/**
 * Walking the heap span by span, as recovery and verification do. Read-only.
 */
import { CHUNK_SIZES, COMMIT_DONE, HEADER_SIZE, Header, SLAB_SIZE, SPAN_RECORDS, SPAN_SLABS, chunksPerSpan } from '../format/layout.js';
import { readExpiresAt } from '../format/record.js';
import { chunkAt, headerField, recordState, slabLiveCount, spanKind, spanParam, spanSlabCount } from '../format/fields.js';
import { isExpired, isIndexedState, isLiveState, isSoundRecord, spanProblem } from '../format/rules.js';
import type { Region } from './region.js';

export interface SpanInfo { offset: number; kind: number; slabCount: number; param: number }

/** readSpan decodes the span header at offset, or returns null when it does not hold (checksum, kind, length). */
export function readSpan(file: Region, offset: number, heapEnd: number): SpanInfo | null {
  return spanProblem(file.words, file.bytes, offset, heapEnd) === null ? decodeSpan(file, offset) : null;
}

function decodeSpan(file: Region, offset: number): SpanInfo {
  const w = file.words;
  return { offset, kind: spanKind(w, offset), slabCount: spanSlabCount(w, offset), param: spanParam(w, offset) };
}

/**
 * spans lists the spans below heapEnd, or returns the first span header that does not hold (bad checksum, unknown
 * kind, a length that runs past heapEnd) and why. No per-key objects: one entry per span.
 */
export function spans(file: Region): SpanInfo[] | { offset: number; problem: string } {
  const heapEnd = headerField(file.words, Header.heapEnd);
  const list: SpanInfo[] = [];
  for (let offset = HEADER_SIZE; offset < heapEnd;) {
    const problem = spanProblem(file.words, file.bytes, offset, heapEnd);
    if (problem !== null) return { offset, problem };
    const span = decodeSpan(file, offset);
    list.push(span);
    offset += span.slabCount * SLAB_SIZE;
  }
  return list;
}

/** recordsClass is the size class of the span at offset when it is a RECORDS span whose header holds, else -1. */
function recordsClass(w: Uint32Array, offset: number, holds: boolean): number {
  return holds && spanKind(w, offset) === SPAN_RECORDS ? spanParam(w, offset) : -1;
}

/** nextSpan is where a walk goes on after offset: past the span when its header holds, else the next slab. */
function nextSpan(w: Uint32Array, offset: number, holds: boolean): number {
  return holds ? offset + spanSlabCount(w, offset) * SLAB_SIZE : offset + SLAB_SIZE;
}

/** forEachChunk calls fn with every chunk offset of a RECORDS span. */
export function forEachChunk(span: SpanInfo, fn: (chunk: number) => void): void {
  for (let i = 0, n = chunksPerSpan(span.param); i < n; i++) fn(chunkAt(span.offset, span.param, i));
}

/**
 * scanLive calls visit with every live, sound, unexpired record in the spans from `start` on, for at most
 * `slabLimit` slabs, and returns where to go on (0 when the heap is done). It walks span by span, trusting a span
 * header whose checksum holds and going on at the next slab after one that does not, so it is safe to resume after
 * the heap has changed between calls: records never move, so a record that stays live is visited exactly once.
 * Which records are live: as the writer of the transaction under way sees them when `ownTransaction` (states 1 and
 * 2), else as the file says once settled (isLiveState, by the header's commit field). Spans from `end` on are
 * not walked: a scan resumed with the heap's end when it began cannot chase records written after it began (a
 * transaction that replaces each key it lists writes each new record ahead of it, and would never end).
 */
export function scanLive(file: Region, start: number, end: number, slabLimit: number, nowMs: number, visit: (record: number) => void, ownTransaction = false): number {
  const w = file.words;
  const heapEnd = headerField(w, Header.heapEnd);
  const stop = Math.min(heapEnd, end);
  const committed = headerField(w, Header.commit) === COMMIT_DONE;
  let span = start;
  for (let n = 0; span < stop && n < slabLimit;) {
    const holds = spanProblem(w, file.bytes, span, heapEnd) === null;
    const sizeClass = recordsClass(w, span, holds);
    n += sizeClass < 0 ? 1 : SPAN_SLABS[sizeClass]!; // a span without records costs one step to pass
    for (let i = 0, count = sizeClass < 0 ? 0 : chunksPerSpan(sizeClass); i < count; i++) {
      const chunk = chunkAt(span, sizeClass, i);
      const state = recordState(w, chunk);
      if (!(ownTransaction ? isIndexedState(state) : isLiveState(state, committed))) continue;
      if (isSoundRecord(w, file.bytes, chunk, span, sizeClass) && !isExpired(readExpiresAt(w, chunk), nowMs)) visit(chunk);
    }
    span = nextSpan(w, span, holds);
  }
  return span < stop ? span : 0;
}

export interface ClassSpace {
  sizeClass: number;
  chunkSize: number;
  /** slabs of each of its spans */
  spanSlabs: number;
  spans: number;
  records: number;
  freeChunks: number;
  /** bytes of free chunks, reusable by records of this class */
  freeBytes: number;
}

/** spaceByClass sums, for each size class in use, its spans, records and free chunks. Reads span headers only. */
export function spaceByClass(file: Region): ClassSpace[] {
  const w = file.words;
  const heapEnd = headerField(w, Header.heapEnd);
  const classes: ClassSpace[] = [];
  for (let span = HEADER_SIZE, holds = false; span < heapEnd; span = nextSpan(w, span, holds)) {
    holds = spanProblem(w, file.bytes, span, heapEnd) === null;
    const sizeClass = recordsClass(w, span, holds);
    if (sizeClass < 0) continue;
    const chunkSize = CHUNK_SIZES[sizeClass]!;
    const entry = (classes[sizeClass] ??= { sizeClass, chunkSize, spanSlabs: SPAN_SLABS[sizeClass]!, spans: 0, records: 0, freeChunks: 0, freeBytes: 0 });
    const live = slabLiveCount(w, span);
    entry.spans++;
    entry.records += live;
    entry.freeChunks += chunksPerSpan(sizeClass) - live;
    entry.freeBytes += (chunksPerSpan(sizeClass) - live) * chunkSize;
  }
  return classes.filter(Boolean);
}
