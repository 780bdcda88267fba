/**
 * Walking the heap span by span, as recovery and verification do. Read-only.
 */
import {
  CHUNK_SIZES, HEADER_SIZE, Header, MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD_LIVE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS,
  SPAN_SLABS, SPAN_TABLE, chunksPerSpan,
} from '../format/layout.js';
import { readExpiresAt, recordChecksum, spanChecksum } from '../format/record.js';
import {
  chunkAt, headerField, keyLength, recordSize, recordState, recordStoredChecksum, slabIndex, slabLiveCount, spanKind,
  spanParam, spanSlabCount, spanStoredChecksum, valueLength,
} from '../format/fields.js';
import { hex } from '../format/header.js';
import type { Region } from './region.js';

export interface SpanInfo { offset: number; kind: number; slabCount: number; param: number }

/** readSpan decodes the span header at offset, or returns null when it does not hold (checksum, kind, length). */
export function readSpan(file: Region, offset: number, heapEnd: number): SpanInfo | null {
  return spanProblem(file, offset, heapEnd) === null ? decodeSpan(file, offset) : null;
}

function decodeSpan(file: Region, offset: number): SpanInfo {
  const w = file.words;
  return { offset, kind: spanKind(w, offset), slabCount: spanSlabCount(w, offset), param: spanParam(w, offset) };
}

function spanProblem(file: Region, offset: number, heapEnd: number): string | null {
  const w = file.words;
  const kind = spanKind(w, offset);
  const slabCount = spanSlabCount(w, offset);
  const param = spanParam(w, offset);
  if (spanStoredChecksum(w, offset) !== spanChecksum(file.bytes, offset)) return `span header at ${hex(offset)} fails its checksum`;
  if (kind !== SPAN_RECORDS && kind !== SPAN_TABLE && kind !== SPAN_FREE) return `span at ${hex(offset)} has unknown kind ${hex(kind)}`;
  if (slabCount < 1 || offset + slabCount * SLAB_SIZE > heapEnd) return `span at ${hex(offset)} claims ${slabCount} slabs, past heapEnd ${heapEnd}`;
  if (kind === SPAN_RECORDS && (CHUNK_SIZES[param] === undefined || slabCount !== SPAN_SLABS[param])) return `records span at ${hex(offset)} has ${slabCount} slabs and size class ${param}`;
  return null;
}

/**
 * spans lists the spans below heapEnd, or returns a problem string for the first span header that does not hold
 * (bad checksum, unknown kind, a length that runs past heapEnd). No per-key objects: one entry per span.
 */
export function spans(file: Region): SpanInfo[] | string {
  const heapEnd = headerField(file.words, Header.heapEnd);
  const list: SpanInfo[] = [];
  for (let offset = HEADER_SIZE; offset < heapEnd;) {
    const problem = spanProblem(file, offset, heapEnd);
    if (problem !== null) return problem;
    const span = decodeSpan(file, offset);
    list.push(span);
    offset += span.slabCount * SLAB_SIZE;
  }
  return list;
}

/** forEachChunk calls fn with every chunk offset of a RECORDS span. */
export function forEachChunk(span: SpanInfo, fn: (chunk: number) => void): void {
  for (let i = 0, n = chunksPerSpan(span.param); i < n; i++) fn(chunkAt(span.offset, span.param, i));
}

/**
 * recordIsSound: live, lengths in range and inside the chunk of the class, slabIndex naming the slab of the span
 * (at `span`) that holds the record's first byte, checksum matching.
 */
export function recordIsSound(file: Region, chunk: number, span: number, sizeClass: number): boolean {
  const w = file.words;
  if (recordState(w, chunk) !== RECORD_LIVE) return false;
  const keyBytes = keyLength(w, chunk);
  const valueBytes = valueLength(w, chunk);
  if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES || valueBytes > MAX_VALUE_BYTES) return false;
  if (recordSize(keyBytes, valueBytes) > CHUNK_SIZES[sizeClass]!) return false;
  if (slabIndex(w, chunk) !== Math.floor((chunk - span) / SLAB_SIZE)) return false;
  return recordStoredChecksum(w, chunk) === recordChecksum(file.bytes, chunk, keyBytes, valueBytes, w);
}

/**
 * recordsSpanAt returns the size class of the RECORDS span at offset when its header holds (checksum, class, the
 * class's length, below heapEnd), else -1.
 */
function recordsSpanAt(file: Region, offset: number, heapEnd: number): number {
  const w = file.words;
  if (spanKind(w, offset) !== SPAN_RECORDS || spanStoredChecksum(w, offset) !== spanChecksum(file.bytes, offset)) return -1;
  const sizeClass = spanParam(w, offset);
  const slabs = SPAN_SLABS[sizeClass];
  return slabs !== undefined && spanSlabCount(w, offset) === slabs && offset + slabs * SLAB_SIZE <= heapEnd ? sizeClass : -1;
}

/** nextSpan is where the walk goes on after offset: past the span when its header holds, else the next slab. */
function nextSpan(file: Region, offset: number, heapEnd: number): number {
  return spanProblem(file, offset, heapEnd) === null ? offset + spanSlabCount(file.words, offset) * SLAB_SIZE : offset + SLAB_SIZE;
}

/**
 * scanLive calls visit with every live, sound, unexpired record in the spans from `start` on, for at most
 * `slabLimit` slabs, and returns where to go on (0 when the heap is done). It walks span by span, trusting a span
 * header whose checksum holds and going on at the next slab after one that does not, so it is safe to resume after
 * the heap has changed between calls: records never move, so a record that stays live is visited exactly once.
 */
export function scanLive(file: Region, start: number, slabLimit: number, nowMs: number, visit: (record: number) => void): number {
  const w = file.words;
  const heapEnd = headerField(w, Header.heapEnd);
  let span = start;
  for (let n = 0; span < heapEnd && n < slabLimit; span = nextSpan(file, span, heapEnd)) {
    const sizeClass = recordsSpanAt(file, span, heapEnd);
    n += sizeClass < 0 ? 1 : SPAN_SLABS[sizeClass]!;
    if (sizeClass < 0) continue;
    for (let i = 0, count = chunksPerSpan(sizeClass); i < count; i++) {
      const chunk = chunkAt(span, sizeClass, i);
      if (recordState(w, chunk) !== RECORD_LIVE || !recordIsSound(file, chunk, span, sizeClass)) continue;
      const expiresAt = readExpiresAt(w, chunk);
      if (expiresAt === 0 || expiresAt > nowMs) visit(chunk);
    }
  }
  return span < heapEnd ? span : 0;
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
  for (let span = HEADER_SIZE; span < heapEnd; span = nextSpan(file, span, heapEnd)) {
    const sizeClass = recordsSpanAt(file, span, heapEnd);
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
