/**
 * Heap: the part of the file after the header, cut into slabs. A span is a run of whole slabs with a span header:
 * RECORDS spans (one slab) hold chunks of one size class; TABLE spans hold a bucket array; FREE spans are space
 * to reuse. Each size class keeps a free list of chunks threaded through the chunks themselves.
 *
 * Every offset read from the file is checked before it is followed, so a damaged file gives FILE_CORRUPT rather
 * than a read past the end of the mapping.
 */
import {
  CHUNK_SIZES, CLASS_ENTRY_SIZE, Free, HEADER_SIZE, Header, RECORD_FREE, Record, SLAB_SIZE, SPAN_FREE,
  SPAN_HEADER_SIZE, SPAN_RECORDS, Span, chunksPerSlab,
} from '../format/layout.js';
import { spanChecksum } from '../format/record.js';
import { hex } from '../format/header.js';
import { DataStoreError } from '../api/errors.js';
import type { MappedFile } from './mapped-file.js';

const H = (field: number): number => field >>> 2;
const MIN_GROWTH = 16 * SLAB_SIZE; // 1 MiB
const MAX_GROWTH = 1024 * SLAB_SIZE; // 64 MiB

export function corrupt(message: string): DataStoreError {
  return new DataStoreError('FILE_CORRUPT', message);
}

export class Heap {
  /** maxSize: the largest file this handle may grow to, a slab boundary. */
  constructor(readonly file: MappedFile, public maxSize: number) {}

  get words(): Uint32Array { return this.file.words; }

  header(field: number): number { return this.file.words[H(field)]!; }
  setHeader(field: number, value: number): void { this.file.words[H(field)] = value; }

  freeHead(sizeClass: number): number {
    return this.file.words[H(Header.classTable + sizeClass * CLASS_ENTRY_SIZE + 4)]!;
  }
  setFreeHead(sizeClass: number, offset: number): void {
    this.file.words[H(Header.classTable + sizeClass * CLASS_ENTRY_SIZE + 4)] = offset;
  }

  /** slabOf is the start of the slab holding offset. */
  slabOf(offset: number): number {
    return HEADER_SIZE + Math.floor((offset - HEADER_SIZE) / SLAB_SIZE) * SLAB_SIZE;
  }

  /**
   * classOfChunk returns the size class of the chunk at offset, or -1 when offset is not the start of a chunk in
   * a RECORDS slab below heapEnd. O(1): reads the slab's span header.
   */
  classOfChunk(offset: number): number {
    if (offset < HEADER_SIZE + SPAN_HEADER_SIZE || offset >= this.header(Header.heapEnd) || offset % 8 !== 0) return -1;
    const w = this.file.words;
    const slab = this.slabOf(offset);
    if (w[H(slab + Span.kind)] !== SPAN_RECORDS) return -1;
    const sizeClass = w[H(slab + Span.param)]!;
    const chunkSize = CHUNK_SIZES[sizeClass];
    if (chunkSize === undefined) return -1;
    const index = (offset - slab - SPAN_HEADER_SIZE) / chunkSize;
    return Number.isInteger(index) && index < chunksPerSlab(chunkSize) ? sizeClass : -1;
  }

  /** allocChunk pops a free chunk of the size class, adding a slab when the class has none. */
  allocChunk(sizeClass: number): number {
    let head = this.freeHead(sizeClass);
    if (head === 0) {
      this.addRecordSlab(sizeClass);
      head = this.freeHead(sizeClass);
    }
    if (this.classOfChunk(head) !== sizeClass || this.words[H(head + Record.state)] !== RECORD_FREE) {
      throw corrupt(`free list of size class ${sizeClass} points at ${hex(head)}, which is not a free chunk of that class`);
    }
    this.setFreeHead(sizeClass, this.words[H(head + Free.next)]!);
    return head;
  }

  /** freeChunk returns a chunk to its class's free list. The caller has already marked it RECORD_FREE. */
  freeChunk(offset: number, sizeClass: number): void {
    this.words[H(offset + Free.next)] = this.freeHead(sizeClass);
    this.setFreeHead(sizeClass, offset);
  }

