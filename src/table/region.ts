/**
 * Region: the bytes of one store file as the table sees them, whichever way they are held: the file's mapping
 * (src/store) or a buffer in memory while a new store is built before it is written out.
 */
export interface Region {
  /**
   * bytes views the file; words views it as u32 for aligned field access; atomics for the lock word. A region may
   * replace them when the file grows: read them from here at each use, not from a copy kept across growth.
   */
  readonly bytes: Buffer;
  readonly words: Uint32Array;
  readonly atomics: Int32Array;
  /** size is the file's length as the header records it: the bound of every access. */
  readonly size: number;
  /** growTo extends the file to newSize bytes with real blocks, then records the size in the header. */
  growTo(newSize: number): void;
  /**
   * reserve gives a range of the file real blocks again (posix_fallocate) before it is written: a range that was
   * released reads as zeros and has no blocks, and a write into it through the mapping on a full disk would be a
   * SIGBUS. Throws IO_ERROR (ENOSPC) instead.
   */
  reserve(offset: number, length: number): void;
  /**
   * release gives a range's blocks back to the file system (a hole: it reads as zeros, the file keeps its length)
   * and returns true; false when it could not (best effort: a file system that cannot punch holes keeps the blocks,
   * and the region remembers it in punching), in which case the range holds what it held.
   */
  release(offset: number, length: number): boolean;
  /**
   * prefault is advice that the range, which has real blocks, is about to be written whole: a mapping makes its
   * pages present and writable at once rather than one fault a page. It changes no byte.
   */
  prefault(offset: number, length: number): void;
  /** punching: 'supported' once a release worked, 'unsupported' once the file system refused one, else 'unknown'. */
  readonly punching: Punching;
}

export type Punching = 'supported' | 'unsupported' | 'unknown';
