/**
 * Heap: the part of the file after the header, cut into slabs. A span is a run of whole slabs with a span header:
 * RECORDS spans (one slab) hold chunks of one size class; TABLE spans hold a bucket array; FREE spans are space
 * to reuse for either. As in Bonwick's slab allocator, each RECORDS slab keeps its own free list of chunks and a
 * live count, each size class keeps a list of its slabs that have a free chunk (the partial list), and a slab
 * whose last record goes is given back as a FREE span, so that space freed by one size class serves any other.
 *
 * Every offset read from the file is checked before it is followed, so a damaged file gives FILE_CORRUPT rather
 * than a read past the end of the mapping.
 */
import {
  CHUNK_SIZES, CLASS_ENTRY_SIZE, ClassEntry, Free, HEADER_SIZE, Header, RECORD_FREE, Record, SLAB_HEADER_SIZE,
  SLAB_SIZE, SPAN_FREE, SPAN_RECORDS, Slab, Span, chunksPerSlab,
} from '../format/layout.js';
import { spanChecksum } from '../format/record.js';
import { hex } from '../format/header.js';
import { DataStoreError, corrupt } from '../errors.js';
import type { Region } from './region.js';

const H = (field: number): number => field >>> 2;
const MIN_GROWTH = SLAB_SIZE;
const MAX_GROWTH = 1024 * SLAB_SIZE; // 64 MiB

export class Heap {
  /** maxSize: the largest file this handle may grow to, a slab boundary. */
  constructor(readonly file: Region, public maxSize: number) {}

  get words(): Uint32Array { return this.file.words; }

  header(field: number): number { return this.file.words[H(field)]!; }
  setHeader(field: number, value: number): void { this.file.words[H(field)] = value; }

  partialHead(sizeClass: number): number {
    return this.file.words[H(Header.classTable + sizeClass * CLASS_ENTRY_SIZE + ClassEntry.partialHead)]!;
  }
  setPartialHead(sizeClass: number, slab: number): void {
    this.file.words[H(Header.classTable + sizeClass * CLASS_ENTRY_SIZE + ClassEntry.partialHead)] = slab;
  }

  /** slabOf is the start of the slab holding offset. */
  slabOf(offset: number): number {
    return HEADER_SIZE + Math.floor((offset - HEADER_SIZE) / SLAB_SIZE) * SLAB_SIZE;
  }

  /** classOfSlab returns the size class of a RECORDS slab starting at offset below heapEnd, or -1. */
  classOfSlab(slab: number): number {
    if (slab < HEADER_SIZE || slab >= this.header(Header.heapEnd) || (slab - HEADER_SIZE) % SLAB_SIZE !== 0) return -1;
    const w = this.file.words;
    if (w[H(slab + Span.kind)] !== SPAN_RECORDS) return -1;
    const sizeClass = w[H(slab + Span.param)]!;
    return CHUNK_SIZES[sizeClass] === undefined ? -1 : sizeClass;
  }

  /**
   * classOfChunk returns the size class of the chunk at offset, or -1 when offset is not the start of a chunk in
   * a RECORDS slab below heapEnd. O(1): reads the slab's span header.
   */
  classOfChunk(offset: number): number {
    if (offset < HEADER_SIZE + SLAB_HEADER_SIZE || offset % 8 !== 0) return -1;
    const slab = this.slabOf(offset);
    const sizeClass = this.classOfSlab(slab);
    if (sizeClass < 0) return -1;
    const chunkSize = CHUNK_SIZES[sizeClass]!;
    const index = (offset - slab - SLAB_HEADER_SIZE) / chunkSize;
    return Number.isInteger(index) && index < chunksPerSlab(chunkSize) ? sizeClass : -1;
  }

  /**
   * allocChunk takes a free chunk of the size class from the first slab on the class's partial list, adding a
   * slab when the list is empty. A slab leaves the list when its last free chunk is taken.
   */
  allocChunk(sizeClass: number): number {
    let slab = this.partialHead(sizeClass);
    if (slab === 0) slab = this.addRecordSlab(sizeClass);
    else if (this.classOfSlab(slab) !== sizeClass) throw corrupt(`partial list of size class ${sizeClass} points at ${hex(slab)}, not a slab of that class`);
    const w = this.words;
    const chunk = w[H(slab + Slab.freeHead)]!;
    if (this.slabOf(chunk) !== slab || this.classOfChunk(chunk) !== sizeClass || w[H(chunk + Record.state)] !== RECORD_FREE) {
      throw corrupt(`slab ${hex(slab)} lists ${hex(chunk)} as free, which is not a free chunk of the slab`);
    }
    const next = w[H(chunk + Free.next)]!;
    w[H(slab + Slab.freeHead)] = next;
    w[H(slab + Slab.liveCount)] = w[H(slab + Slab.liveCount)]! + 1;
    if (next === 0) this.unlinkPartial(slab, sizeClass);
    return chunk;
  }

