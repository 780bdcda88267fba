/**
 * Heap: the part of the file after the header, cut into slabs. A span is a run of whole slabs with a span header:
 * RECORDS spans (SPAN_SLABS[c] slabs for class c) hold chunks of one size class laid across the whole span; TABLE
 * spans hold a bucket array; FREE spans are space to reuse for either. As in Bonwick's slab allocator, each RECORDS
 * span keeps its own free list of chunks and a live count, each size class keeps a list of its spans that have a
 * free chunk (the partial list), and a span whose last record goes is given back as a FREE span, so that space
 * freed by one size class serves any other. A FREE span's blocks after its first page go back to the file system.
 *
 * A live record names the slab of its span that holds its first byte (slabIndex), so its span is found in O(1).
 *
 * Every offset read from the file is checked before it is followed, so a damaged file gives FILE_CORRUPT rather
 * than a read past the end of the mapping.
 */
import {
  CHUNK_SIZES, HEADER_SIZE, Header, RECORD_FREE, RECORD_HEADER_SIZE, SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_FREE,
  SPAN_HEADER_SIZE, SPAN_RECORDS, SPAN_SLABS, chunksPerSpan,
} from '../format/layout.js';
import {
  chunkAt, chunkIndex, freeNext, headerField, partialHead, recordState, setFreeNext, setHeaderField, setPartialHead,
  setRecordLengths, setRecordState, setSlabFreeHead, setSlabLiveCount, setSlabNextPartial, setSlabPrevPartial, slabFreeHead,
  slabIndex, slabLiveCount, slabNextPartial, slabPrevPartial, slabStart, spanKind, spanParam, spanSlabCount,
  writeSpanHeader,
} from '../format/fields.js';
import { hex } from '../format/header.js';
import { spanProblem, spanShapeProblem } from '../format/rules.js';
import { DataStoreError, corrupt } from '../errors.js';
import type { Region } from './region.js';

const MIN_GROWTH = SLAB_SIZE;
const MAX_GROWTH = 1024 * SLAB_SIZE; // 64 MiB
/** A FREE span keeps the blocks of its first page (its span header); the rest are given back (policy). */
export const FREE_SPAN_KEPT = 4096;

export class Heap {
  /** maxSize: the largest file this handle may grow to, a slab boundary. */
  constructor(readonly file: Region, public maxSize: number) {}

  get words(): Uint32Array { return this.file.words; }

  header(field: number): number { return headerField(this.file.words, field); }
  setHeader(field: number, value: number): void { setHeaderField(this.file.words, field, value); }

  partialHead(sizeClass: number): number {
    return partialHead(this.file.words, sizeClass);
  }
  setPartialHead(sizeClass: number, slab: number): void {
    setPartialHead(this.file.words, sizeClass, slab);
  }

  /** slabOf is the start of the slab holding offset. */
  slabOf(offset: number): number {
    return slabStart(offset);
  }

  /**
   * classOfSpan returns the size class of a RECORDS span starting at offset, or -1 unless a RECORDS span header of
   * sound shape lies there. Its checksum is not checked (a hot path).
   */
  classOfSpan(span: number): number {
    const w = this.file.words;
    return spanShapeProblem(w, span, this.header(Header.heapEnd)) === null && spanKind(w, span) === SPAN_RECORDS ? spanParam(w, span) : -1;
  }

  /** isChunkOf tells whether offset starts a chunk of the RECORDS span of class sizeClass at span. */
  isChunkOf(span: number, sizeClass: number, offset: number): boolean {
    const index = chunkIndex(span, sizeClass, offset);
    return Number.isInteger(index) && index >= 0 && index < chunksPerSpan(sizeClass);
  }

  /**
   * spanOfChunk returns the RECORDS span whose chunk starts at offset, or 0. O(1): the live record's slabIndex
   * says which slab of its span holds its first byte, and the span header there is checked to agree.
   */
  spanOfChunk(offset: number): number {
    if (offset < HEADER_SIZE + SLAB_HEADER_SIZE || offset % 8 !== 0 || offset + RECORD_HEADER_SIZE > this.header(Header.heapEnd)) return 0;
    const index = slabIndex(this.file.words, offset);
    const span = slabStart(offset) - index * SLAB_SIZE;
    const sizeClass = this.classOfSpan(span);
    return sizeClass >= 0 && index < SPAN_SLABS[sizeClass]! && this.isChunkOf(span, sizeClass, offset) ? span : 0;
  }

