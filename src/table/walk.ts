/**
 * Walking the heap span by span, as recovery and verification do. Read-only.
 */
import {
  CHUNK_SIZES, HEADER_SIZE, Header, MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD_HEADER_SIZE, RECORD_LIVE, Record,
  SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS, SPAN_TABLE, Slab, Span, chunksPerSlab,
} from '../format/layout.js';
import { readExpiresAt, recordChecksum, spanChecksum } from '../format/record.js';
import { hex } from '../format/header.js';
import type { Region } from './region.js';

const H = (field: number): number => field >>> 2;

export interface SpanInfo { offset: number; kind: number; slabCount: number; param: number }

/** readSpan decodes the span header at offset, or returns null when it does not hold (checksum, kind, length). */
export function readSpan(file: Region, offset: number, heapEnd: number): SpanInfo | null {
  return spanProblem(file, offset, heapEnd) === null ? decodeSpan(file, offset) : null;
}

function decodeSpan(file: Region, offset: number): SpanInfo {
  const w = file.words;
  return { offset, kind: w[H(offset + Span.kind)]!, slabCount: w[H(offset + Span.slabCount)]!, param: w[H(offset + Span.param)]! };
}

function spanProblem(file: Region, offset: number, heapEnd: number): string | null {
  const w = file.words;
  const kind = w[H(offset + Span.kind)]!;
  const slabCount = w[H(offset + Span.slabCount)]!;
  const param = w[H(offset + Span.param)]!;
  if (w[H(offset + Span.checksum)] !== spanChecksum(file.bytes, offset)) return `span header at ${hex(offset)} fails its checksum`;
  if (kind !== SPAN_RECORDS && kind !== SPAN_TABLE && kind !== SPAN_FREE) return `span at ${hex(offset)} has unknown kind ${hex(kind)}`;
  if (slabCount < 1 || offset + slabCount * SLAB_SIZE > heapEnd) return `span at ${hex(offset)} claims ${slabCount} slabs, past heapEnd ${heapEnd}`;
  if (kind === SPAN_RECORDS && (slabCount !== 1 || CHUNK_SIZES[param] === undefined)) return `records span at ${hex(offset)} has ${slabCount} slabs and size class ${param}`;
  return null;
}

/**
 * spans lists the spans below heapEnd, or returns a problem string for the first span header that does not hold
 * (bad checksum, unknown kind, a length that runs past heapEnd). No per-key objects: one entry per span.
 */
export function spans(file: Region): SpanInfo[] | string {
  const heapEnd = file.words[H(Header.heapEnd)]!;
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
  const size = CHUNK_SIZES[span.param]!;
  const first = span.offset + SLAB_HEADER_SIZE;
  for (let i = 0, n = chunksPerSlab(size); i < n; i++) fn(first + i * size);
}

/** recordIsSound: live, lengths in range and inside the chunk, checksum matching. */
export function recordIsSound(file: Region, chunk: number, chunkSize: number): boolean {
  const w = file.words;
  if (w[H(chunk + Record.state)] !== RECORD_LIVE) return false;
  const keyLength = w[H(chunk + Record.keyLength)]! & 0xffff;
  const valueLength = w[H(chunk + Record.valueLength)]!;
  if (keyLength === 0 || keyLength > MAX_KEY_BYTES || valueLength > MAX_VALUE_BYTES) return false;
  if (RECORD_HEADER_SIZE + keyLength + valueLength > chunkSize) return false;
  return w[H(chunk + Record.checksum)] === recordChecksum(file.bytes, chunk, keyLength, valueLength, w);
}

/**
 * scanLive calls visit with every live, sound, unexpired record in the slabs from `start` on, for at most
 * `slabLimit` slabs, and returns where to go on (0 when the heap is done). It walks slab by slab and trusts only a
 * RECORDS span header whose checksum holds, so it is safe to resume after the heap has changed between calls:
 * records never move, so a record that stays live is visited exactly once.
 */
export function scanLive(file: Region, start: number, slabLimit: number, nowMs: number, visit: (record: number) => void): number {
  const w = file.words;
  const heapEnd = w[H(Header.heapEnd)]!;
  let slab = start;
  for (let n = 0; slab < heapEnd && n < slabLimit; n++, slab += SLAB_SIZE) {
    if (w[H(slab + Span.kind)] !== SPAN_RECORDS || w[H(slab + Span.checksum)] !== spanChecksum(file.bytes, slab)) continue;
    const sizeClass = w[H(slab + Span.param)]!;
    const size = CHUNK_SIZES[sizeClass];
    if (size === undefined) continue;
    const first = slab + SLAB_HEADER_SIZE;
    for (let i = 0, count = chunksPerSlab(size); i < count; i++) {
      const chunk = first + i * size;
      if (w[H(chunk + Record.state)] !== RECORD_LIVE || !recordIsSound(file, chunk, size)) continue;
      const expiresAt = readExpiresAt(w, chunk);
      if (expiresAt === 0 || expiresAt > nowMs) visit(chunk);
    }
  }
  return slab < heapEnd ? slab : 0;
}

export interface ClassSpace {
  sizeClass: number;
  chunkSize: number;
  slabs: number;
  records: number;
  freeChunks: number;
  /** bytes of free chunks, reusable by records of this class */
  freeBytes: number;
}

/** spaceByClass sums, for each size class in use, its slabs, records and free chunks. Reads slab headers only. */
export function spaceByClass(file: Region): ClassSpace[] {
  const w = file.words;
  const heapEnd = w[H(Header.heapEnd)]!;
  const classes: ClassSpace[] = [];
  for (let slab = HEADER_SIZE; slab < heapEnd; slab += SLAB_SIZE) {
    if (w[H(slab + Span.kind)] !== SPAN_RECORDS || w[H(slab + Span.checksum)] !== spanChecksum(file.bytes, slab)) continue;
    const sizeClass = w[H(slab + Span.param)]!;
    const chunkSize = CHUNK_SIZES[sizeClass];
    if (chunkSize === undefined) continue;
    const entry = (classes[sizeClass] ??= { sizeClass, chunkSize, slabs: 0, records: 0, freeChunks: 0, freeBytes: 0 });
    const live = w[H(slab + Slab.liveCount)]!;
    entry.slabs++;
    entry.records += live;
    entry.freeChunks += chunksPerSlab(chunkSize) - live;
    entry.freeBytes += (chunksPerSlab(chunkSize) - live) * chunkSize;
  }
  return classes.filter(Boolean);
}