  /**
   * freeChunk returns a chunk (already marked RECORD_FREE) to its slab. A slab that was full goes back on the
   * partial list; a slab left empty becomes a free span for any use, unless it is its class's only partial slab.
   */
  freeChunk(chunk: number, sizeClass: number): void {
    const w = this.words;
    const slab = this.slabOf(chunk);
    const wasFull = w[H(slab + Slab.freeHead)] === 0;
    w[H(chunk + Free.next)] = w[H(slab + Slab.freeHead)]!;
    w[H(slab + Slab.freeHead)] = chunk;
    const live = w[H(slab + Slab.liveCount)]! - 1;
    w[H(slab + Slab.liveCount)] = live;
    if (wasFull) this.linkPartial(slab, sizeClass);
    if (live === 0 && !(this.partialHead(sizeClass) === slab && w[H(slab + Slab.nextPartial)] === 0)) {
      this.unlinkPartial(slab, sizeClass);
      this.freeSpan(slab, 1);
    }
  }

  /** addRecordSlab makes a RECORDS slab of the class with every chunk free, at the head of the partial list. */
  addRecordSlab(sizeClass: number): number {
    const chunkSize = CHUNK_SIZES[sizeClass]!;
    const slab = this.allocSpan(1, SPAN_RECORDS, sizeClass);
    const w = this.words;
    const first = slab + SLAB_HEADER_SIZE;
    let next = 0;
    for (let i = chunksPerSlab(chunkSize) - 1; i >= 0; i--) {
      const chunk = first + i * chunkSize;
      w[H(chunk + Record.state)] = RECORD_FREE;
      w[H(chunk + Free.next)] = next;
      next = chunk;
    }
    w[H(slab + Slab.liveCount)] = 0;
    w[H(slab + Slab.freeHead)] = first;
    this.linkPartial(slab, sizeClass);
    return slab;
  }

  linkPartial(slab: number, sizeClass: number): void {
    const w = this.words;
    const head = this.partialHead(sizeClass);
    w[H(slab + Slab.nextPartial)] = head;
    w[H(slab + Slab.prevPartial)] = 0;
    if (head !== 0) w[H(head + Slab.prevPartial)] = slab;
    this.setPartialHead(sizeClass, slab);
  }

  private unlinkPartial(slab: number, sizeClass: number): void {
    const w = this.words;
    const previous = w[H(slab + Slab.prevPartial)]!;
    const next = w[H(slab + Slab.nextPartial)]!;
    for (const neighbour of [previous, next]) {
      if (neighbour !== 0 && this.classOfSlab(neighbour) !== sizeClass) {
        throw corrupt(`slab ${hex(slab)} links to ${hex(neighbour)} in its partial list, not a slab of class ${sizeClass}`);
      }
    }
    if (previous !== 0) w[H(previous + Slab.nextPartial)] = next;
    else this.setPartialHead(sizeClass, next);
    if (next !== 0) w[H(next + Slab.prevPartial)] = previous;
    w[H(slab + Slab.nextPartial)] = 0;
    w[H(slab + Slab.prevPartial)] = 0;
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

  /** growFor grows the file so that `end` bytes fit: by an eighth of its size (one slab to 64 MiB), within maxSize. */
  private growFor(end: number): void {
    if (end > this.maxSize) {
      throw new DataStoreError('STORE_FULL',
        `the store needs ${end} bytes of file; its limit is ${this.maxSize} bytes (maxFileSize)`);
    }
    const size = this.file.size;
    const step = Math.min(MAX_GROWTH, Math.max(MIN_GROWTH, Math.floor(size / 8 / SLAB_SIZE) * SLAB_SIZE));
    this.file.growTo(Math.min(this.maxSize, Math.max(end, size + step)));
  }
}
