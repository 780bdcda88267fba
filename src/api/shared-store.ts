/**
 * SharedStore: one open store file as seen by one thread. Every DataStore handle on this thread for the same file
 * shares it; threads of the process share the file through the addon's per-process lock; other processes are
 * kept out by that lock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  HEADER_SIZE, Header, MIN_TABLE_CAPACITY, SLAB_SIZE, STATE_OPEN, slabsForTable,
} from '../format/layout.js';
import { checkCleanHeader, checkIdentity, isClean, readU32, sealHeader, writeNewHeader } from '../format/header.js';
import { MappedFile } from '../table/mapped-file.js';
import { Table } from '../table/table.js';
import { rebuild, type RecoveryReport } from '../table/recovery.js';
import { native } from '../native.js';
import { DataStoreError, ioError } from './errors.js';
import { StoreLock } from './lock.js';

const H = (field: number): number => field >>> 2;
const openStores = new Map<string, SharedStore>();
/** A new store: the header and its first bucket array. Record slabs come as they are needed. */
const NEW_FILE_SIZE = HEADER_SIZE + slabsForTable(MIN_TABLE_CAPACITY) * SLAB_SIZE;

export class SharedStore {
  handles = 1;
  /** What recovery did when this thread found the store needing it (at open, or after a thread died mid-change). */
  recovered: RecoveryReport | null = null;
  readonly lock: StoreLock;

  private constructor(readonly path: string, private readonly lockId: number, readonly file: MappedFile, readonly table: Table) {
    this.lock = new StoreLock(file);
  }

  /** open returns this thread's SharedStore for the file, opening it when this thread has not yet. */
  static open(realPath: string, maxSize: number): SharedStore {
    const existing = openStores.get(realPath);
    if (existing) {
      existing.handles++;
      return existing;
    }
    const [lockId, detail] = native.acquire(realPath);
    if (lockId === 0) {
      if (detail === os.constants.errno.EWOULDBLOCK) throw lockedError(realPath);
      throw ioError(`cannot open ${realPath}`, errnoError(detail));
    }
    const prepared = native.setupEnter(lockId);
    let fd = -1;
    let file: MappedFile | null = null;
    try {
      fd = fs.openSync(realPath, 'r+');
      const size = fs.fstatSync(fd).size;
      if (!prepared) {
        checkBeforeMapping(fd, size);
        if (size === 0) growNewFile(fd, realPath);
      }
      file = new MappedFile(fd, realPath, Math.max(size, NEW_FILE_SIZE));
      const store = new SharedStore(realPath, lockId, file, new Table(file, maxSize));
      if (!prepared) store.prepare(size);
      openStores.set(realPath, store);
      native.setupLeave(lockId, 1);
      return store;
    } catch (error) {
      if (file) file.close();
      else if (fd >= 0) fs.closeSync(fd);
      native.setupLeave(lockId, prepared ? 1 : 0);
      native.release(lockId);
      throw error instanceof DataStoreError ? error : ioError(`cannot open ${realPath}`, error);
    }
  }

  /**
   * prepare runs in the first thread of the process to open the file: it creates, checks or recovers it. A clean
   * file stays marked clean until its first change (markOpen), so opening writes nothing to the disk, and a process
   * that only reads leaves the file clean even if it dies.
   */
  private prepare(sizeOnDisk: number): void {
    const bytes = this.file.bytes;
    if (sizeOnDisk === 0) {
      writeNewHeader(bytes, NEW_FILE_SIZE);
      this.table.createIndex();
      sealHeader(bytes);
      this.file.flush();
    } else if (isClean(bytes)) {
      this.table.checkIndex();
    } else {
      this.recovered = rebuild(this.table, Date.now(), sizeOnDisk);
      this.file.flush();
    }
    // Run-time fields, outside the header checksum: changing them leaves a clean file clean.
    this.file.words[H(Header.ownerPid)] = process.pid;
    this.file.words[H(Header.busy)] = 0;
    this.lock.reset();
  }

  /**
   * markOpen makes the file say "open" on disk before its first change: were the OS to write changed pages back
   * and then crash, the next open must not trust the counters and lists of a header that still says "clean".
   * O(1) after the first call. Lock held.
   */
  markOpen(): void {
    if (this.file.words[H(Header.state)] === STATE_OPEN) return;
    this.file.words[H(Header.state)] = STATE_OPEN;
    this.file.flushHeader();
  }

  /**
   * catchUp runs first under the lock in every operation: it maps the file again if another thread grew it, and
   * rebuilds the store when the last change under the lock did not finish (its thread died).
   */
  catchUp(): void {
    this.file.catchUp();
    if (this.file.words[H(Header.busy)] === 0) return;
    this.recovered = rebuild(this.table, Date.now(), this.file.size);
    this.file.words[H(Header.busy)] = 0;
  }

  /** release drops one handle; the last handle of the process closes the file cleanly. */
  release(): void {
    if (--this.handles > 0) return;
    openStores.delete(this.path);
    let prepared = native.setupEnter(this.lockId);
    try {
      if (native.references(this.lockId) === 1) {
        this.lock.enter();
        try {
          this.catchUp();
          this.file.words[H(Header.ownerPid)] = 0;
          if (this.file.words[H(Header.state)] === STATE_OPEN) {
            this.file.flush();
            sealHeader(this.file.bytes);
            this.file.flushHeader();
          }
        } finally {
          this.lock.leave();
        }
        prepared = false; // a thread that opens it again must check it again
      }
    } finally {
      native.setupLeave(this.lockId, prepared ? 1 : 0);
      this.file.close();
      native.release(this.lockId);
    }
  }
}

/** checkBeforeMapping reads the header with read(2) and refuses a foreign or damaged file before it is mapped. */
function checkBeforeMapping(fd: number, size: number): void {
  if (size === 0) return;
  const head = Buffer.alloc(HEADER_SIZE);
  fs.readSync(fd, head, 0, Math.min(size, HEADER_SIZE), 0);
  const problem = checkIdentity(head, size) ?? (isClean(head) ? checkCleanHeader(head, size) : null);
  if (problem) throw new DataStoreError(problem.code, problem.message);
}

function lockedError(realPath: string): DataStoreError {
  let pid = 0;
  try {
    const fd = fs.openSync(realPath, 'r');
    const word = Buffer.alloc(4);
    if (fs.readSync(fd, word, 0, 4, Header.ownerPid) === 4) pid = readU32(word, 0);
    fs.closeSync(fd);
  } catch { /* the pid is only for the message */ }
  return new DataStoreError('STORE_LOCKED', `${realPath} is open in another process${pid ? ` (pid ${pid})` : ''}`);
}

function growNewFile(fd: number, realPath: string): void {
  const err = native.allocate(fd, 0, NEW_FILE_SIZE);
  if (err !== 0) throw ioError(`cannot allocate ${NEW_FILE_SIZE} bytes for ${realPath}`, errnoError(err));
}

export function errnoError(errno: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${errnoName(errno)} (errno ${errno})`), { errno, code: errnoName(errno) });
}

function errnoName(errno: number): string {
  const names = os.constants.errno as Record<string, number>;
  return Object.keys(names).find((name) => names[name] === errno) ?? `errno ${errno}`;
}
