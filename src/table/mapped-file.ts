/**
 * MappedFile: one store file mapped read-write and shared, by one thread. The mapping covers the file rounded up to
 * a power of two (at least 1 MiB): V8 counts a mapped Buffer as external memory and collects garbage when that
 * grows, so mapping the whole 1 GiB ceiling would cost a full GC at every open. When the file outgrows the mapping
 * (grown by this thread, or by another: catchUp), it is mapped again, larger; the old mapping stays valid until
 * it is collected. Only bytes below the header's fileSize are ever touched, because pages past the end of the file
 * raise SIGBUS.
 */
import * as fs from 'node:fs';
import mmapModule from '@riaskov/mmap-io';
import { HEADER_SIZE, Header, MAX_FILE_SIZE } from '../format/layout.js';
import { native } from '../native.js';
import { DataStoreError } from '../api/errors.js';

// The package's types declare `export default`, but its CommonJS exports are the API itself.
const mmap = mmapModule as unknown as (typeof mmapModule)['default'];
const READ_WRITE = (mmap.PROT_READ | mmap.PROT_WRITE) as 3;

const MIN_MAPPING = 1 << 20;

/** mappingLength is the power of two, from 1 MiB to MAX_FILE_SIZE, that covers size bytes. */
function mappingLength(size: number): number {
  let length = MIN_MAPPING;
  while (length < size && length < MAX_FILE_SIZE) length *= 2;
  return length;
}

export class MappedFile {
  /**
   * bytes is the mapping; words views it as u32 for aligned field access; atomics for the lock word. All three are
   * replaced when the file is mapped again: read them from here at each use, not from a copy kept across growth.
   */
  bytes!: Buffer;
  words!: Uint32Array;
  atomics!: Int32Array;

  constructor(readonly fd: number, readonly path: string, size: number) {
    this.map(mappingLength(size));
  }

  private map(length: number): void {
    let bytes: Buffer;
    try {
      bytes = mmap.map(length, READ_WRITE, mmap.MAP_SHARED, this.fd, 0);
    } catch (cause) {
      throw new DataStoreError('IO_ERROR', `cannot map ${length} bytes of ${this.path}: ${(cause as Error).message}`, { cause });
    }
    this.bytes = bytes;
    this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, length / 4);
    this.atomics = new Int32Array(bytes.buffer, bytes.byteOffset, length / 4);
  }

  /** size is the file's length as the header records it: the bound of every access. */
  get size(): number {
    return this.words[Header.fileSize >>> 2]!;
  }

  /** catchUp maps the file again when it has grown past the mapping (another thread grew it). O(1) otherwise. */
  catchUp(): void {
    const size = this.size;
    if (size > this.bytes.length) this.map(mappingLength(size));
  }

  /** growTo extends the file with allocated blocks (a full disk fails here, not later as SIGBUS). */
  growTo(newSize: number): void {
    const oldSize = this.size;
    const err = native.allocate(this.fd, oldSize, newSize - oldSize);
    if (err !== 0) {
      try { fs.ftruncateSync(this.fd, oldSize); } catch { /* the header still says oldSize; reopen checks it */ }
      const cause = Object.assign(new Error(`posix_fallocate: errno ${err}`), { errno: err });
      throw new DataStoreError('IO_ERROR', `cannot grow ${this.path} from ${oldSize} to ${newSize} bytes (errno ${err})`, { cause });
    }
    if (newSize > this.bytes.length) this.map(mappingLength(newSize));
    this.words[Header.fileSize >>> 2] = newSize;
  }

  /** flush writes the mapped pages to the file (msync) and waits for the disk. */
  flush(): void {
    this.sync(this.size);
  }

  /** flushHeader writes the header page alone: O(1), for the open and close marks. */
  flushHeader(): void {
    this.sync(HEADER_SIZE);
  }

  private sync(length: number): void {
    try {
      mmap.sync(this.bytes, 0, length, true, false);
    } catch (cause) {
      throw new DataStoreError('IO_ERROR', `cannot flush ${this.path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** close releases the descriptor and drops the views; the mapping goes when the Buffer is collected. */
  close(): void {
    fs.closeSync(this.fd);
    const none = new Uint8Array(0);
    this.bytes = Buffer.from(none.buffer);
    this.words = new Uint32Array(0);
    this.atomics = new Int32Array(0);
  }
}
