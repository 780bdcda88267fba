/**
 * Backup: a copy of a store in use, made by the process that holds it (spec section 10, "Backup"). The file's bytes
 * are copied by the kernel (copy_file_range, or a reflink where the file system shares blocks) while the store's
 * lock is held, between two changes, so the copy holds the store as it was at one instant; other threads' reads go
 * on meanwhile, and their changes wait for the copy alone. The copy, under a temporary name beside the target, is
 * then sealed as a last close seals a store (blocks of free space given back, run-time fields and open mark zero,
 * closed checksum, state 0), synced, and linked to the target name, which it never replaces; the folder is synced
 * last. A kill at any instant leaves the store as it was and, at the target, nothing or the whole backup.
 */
import {
  closeSync, constants, copyFileSync, fstatSync, fsyncSync, ftruncateSync, linkSync, lstatSync, openSync, unlinkSync,
} from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { BUSY_DAMAGED, BUSY_IDLE, Header, MAX_FILE_SIZE } from '../format/layout.js';
import { clearOpenMark, sealHeader, writeLastWriteAt } from '../format/header.js';
import { headerField, setHeaderField } from '../format/fields.js';
import { Heap } from '../table/heap.js';
import { DataStoreError, errnoError, errnoNumbers, ioError } from '../errors.js';
import { MappedFile } from './mapped-file.js';
import { syncFolder, temporaryPath } from './create.js';
import { crashPoint } from './crash-points.js';
import { exclusive } from './write-path.js';
import type { SharedStore } from './shared-store.js';

/**
 * backupStore writes a copy of the store, as it is now, to a new file at `target`. Refused, with nothing written:
 * a target that exists (a file, a folder, the store itself: IO_ERROR with the cause EEXIST) or names a folder
 * (FILE_INVALID), and a store marked damaged (FILE_CORRUPT: repair it first). Called without the lock; from inside a
 * transaction, REENTRANT_CALL.
 */
export function backupStore(store: SharedStore, target: string): void {
  const path = backupPath(target, store.path);
  const folder = dirname(path);
  const temp = temporaryPath(path, 'backup');
  let fd = -1;
  let placed = false;
  try {
    const size = exclusive(store, () => copyLocked(store, temp)); // between two transactions
    fd = openSync(temp, 'r+');
    if (fstatSync(fd).size !== size) ftruncateSync(fd, size); // a file grown on disk past its header's fileSize
    sealCopy(fd, temp, size);
    fsyncSync(fd);
    crashPoint('backup.written');
    linkSync(temp, path); // unlike rename(2), never replaces a file made there meanwhile: EEXIST
    placed = true;
    crashPoint('backup.placed');
    unlinkSync(temp);
    syncFolder(folder);
  } catch (cause) {
    if (!placed) try { unlinkSync(temp); } catch { /* not made */ }
    if (cause instanceof DataStoreError) throw cause;
    throw ioError(`cannot back up ${store.path} to ${path}`, cause);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * backupPath checks the target and returns it as an absolute path: a new name in a folder that exists, never the
 * store itself nor any other file (a backup replaces nothing).
 */
function backupPath(target: string, storePath: string): string {
  if (typeof target !== 'string' || target.length === 0) throw new DataStoreError('OPTION_INVALID', 'the backup path must be a non-empty string');
  if (target.endsWith('/') || target.endsWith(sep)) throw new DataStoreError('FILE_INVALID', `${target} names a folder, not a file for the backup`);
  const path = resolve(target);
  let stat;
  try {
    stat = lstatSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return path;
    throw ioError(`cannot back up to ${path}`, cause);
  }
  if (stat.isDirectory()) throw new DataStoreError('FILE_INVALID', `${path} is a folder; name a new file in it for the backup`);
  const store = lstatSync(storePath);
  const what = stat.dev === store.dev && stat.ino === store.ino ? 'is the store itself' : 'already exists';
  throw ioError(`cannot back up to ${path}: it ${what} (a backup replaces no file)`, errnoError(errnoNumbers().EEXIST, 'backup'));
}

/**
 * copyLocked copies the store's file to `temp` (a new file, of the store's mode) and returns the store's length. The
 * lock is held and caught up (a change a dead thread left half made is rebuilt first). Nothing is written to the store.
 */
function copyLocked(store: SharedStore, temp: string): number {
  if (headerField(store.file.words, Header.busy) === BUSY_DAMAGED) {
    throw new DataStoreError('FILE_CORRUPT', `an earlier change met damage in ${store.path}; repair it (repair(), slabkv repair) before a backup`);
  }
  // Through the descriptor the lock holds: the file the store has open, even if its name was replaced meanwhile.
  // The kernel reads the page cache, where the mapping's writes are.
  copyFileSync(`/proc/self/fd/${store.file.fd}`, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  crashPoint('backup.copied');
  return store.file.size;
}

/**
 * sealCopy makes the copy a cleanly closed store, as a last close does (section 10, "Closing"), but for a file no
 * one else has open: the blocks of its free spans and of its tail given back, the run-time fields and the open
 * mark zero, then the closed checksum and state 0; and the header page written.
 */
function sealCopy(fd: number, temp: string, size: number): void {
  const copy = new MappedFile(fd, temp, size);
  try {
    const heap = new Heap(copy, MAX_FILE_SIZE);
    heap.releaseFreeSpans();
    heap.releaseTail();
    const words = copy.words;
    for (const field of [Header.lockWord, Header.ownerPid, Header.sequence]) setHeaderField(words, field, 0);
    setHeaderField(words, Header.busy, BUSY_IDLE);
    clearOpenMark(copy.bytes);
    writeLastWriteAt(words, 0);
    sealHeader(copy.bytes);
    copy.flushHeader();
  } finally {
    copy.close();
  }
}
