/**
 * MappedFile: one store file mapped read-write and shared, by one thread.
 *
 * The addon maps the whole MAX_FILE_SIZE at once, so the mapping never moves: growing the file needs no new
 * mapping, and a view made before the file grew stays valid. JavaScript reads and writes through views (typed
 * arrays over the mapping) that end exactly at the file's end as the header records it, which the file on disk
 * never falls short of while it is open: an offset past it, even one from a torn read by a thread without the
 * lock, reads nothing rather than touching a page past the end of the file (SIGBUS). New views are made when the
 * file grows (by this thread, or by another: catchUp).
 *
 * close unmaps at once, after detaching every view: a view kept by mistake then reads as empty, never as freed
 * memory.
 */
import { HEADER_SIZE, Header, MAX_FILE_SIZE } from '../format/layout.js';
import { isStoreLength } from '../format/header.js';
import { headerField, setHeaderField } from '../format/fields.js';
import { native } from '../native.js';
import { DataStoreError, errnoError, errnoNumbers, ioError } from '../errors.js';
import type { Punching, Region } from '../table/region.js';
import { crashPoint } from './crash-points.js';
import { ftruncateSync } from 'node:fs';

export class MappedFile implements Region {
  bytes!: Buffer;
  words!: Uint32Array;
  atomics!: Int32Array;
  punching: Punching = 'unknown';
  readonly #mapping: number;
  /** The ArrayBuffer the views are made of: it may reach past the file's end, so it is never handed out. */
  #buffer: ArrayBuffer | undefined;

  /** fd is the process's descriptor of the file, owned by the addon's file lock: this class never closes it. */
  constructor(readonly fd: number, readonly path: string, size: number) {
    const mapping = native.map(fd, MAX_FILE_SIZE);
    if (mapping < 0) throw ioError(`cannot map ${path}`, errnoError(-mapping, 'mmap'));
    this.#mapping = mapping;
    this.#view(Math.max(size, HEADER_SIZE));
  }

  /**
   * #view makes bytes, words and atomics end at `length`, the file's end: they bound every access. They view an
   * ArrayBuffer of the mapping at least that long. One made when the file grows is twice as long as the last (up to
   * the mapping), so that a file growing by small steps makes a new one only now and then: the engine counts each
   * as memory allocated outside its heap, and each new one brings a garbage collection nearer. No view is ever made
   * of the buffer beyond `length`.
   */
  #view(length: number): void {
    let buffer = this.#buffer;
    if (buffer === undefined || buffer.byteLength < length) {
      const reach = buffer === undefined ? length : Math.min(MAX_FILE_SIZE, Math.max(length, 2 * buffer.byteLength));
      buffer = this.#buffer = native.view(this.#mapping, reach);
    }
    this.bytes = Buffer.from(buffer, 0, length);
    this.words = new Uint32Array(buffer, 0, length / 4);
    this.atomics = new Int32Array(buffer, 0, length / 4);
  }

  get size(): number {
    return headerField(this.words, Header.fileSize);
  }

  /** catchUp makes a larger view when another thread has grown the file past this one. O(1) otherwise. */
  catchUp(): void {
    const size = this.size;
    if (size === this.bytes.length) return;
    if (!isStoreLength(size)) {
      throw new DataStoreError('FILE_CORRUPT', `header fileSize ${size} is not a store's length`);
    }
    this.#view(size);
  }

  /**
   * growTo extends the file with allocated blocks (a full disk fails here, not later as SIGBUS), then raises the
   * header's fileSize. The new length is not synced here: a sync would also write back every page changed so far
   * (and make the next write to each fault again), at each growth. The kernel may write the header page back before
   * the file system commits the new length; after power loss, the next open finds a header longer than the file,
   * gives the file that length back and rebuilds (spec section 10, "A change"). A flush (msync) makes the length
   * durable with the data. On failure the file is cut back to the size the header records.
   */
  growTo(newSize: number): void {
    const oldSize = this.size;
    const err = -native.allocate(this.fd, oldSize, newSize - oldSize);
    if (err !== 0) {
      try { ftruncateSync(this.fd, oldSize); } catch { /* the header still says oldSize; the next open checks it */ }
      throw ioError(`cannot grow ${this.path} from ${oldSize} to ${newSize} bytes`, errnoError(err, 'posix_fallocate'));
    }
    crashPoint('grow.allocated');
    setHeaderField(this.words, Header.fileSize, newSize);
    this.#view(newSize);
  }

  reserve(offset: number, length: number): void {
    const err = -native.allocate(this.fd, offset, length);
    if (err !== 0) throw ioError(`cannot allocate ${length} bytes at ${offset} of ${this.path}`, errnoError(err, 'posix_fallocate'));
  }

  prefault(offset: number, length: number): void {
    native.prefault(this.#mapping, offset, length); // advice: a failure changes nothing, and the writes fault as before
  }

  release(offset: number, length: number): boolean {
    if (this.punching === 'unsupported') return false;
    const err = -native.punch(this.fd, offset, length);
    if (err === 0) this.punching = 'supported';
    else if (err === errnoNumbers().EOPNOTSUPP || err === errnoNumbers().ENOSYS) this.punching = 'unsupported';
    // Any other failure keeps the blocks: the space is still the store's, only not given back this time.
    return err === 0;
  }

  /** flush writes the mapped pages to the file (msync) and waits for the disk. */
  flush(): void {
    this.#sync(this.size);
  }

  /** flushHeader writes the header page alone: O(1), for the open and close marks. */
  flushHeader(): void {
    this.#sync(HEADER_SIZE);
  }

  #sync(length: number): void {
    const err = -native.sync(this.#mapping, 0, length);
    if (err !== 0) throw ioError(`cannot flush ${this.path}`, errnoError(err, 'msync'));
  }

  /**
   * close detaches every view and unmaps the file. The descriptor stays with the file lock. A view that cannot be
   * detached throws and leaves the memory mapped (and this object's views valid): nothing is unmapped under it.
   */
  close(): void {
    const err = -native.unmap(this.#mapping);
    this.bytes = Buffer.alloc(0);
    this.words = new Uint32Array(0);
    this.atomics = new Int32Array(0);
    if (err !== 0) throw ioError(`cannot unmap ${this.path}`, errnoError(err, 'munmap'));
  }
}