  /** slabIndex of a chunk of span: which of the span's slabs holds the chunk's first byte. */
  slabIndexOf(span: number, chunk: number): number {
    return (slabStart(chunk) - span) / SLAB_SIZE;
  }

  /**
   * allocChunk takes a free chunk of the size class from the first span on the class's partial list, adding a
   * span when the list is empty. A span leaves the list when its last free chunk is taken. When no span can be
   * had (STORE_FULL), a free chunk of the smallest larger class that has one is taken instead (policy).
   * The chunk is returned with its record's slabIndex written (its key and value lengths 0): where it lies in its
   * span is the heap's to know. Its state stays free until the record is written.
   */
  allocChunk(sizeClass: number): number {
    let span = this.partialHead(sizeClass);
    if (span === 0) {
      try {
        span = this.addRecordSpan(sizeClass);
      } catch (error) {
        if (!(error instanceof DataStoreError) || error.code !== 'STORE_FULL') throw error;
        while (span === 0 && ++sizeClass < CHUNK_SIZES.length) span = this.partialHead(sizeClass);
        if (span === 0) throw error;
      }
    }
    if (this.classOfSpan(span) !== sizeClass) throw corrupt(`partial list of size class ${sizeClass} points at ${hex(span)}, not a span of that class`);
    const w = this.words;
    const chunk = slabFreeHead(w, span);
    if (!this.isChunkOf(span, sizeClass, chunk) || recordState(w, chunk) !== RECORD_FREE) {
      throw corrupt(`span ${hex(span)} lists ${hex(chunk)} as free, which is not a free chunk of the span`);
    }
    const next = freeNext(w, chunk);
    setSlabFreeHead(w, span, next);
    setSlabLiveCount(w, span, slabLiveCount(w, span) + 1);
    if (next === 0) this.unlinkPartial(span, sizeClass);
    setRecordLengths(w, chunk, 0, this.slabIndexOf(span, chunk), 0);
    return chunk;
  }

  /**
   * freeChunk returns a chunk (already marked RECORD_FREE) to its span. A span that was full goes back on the
   * partial list; a span left empty becomes a free span for any use, unless it is its class's only partial span.
   */
  freeChunk(chunk: number, sizeClass: number, span: number): void {
    const w = this.words;
    const head = slabFreeHead(w, span);
    const wasFull = head === 0;
    setFreeNext(w, chunk, head);
    setSlabFreeHead(w, span, chunk);
    const live = slabLiveCount(w, span) - 1;
    setSlabLiveCount(w, span, live);
    if (wasFull) this.linkPartial(span, sizeClass);
    if (live === 0 && !(this.partialHead(sizeClass) === span && slabNextPartial(w, span) === 0)) {
      this.unlinkPartial(span, sizeClass);
      this.freeSpan(span, SPAN_SLABS[sizeClass]!);
    }
  }

  /**
   * addRecordSpan makes a RECORDS span of the class with every chunk free, at the head of the partial list. The
   * first 16 bytes of each later slab of the span are cleared, so that no old span header lies inside it.
   */
  addRecordSpan(sizeClass: number): number {
    const slabs = SPAN_SLABS[sizeClass]!;
    const span = this.allocSpan(slabs, SPAN_RECORDS, sizeClass);
    const w = this.words;
    for (let k = 1; k < slabs; k++) this.file.bytes.fill(0, span + k * SLAB_SIZE, span + k * SLAB_SIZE + SPAN_HEADER_SIZE);
    let next = 0;
    for (let i = chunksPerSpan(sizeClass) - 1; i >= 0; i--) {
      const chunk = chunkAt(span, sizeClass, i);
      setRecordState(w, chunk, RECORD_FREE);
      setFreeNext(w, chunk, next);
      next = chunk;
    }
    setSlabLiveCount(w, span, 0);
    setSlabFreeHead(w, span, chunkAt(span, sizeClass, 0));
    this.linkPartial(span, sizeClass);
    return span;
  }

