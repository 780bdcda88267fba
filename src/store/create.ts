/**
 * Creating a store file, in place: in the file at the store's path, while this process holds its lock. The file
 * keeps its owner, group, permissions and name, and an existing empty file becomes a store even in a folder this
 * process may not write. The order of writes makes every crash leave a file that opens as a new store
 * (spec section 10, "Creating a file"):
 *
 * 1. a file of zero bytes (created with mode 0600 when there is none, then its folder synced);
 * 2. its blocks allocated: the file is all zeros;
 * 3. the new store written, all but its first byte, and synced;
 * 4. the first byte (0x89, which begins the magic) written and synced: from here on it is a store.
 *
 * A file cut short before step 4 holds nothing but zeros and the new store's own bytes, and no record:
 * isUnfinishedStore recognises it, and it is made a store again.
 */
import { closeSync, constants, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HEADER_SIZE, MIN_TABLE_CAPACITY, SLAB_SIZE, slabsForTable } from '../format/layout.js';
import { sealHeader, writeNewHeader } from '../format/header.js';
import { Table } from '../table/table.js';
import type { Punching, Region } from '../table/region.js';
import { native } from '../native.js';
import { errnoError, ioError } from '../errors.js';
import { crashPoint } from './crash-points.js';

/** A new store: the header and its first bucket array. Record spans come as they are needed. */
export const NEW_FILE_SIZE = HEADER_SIZE + slabsForTable(MIN_TABLE_CAPACITY) * SLAB_SIZE;

/** MemoryRegion: a file's bytes held in memory, for building a new store before it is written out. */
class MemoryRegion implements Region {
  readonly bytes: Buffer;
  readonly words: Uint32Array;
  readonly atomics: Int32Array;
  readonly punching: Punching = 'unknown';

  constructor(readonly size: number) {
    this.bytes = Buffer.alloc(size);
    this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, size / 4);
    this.atomics = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, size / 4);
  }

  growTo(newSize: number): void {
    throw new Error(`a new store is ${this.size} bytes; it cannot grow to ${newSize} before it is written`);
  }

  reserve(): void { /* memory is always there */ }
  prefault(): void { /* memory is always there */ }
  release(): boolean { return false; /* nothing to give back before the file exists */ }
}

let image: Buffer | undefined;

/** newStoreImage returns the bytes of a new, empty, cleanly closed store (the same bytes every time). */
export function newStoreImage(): Buffer {
  if (image === undefined) {
    const region = new MemoryRegion(NEW_FILE_SIZE);
    writeNewHeader(region.bytes, NEW_FILE_SIZE);
    new Table(region, NEW_FILE_SIZE).createIndex();
    sealHeader(region.bytes);
    image = region.bytes;
  }
  return image;
}

/**
 * createEmptyFile makes an empty file at realPath (mode 0600) unless one is there, and syncs its folder so that
 * the name lasts. The store is then made in it, under its lock, by initializeStore.
 */
export function createEmptyFile(realPath: string): void {
  try {
    closeSync(openSync(realPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return; // another process made it first: use it
    throw ioError(`cannot create the store ${realPath}`, cause);
  }
  try {
    syncFolder(dirname(realPath));
  } catch { /* the file exists; only its name's durability across power loss is at stake */ }
}

/**
 * temporaryPath names a new file beside `file`, in its folder, hidden: `.NAME.XXXXXXXXXXXX.SUFFIX`, twelve random hex
 * digits. The caller creates it exclusively (O_EXCL), so a name already taken fails rather than being reused.
 */
export function temporaryPath(file: string, suffix: string): string {
  const random = Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0');
  return join(dirname(file), `.${basename(file)}.${random}.${suffix}`);
}

/** syncFolder makes the folder's entries (a new name) durable. */
export function syncFolder(folder: string): void {
  const fd = openSync(folder, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * isUnfinishedStore tells whether the locked file of `size` bytes is empty or a creation cut short: at most
 * NEW_FILE_SIZE bytes, the first not yet written, and every other byte 0 or the new store's byte at its offset.
 * Such a file holds no record, so nothing is lost when it is made a store again.
 */
export function isUnfinishedStore(fd: number, size: number): boolean {
  if (size === 0) return true;
  if (size > NEW_FILE_SIZE) return false;
  const first = Buffer.alloc(1);
  if (readSync(fd, first, 0, 1, 0) !== 1 || first[0] !== 0) return false; // the common case: a store, or foreign
  const bytes = Buffer.alloc(size);
  for (let read = 0; read < size;) {
    const n = readSync(fd, bytes, read, size - read, read);
    if (n === 0) return false;
    read += n;
  }
  const store = newStoreImage();
  for (let i = 1; i < size; i++) if (bytes[i] !== 0 && bytes[i] !== store[i]) return false;
  return true;
}

/** initializeStore writes a new store into the locked, empty (or unfinished) file, in the order given above. */
export function initializeStore(fd: number, realPath: string): void {
  const store = newStoreImage();
  try {
    const err = -native.allocate(fd, 0, store.length);
    if (err !== 0) throw errnoError(err, 'posix_fallocate');
    crashPoint('create.allocated');
    writeAt(fd, store.subarray(1), 1);
    fsyncSync(fd);
    crashPoint('create.written');
    writeAt(fd, store.subarray(0, 1), 0);
    fsyncSync(fd);
  } catch (cause) {
    try { ftruncateSync(fd, 0); } catch { /* still an unfinished store: the next open starts again */ }
    throw ioError(`cannot create the store ${realPath}`, cause);
  }
}

function writeAt(fd: number, bytes: Uint8Array, offset: number): void {
  for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written, offset + written);
}