  private addRecordSlab(sizeClass: number): void {
    const chunkSize = CHUNK_SIZES[sizeClass]!;
    const slab = this.allocSpan(1, SPAN_RECORDS, sizeClass);
    const w = this.words;
    const first = slab + SPAN_HEADER_SIZE;
    const count = chunksPerSlab(chunkSize);
    let next = this.freeHead(sizeClass);
    for (let i = count - 1; i >= 0; i--) {
      const chunk = first + i * chunkSize;
      w[H(chunk + Record.state)] = RECORD_FREE;
      w[H(chunk + Free.next)] = next;
      next = chunk;
    }
    this.setFreeHead(sizeClass, next);
  }

  writeSpanHeader(offset: number, kind: number, slabCount: number, param: number): void {
    const w = this.words;
    w[H(offset + Span.kind)] = kind;
    w[H(offset + Span.slabCount)] = slabCount;
    w[H(offset + Span.param)] = param;
    w[H(offset + Span.checksum)] = spanChecksum(this.file.bytes, offset);
  }

  /**
   * allocSpan finds slabCount contiguous slabs: the first free span large enough (taking its tail), else the end
   * of the heap, growing the file when needed. Throws STORE_FULL when the file would pass maxSize.
   */
  allocSpan(slabCount: number, kind: number, param: number): number {
    const w = this.words;
    let previous = 0;
    let span = this.header(Header.freeSpanHead);
    for (let steps = 0; span !== 0; steps++) {
      this.checkFreeSpan(span, steps);
      const count = w[H(span + Span.slabCount)]!;
      const next = w[H(span + Span.param)]!;
      if (count >= slabCount) {
        let taken: number;
        if (count === slabCount) {
          if (previous === 0) this.setHeader(Header.freeSpanHead, next);
          else this.writeSpanHeader(previous, SPAN_FREE, w[H(previous + Span.slabCount)]!, next);
          taken = span;
        } else {
          this.writeSpanHeader(span, SPAN_FREE, count - slabCount, next);
          taken = span + (count - slabCount) * SLAB_SIZE;
        }
        this.writeSpanHeader(taken, kind, slabCount, param);
        return taken;
      }
      previous = span;
      span = next;
    }
    const start = this.header(Header.heapEnd);
    const end = start + slabCount * SLAB_SIZE;
    if (end > this.file.size) this.growFor(end);
    this.writeSpanHeader(start, kind, slabCount, param);
    this.setHeader(Header.heapEnd, end);
    return start;
  }

  /** freeSpan turns a span into a FREE span at the head of the free span list. */
  freeSpan(offset: number, slabCount: number): void {
    this.writeSpanHeader(offset, SPAN_FREE, slabCount, this.header(Header.freeSpanHead));
    this.setHeader(Header.freeSpanHead, offset);
  }

  private checkFreeSpan(span: number, steps: number): void {
    const w = this.words;
    const heapEnd = this.header(Header.heapEnd);
    const ok = span >= HEADER_SIZE && span < heapEnd && (span - HEADER_SIZE) % SLAB_SIZE === 0 &&
      w[H(span + Span.kind)] === SPAN_FREE && steps <= (heapEnd - HEADER_SIZE) / SLAB_SIZE &&
      span + w[H(span + Span.slabCount)]! * SLAB_SIZE <= heapEnd;
    if (!ok) throw corrupt(`free span list reaches ${hex(span)}, which is not a free span (or the list loops)`);
  }

  /** growFor grows the file so that `end` bytes fit: by a quarter of its size, 1 to 64 MiB, within maxSize. */
  private growFor(end: number): void {
    if (end > this.maxSize) {
      throw new DataStoreError('STORE_FULL',
        `the store needs ${end} bytes of file; its limit is ${this.maxSize} bytes (maxFileSize)`);
    }
    const size = this.file.size;
    const step = Math.min(MAX_GROWTH, Math.max(MIN_GROWTH, Math.floor(size / 4 / SLAB_SIZE) * SLAB_SIZE));
    this.file.growTo(Math.min(this.maxSize, Math.max(end, size + step)));
  }
}
