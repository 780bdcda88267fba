/**
 * Creating a store file, whole or not at all. The new store (its header and first bucket array, sealed clean) is
 * built in memory, written to a temporary file in the same folder, synced, and only then given the store's name;
 * the folder is synced last. A kill or a full disk at any instant leaves no file, the empty file that was there,
 * or a complete store, never a file that is refused (spec section 10, "Creating").
 *
 * A path that does not exist gets the new file by link(2), which fails if another process created the store
 * meanwhile (its store is then used, not replaced). An empty file is replaced by rename(2) while this process
 * holds its lock; the file's permission bits are kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { HEADER_SIZE, MIN_TABLE_CAPACITY, SLAB_SIZE, slabsForTable } from '../format/layout.js';
import { sealHeader, writeNewHeader } from '../format/header.js';
import { Table } from '../table/table.js';
import type { Punching, Region } from '../table/region.js';
import { native } from '../native.js';
import { errnoError, ioError } from '../errors.js';
import { crashPoint } from './crash-points.js';

/** A new store: the header and its first bucket array. Record slabs come as they are needed. */
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
  release(): void { /* nothing to give back before the file exists */ }
}

/** newStoreImage returns the bytes of a new, empty, cleanly closed store. */
export function newStoreImage(): Buffer {
  const region = new MemoryRegion(NEW_FILE_SIZE);
  writeNewHeader(region.bytes, NEW_FILE_SIZE);
  new Table(region, NEW_FILE_SIZE).createIndex();
  sealHeader(region.bytes);
  return region.bytes;
}

/**
 * createStoreFile puts a new store at realPath. `replacing` is the empty file found there (its descriptor, held
 * locked by this process), or null when there is no file. The caller opens the path again afterwards.
 */
export function createStoreFile(realPath: string, replacing: number | null): void {
  const image = newStoreImage();
  const folder = path.dirname(realPath);
  const temp = path.join(folder, `.${path.basename(realPath)}.${randomBytes(6).toString('hex')}.creating`);
  let fd = -1;
  try {
    fd = fs.openSync(temp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    if (replacing !== null) fs.fchmodSync(fd, fs.fstatSync(replacing).mode & 0o7777);
    const err = native.allocate(fd, 0, image.length);
    if (err !== 0) throw errnoError(err, 'posix_fallocate');
    crashPoint('create.allocated');
    for (let written = 0; written < image.length;) written += fs.writeSync(fd, image, written, image.length - written, written);
    fs.fsyncSync(fd);
    crashPoint('create.written');
    if (replacing !== null) fs.renameSync(temp, realPath);
    else placeUnlessPresent(temp, realPath);
    crashPoint('create.placed');
    syncFolder(folder);
  } catch (cause) {
    try { fs.unlinkSync(temp); } catch { /* not made, or already renamed */ }
    throw ioError(`cannot create the store ${realPath}`, cause);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** placeUnlessPresent links temp at target unless a file is there already, and removes the name temp. */
function placeUnlessPresent(temp: string, target: string): void {
  try {
    fs.linkSync(temp, target);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') { fs.unlinkSync(temp); return; } // another process made the store first: use it
    // A file system without hard links: rename, which could replace a store created in this very instant.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      fs.renameSync(temp, target);
      return;
    }
    throw cause;
  }
  fs.unlinkSync(temp);
}

/** syncFolder makes the folder's entries (the new name) durable. */
export function syncFolder(folder: string): void {
  const fd = fs.openSync(folder, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