  linkPartial(slab: number, sizeClass: number): void {
    const w = this.words;
    const head = this.partialHead(sizeClass);
    setSlabNextPartial(w, slab, head);
    setSlabPrevPartial(w, slab, 0);
    if (head !== 0) setSlabPrevPartial(w, head, slab);
    this.setPartialHead(sizeClass, slab);
  }

  private unlinkPartial(slab: number, sizeClass: number): void {
    const w = this.words;
    const previous = slabPrevPartial(w, slab);
    const next = slabNextPartial(w, slab);
    for (const neighbour of [previous, next]) {
      if (neighbour !== 0 && this.classOfSpan(neighbour) !== sizeClass) {
        throw corrupt(`span ${hex(slab)} links to ${hex(neighbour)} in its partial list, not a span of class ${sizeClass}`);
      }
    }
    if (previous !== 0) setSlabNextPartial(w, previous, next);
    else this.setPartialHead(sizeClass, next);
    if (next !== 0) setSlabPrevPartial(w, next, previous);
    setSlabNextPartial(w, slab, 0);
    setSlabPrevPartial(w, slab, 0);
  }

  writeSpanHeader(offset: number, kind: number, slabCount: number, param: number): void {
    writeSpanHeader(this.file.words, this.file.bytes, offset, kind, slabCount, param);
  }

  /**
   * allocSpan finds slabCount contiguous slabs: the first free span large enough (taking its tail), else the end
   * of the heap, growing the file when needed. Throws STORE_FULL when the file would pass maxSize. A RECORDS span's
   * pages are prefaulted (Region.prefault) before its header is written: all of them are written at once after.
   */
  allocSpan(slabCount: number, kind: number, param: number): number {
    const w = this.words;
    let previous = 0;
    let span = this.header(Header.freeSpanHead);
    for (let steps = 0; span !== 0; steps++) {
      this.checkFreeSpan(span, steps);
      const count = spanSlabCount(w, span);
      const next = spanParam(w, span);
      if (count >= slabCount) {
        // Blocks first: the span's slabs may have been given back (punched), and a write into a hole through the
        // mapping on a full disk would be a SIGBUS. A failure here (IO_ERROR) leaves the store as it was.
        this.file.reserve(span + (count - slabCount) * SLAB_SIZE, slabCount * SLAB_SIZE);
        let taken: number;
        if (count === slabCount) {
          if (previous === 0) this.setHeader(Header.freeSpanHead, next);
          else this.writeSpanHeader(previous, SPAN_FREE, spanSlabCount(w, previous), next);
          taken = span;
        } else {
          this.writeSpanHeader(span, SPAN_FREE, count - slabCount, next);
          taken = span + (count - slabCount) * SLAB_SIZE;
        }
        if (kind === SPAN_RECORDS) this.file.prefault(taken, slabCount * SLAB_SIZE);
        this.writeSpanHeader(taken, kind, slabCount, param);
        return taken;
      }
      previous = span;
      span = next;
    }
    const start = this.header(Header.heapEnd);
    const end = start + slabCount * SLAB_SIZE;
    const size = this.file.size;
    if (start < size) this.file.reserve(start, Math.min(end, size) - start); // the tail may have been given back at a close
    if (end > size) this.growFor(end);
    if (kind === SPAN_RECORDS) this.file.prefault(start, slabCount * SLAB_SIZE);
    this.writeSpanHeader(start, kind, slabCount, param);
    this.setHeader(Header.heapEnd, end);
    return start;
  }

  /**
   * freeSpan turns a span into a FREE span at the head of the free span list, merged with the FREE spans that touch
   * it: one walk of the list finds them and takes them off it. Without the merge, space freed in spans of one length
   * stayed cut to that length, and a store whose values changed size class grew the file for every longer span.
   * Its blocks go back to the file system later, all at once (releaseFreeSpans, at close and after recovery):
   * punching a hole costs a file-system transaction, which at every freed span made a delete several times slower,
   * and the space is reused meanwhile.
   */
  freeSpan(offset: number, slabCount: number): void {
    const w = this.words;
    let start = offset;
    let end = offset + slabCount * SLAB_SIZE;
    let previous = 0;
    for (let span = this.header(Header.freeSpanHead), steps = 0; span !== 0; steps++) {
      this.checkFreeSpan(span, steps);
      const next = spanParam(w, span);
      const spanEnd = span + spanSlabCount(w, span) * SLAB_SIZE;
      if (spanEnd === start || span === end) {
        if (previous === 0) this.setHeader(Header.freeSpanHead, next);
        else this.writeSpanHeader(previous, SPAN_FREE, spanSlabCount(w, previous), next);
        if (span === end) end = spanEnd;
        else start = span;
      } else {
        previous = span;
      }
      span = next;
    }
    this.linkFreeSpan(start, (end - start) / SLAB_SIZE);
  }

  /** linkFreeSpan writes a FREE span's header and puts it at the head of the free span list, merging nothing. */
  linkFreeSpan(offset: number, slabCount: number): void {
    this.writeSpanHeader(offset, SPAN_FREE, slabCount, this.header(Header.freeSpanHead));
    this.setHeader(Header.freeSpanHead, offset);
  }

  /**
   * releaseFreeSpans gives back the blocks of every FREE span after its first page (which holds its header). Giving
   * space back is an optimisation, and a punch cannot be undone: it stops at a link whose span header does not
   * hold, checksum included (damage, or a list that loops), so that a damaged slabCount never punches the span
   * after it; the spans past that link keep their blocks, and the change that next follows the list meets the damage.
   */
  releaseFreeSpans(): void {
    const heapEnd = this.header(Header.heapEnd);
    for (let span = this.header(Header.freeSpanHead), steps = 0; span !== 0; span = spanParam(this.words, span), steps++) {
      if (!this.isFreeSpanLink(span, steps) || spanProblem(this.words, this.file.bytes, span, heapEnd) !== null) return;
      this.file.release(span + FREE_SPAN_KEPT, spanSlabCount(this.words, span) * SLAB_SIZE - FREE_SPAN_KEPT);
    }
  }

  /**
   * releaseTail gives back the blocks of the file past heapEnd, grown ahead of need and not yet used: the file
   * keeps its length, and allocSpan reserves them again before it uses them.
   */
  releaseTail(): void {
    const heapEnd = this.header(Header.heapEnd);
    if (this.file.size > heapEnd) this.file.release(heapEnd, this.file.size - heapEnd);
  }

  /**
   * isFreeSpanLink tells whether `span`, reached in `steps` steps along the free span list, can be on it: a FREE
   * span of sound shape, and no more steps than the heap has slabs (else the list loops).
   */
  isFreeSpanLink(span: number, steps: number): boolean {
    const heapEnd = this.header(Header.heapEnd);
    return spanShapeProblem(this.words, span, heapEnd) === null && spanKind(this.words, span) === SPAN_FREE &&
      steps <= (heapEnd - HEADER_SIZE) / SLAB_SIZE;
  }

  private checkFreeSpan(span: number, steps: number): void {
    if (!this.isFreeSpanLink(span, steps)) throw corrupt(`free span list reaches ${hex(span)}, which is not a free span (or the list loops)`);
  }

  /**
   * growFor grows the file so that `end` bytes fit, within maxSize: by an eighth of its length (one slab to 64 MiB),
   * so that an open file is never much longer than what it holds. The tail past heapEnd is given back at close. When
   * the disk has no room for the step, the file grows by what is needed alone.
   */
  private growFor(end: number): void {
    if (end > this.maxSize) {
      throw new DataStoreError('STORE_FULL',
        `the store needs ${end} bytes of file; its limit is ${this.maxSize} bytes (maxFileSize)`);
    }
    const size = this.file.size;
    const step = Math.min(MAX_GROWTH, Math.max(MIN_GROWTH, slabsIn(size / 8)));
    const wanted = Math.min(this.maxSize, Math.max(end, size + step));
    try {
      this.file.growTo(wanted);
    } catch (error) {
      if (wanted === end) throw error;
      this.file.growTo(end); // a disk too full for the step may still have room for what is needed
    }
  }
}

/** slabsIn rounds a length down to whole slabs. */
function slabsIn(length: number): number {
  return Math.floor(length / SLAB_SIZE) * SLAB_SIZE;
}
