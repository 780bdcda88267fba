/**
 * SharedStore: one open store file as seen by one thread, and the file's lifecycle: create, open (check, resume or
 * recover), mark open, seal, close, map and unmap. Every DataStore handle on this thread for the same file shares
 * it; threads of the process share the file through the addon's per-process lock; other processes are kept out by
 * that lock. The protocol, with what a crash between any two of its writes leaves, is spec section 10.
 */
import { fstatSync, readSync } from 'node:fs';
import {
  BUSY_CHANGING, BUSY_DAMAGED, BUSY_IDLE, FORMAT_VERSION, HEADER_SIZE, Header, READ_VERSION, STATE_CLEAN, STATE_OPEN,
} from '../format/layout.js';
import {
  checkHeaderBounds, clearOpenMark, closedChecksum, isClean, isHeapEnd, openMarkIs, readLastWriteAt, recordedLength,
  writeFixedFields, writeLastWriteAt, writeOpenMark,
} from '../format/header.js';
import { headerField, setHeaderField, wordOf } from '../format/fields.js';
import { Table } from '../table/table.js';
import { rebuild, type RecoveryReport } from '../table/recovery.js';
import { forgetExpiredCount } from '../table/expiry.js';
import { native } from '../native.js';
import { DataStoreError, errnoNumbers, ioError } from '../errors.js';
import { MappedFile } from './mapped-file.js';
import { StoreLock } from './lock.js';
import { createEmptyFile, initializeStore, isUnfinishedStore } from './create.js';
import { upgradeStoreFile } from './upgrade.js';
import { isPreviousVersion, upgradedHeader } from './upgrade-in-place.js';
import { crashPoint } from './crash-points.js';
import { openMarkOf, unwrittenSince } from './open-mark.js';
import { Transaction } from './transaction.js';
import { beginRepair, checkBeforeMapping, namesFile, openError, restoreLength } from './before-mapping.js';
import { KeyBuffer } from '../table/key-buffer.js';

const SEQUENCE = wordOf(Header.sequence); // for Atomics

/**
 * OpenedFrom is how this thread found the file when it opened it: closed cleanly ('clean'), left open and used as
 * it was ('resumed'), left open and rebuilt ('recovered'), rebuilt because the open asked for a repair
 * ('repaired'), or already open in another thread of the process, which found it as one of those ('shared').
 */
export type OpenedFrom = 'clean' | 'resumed' | 'recovered' | 'repaired' | 'shared';
const openStores = new Map<string, SharedStore>();
/** How often open starts over when the file it locked was replaced (a store created in its place) meanwhile. */
const OPEN_ATTEMPTS = 8;

export class SharedStore {
  handles = 1;
  /** True once this thread has let go of the file (its last handle closed, or the exit hook closed it). */
  closed = false;
  /** What recovery did when this thread found the store needing it (at open, or after a thread died mid-change). */
  recovered: RecoveryReport | null = null;
  openedFrom: OpenedFrom = 'shared';
  readonly lock: StoreLock;
  /** This thread's transaction on the store: every change is made through it (write-path.ts). */
  readonly transaction: Transaction;
  /** The key of the call under way on this thread, encoded for the index (write-path.ts's encodeKey). */
  readonly key = new KeyBuffer();
  /** True while this thread uses the file as its open resumed it, with no rebuild since (endDamagedChange). */
  #resumedAsFound = false;

  private constructor(readonly path: string, private readonly lockId: number, readonly file: MappedFile, readonly table: Table) {
    this.lock = new StoreLock(file);
    this.transaction = new Transaction(table, file);
  }

  /**
   * open returns this thread's SharedStore for the file, opening it when this thread has not yet. The first
   * thread of the process to open the file prepares it (creates, checks, resumes or recovers it) under the
   * store's setup mutex; later threads map it and go. With `repair`, the store is rebuilt from its records: by
   * the first open of the process even when its header would be refused (section 10, "Repair"); when it is
   * already open in the process (in this thread: `existing`; in another: `prepared` in #openLocked), under the
   * lock, as repair() does (#repairNow).
   */
  static open(realPath: string, maxSize: number, repair = false): SharedStore {
    const existing = openStores.get(realPath);
    if (existing) {
      if (repair) existing.#repairNow(); // before the handle counts: a repair that fails opens nothing
      existing.handles++;
      return existing;
    }
    const upgrade: { report: RecoveryReport | null } = { report: null };
    for (let attempt = 1; ; attempt++) {
      const lockId = native.acquire(realPath);
      if (lockId < 0) {
        if (-lockId === errnoNumbers().ENOENT && attempt < OPEN_ATTEMPTS) {
          createEmptyFile(realPath); // made a store under its lock, below
          continue;
        }
        throw openError(realPath, -lockId);
      }
      const store = SharedStore.#openLocked(realPath, maxSize, lockId, native.descriptor(lockId), attempt < OPEN_ATTEMPTS, repair, upgrade);
      if (store !== null) return store;
    }
  }

  /**
   * #openLocked maps and, in the process's first thread, prepares the locked file; null to start over. An upgrade
   * of a version 1 file leaves its report in `upgrade`, for the store opened afresh to tell (stats().recovered).
   */
  static #openLocked(
    realPath: string, maxSize: number, lockId: number, fd: number, mayRetry: boolean, repair: boolean,
    upgrade: { report: RecoveryReport | null },
  ): SharedStore | null {
    const prepared = native.setupEnter(lockId);
    let file: MappedFile | null = null;
    try {
      let size = 0;
      let lengthRestored = false;
      if (!prepared) {
        if (!namesFile(realPath, fd)) {
          if (!mayRetry) throw new DataStoreError('IO_ERROR', `${realPath} keeps being replaced while it is opened`);
          native.setupLeave(lockId, 0, 1);
          return null;
        }
        size = fstatSync(fd).size;
        if (isUnfinishedStore(fd, size)) {
          initializeStore(fd, realPath); // an empty file becomes a new store, in place
          size = fstatSync(fd).size;
        }
        const head = Buffer.alloc(HEADER_SIZE);
        readSync(fd, head, 0, Math.min(size, HEADER_SIZE), 0);
        // A version 2 header is checked as the version 3 header its first change makes it (upgrade-in-place.ts).
        const plan = checkBeforeMapping(isPreviousVersion(head, size) ? upgradedHeader(head, size, repair) : head, size, repair);
        if (plan === 'upgrade') {
          upgrade.report = upgradeStoreFile(realPath, fd, size, Date.now()).report; // replaced by a current store
          native.setupLeave(lockId, 0, 1);
          return null;
        }
        if (plan === 'repair') size = beginRepair(fd, realPath, head, size);
        else if (!isClean(head) && recordedLength(head, size) !== size) {
          size = restoreLength(fd, realPath, size, recordedLength(head, size));
          lengthRestored = true;
        }
      }
      file = new MappedFile(fd, realPath, size);
      if (prepared) file.catchUp(); // else the header is not trusted until #prepare has checked or rebuilt it
      const store = new SharedStore(realPath, lockId, file, new Table(file, maxSize));
      if (!prepared) store.#prepare(size, repair, lengthRestored);
      else if (repair) store.#repairNow();
      store.recovered ??= upgrade.report;
      openStores.set(realPath, store);
      installExitHook();
      native.setupLeave(lockId, 1, 0);
      return store;
    } catch (error) {
      try { file?.close(); } finally { native.setupLeave(lockId, prepared ? 1 : 0, 1); }
      throw error instanceof DataStoreError ? error : ioError(`cannot open ${realPath}`, error);
    }
  }

  /**
   * #prepare runs in the first thread of the process to open the file. A clean file is checked and stays marked
   * clean until its first change (markOpen), so opening writes nothing to the disk, and a process that only reads
   * leaves the file clean even if it dies. A file left open is resumed as it is when its open mark shows the OS
   * kept every write and no change was in flight; otherwise (and always when its length had to be restored: it is
   * not as its writer left it) it is rebuilt from its records.
   */
  #prepare(sizeOnDisk: number, repair: boolean, lengthRestored: boolean): void {
    const w = this.file.words;
    if (repair) {
      this.#readyForRepair(sizeOnDisk);
      this.recovered = rebuild(this.table, Date.now(), sizeOnDisk);
      this.file.flush();
      this.#writeOpenMark();
      this.openedFrom = 'repaired';
    } else if (isClean(this.file.bytes)) {
      this.table.checkIndex();
      this.openedFrom = 'clean';
    } else if (lengthRestored || !this.#survivedIntact(sizeOnDisk)) {
      this.recovered = rebuild(this.table, Date.now(), sizeOnDisk); // refuses, writing nothing, or rebuilds
      this.#writeVersion();
      this.file.flush();
      this.#writeOpenMark();
      this.openedFrom = 'recovered';
    } else {
      if (headerField(this.file.words, Header.formatVersion) !== FORMAT_VERSION) {
        this.#writeVersion();
        this.file.flushHeader(); // on disk before a change can write what version 2 would misread
      }
      this.openedFrom = 'resumed';
      this.#resumedAsFound = true;
    }
    // Run-time fields, outside the header checksum: changing them leaves a clean file clean. (The sequence is odd
    // only in a file left open in the middle of a change; a closed file has it even.)
    setHeaderField(w, Header.ownerPid, process.pid);
    setHeaderField(w, Header.busy, BUSY_IDLE);
    forgetExpiredCount(w); // another process, or a reader that died, may have left a count of another time
    const sequence = headerField(w, Header.sequence);
    if ((sequence & 1) !== 0) setHeaderField(w, Header.sequence, sequence + 1);
    this.lock.reset(); // and, in a file left open, notes these writes in lastWriteAt
  }

  /**
   * #readyForRepair makes the header of a file under repair (state 2, beginRepair) one that rebuild can work from
   * (section 10, "Repair"): the fixed fields, the file's length and a heapEnd written anew, and only then
   * state = open, synced. A crash before that leaves a file that only a repair opens; one after it, a file the
   * next open recovers with that heapEnd.
   */
  #readyForRepair(fileSize: number): void {
    const { bytes, words } = this.file;
    const recorded = headerField(words, Header.heapEnd);
    const heapEnd = isHeapEnd(recorded, fileSize) ? recorded : HEADER_SIZE; // a rebuild raises it to the last data
    writeFixedFields(bytes);
    setHeaderField(words, Header.fileSize, fileSize);
    setHeaderField(words, Header.heapEnd, heapEnd);
    crashPoint('repair.header');
    setHeaderField(words, Header.state, STATE_OPEN);
    this.file.flushHeader();
    crashPoint('repair.marked');
  }

  /** #repairNow rebuilds a store already in use from its records, under the lock: what repair() does. */
  #repairNow(): void {
    this.lock.enter();
    try {
      this.catchUp();
      this.recovered = this.repairLocked();
    } finally {
      this.lock.leave();
    }
  }

  /** repairLocked rebuilds the store from its records, as one change, and writes it to the disk. Lock held. */
  repairLocked(): RecoveryReport {
    this.markOpen();
    const report = this.rebuild();
    this.file.flush();
    return report;
  }

  /**
   * #survivedIntact tells whether a file left open can be used as it is: its writer died with no change in
   * flight (busy = 0), in this boot of the OS, through this mount of its file system (so the page cache kept every
   * write), it is the same file (device and inode), nothing has written it since the writer last did (its ctime,
   * unwrittenSince: a backup restored over it would match the mark too), and its header's bounds and bucket
   * arrays hold.
   */
  #survivedIntact(sizeOnDisk: number): boolean {
    const bytes = this.file.bytes;
    if (headerField(this.file.words, Header.busy) !== BUSY_IDLE || !openMarkIs(bytes, openMarkOf(this.file.fd))) return false;
    if (checkHeaderBounds(bytes, sizeOnDisk) !== null) return false;
    if (!unwrittenSince(this.file.fd, readLastWriteAt(this.file.words))) return false;
    try {
      this.table.checkIndex();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * markOpen makes the file say "open" on disk before its first change: were the OS to write changed pages back
   * and then crash, the next open must not trust the counters and lists of a header that still says "clean".
   * The state goes first: the open mark lies inside the clean header's checksum. O(1) after the first call.
   * Lock held.
   */
  markOpen(): void {
    if (headerField(this.file.words, Header.state) === STATE_OPEN) return;
    setHeaderField(this.file.words, Header.state, STATE_OPEN);
    crashPoint('mark-open.state');
    this.#writeVersion();
    this.#writeOpenMark();
  }

  /**
   * #writeVersion makes a version 2 file version 3 (upgrade-in-place.ts), in a file in state 1 only (the fields lie
   * inside the closed checksum): from here on it may hold what version 2 readers would misread.
   */
  #writeVersion(): void {
    setHeaderField(this.file.words, Header.formatVersion, FORMAT_VERSION);
    setHeaderField(this.file.words, Header.readVersion, READ_VERSION);
  }

  #writeOpenMark(): void {
    writeOpenMark(this.file.bytes, openMarkOf(this.file.fd));
    this.file.flushHeader();
  }

  /** flush writes every change so far to the disk (msync). Lock held. */
  flush(): void {
    this.file.flush();
  }

  /** inCall tells whether this thread is inside a call on the store: holding its lock, or in a transaction. */
  inCall(): boolean {
    return this.transaction.depth > 0 || this.lock.heldByThisThread();
  }

  /**
   * beginChange opens a change: the sequence goes odd, so that readers without the lock retry or wait, and busy
   * says a change is under way (found so by the next holder of the lock, its maker died). Lock held.
   */
  beginChange(): void {
    const atomics = this.file.atomics;
    Atomics.store(atomics, SEQUENCE, Atomics.load(atomics, SEQUENCE) | 1);
    setHeaderField(this.file.words, Header.busy, BUSY_CHANGING);
  }

  /** endChange closes a change, leaving busy as given, and moves the sequence to a new even value. Lock held. */
  endChange(busy: number = BUSY_IDLE): void {
    const atomics = this.file.atomics;
    setHeaderField(this.file.words, Header.busy, busy);
    Atomics.store(atomics, SEQUENCE, (Atomics.load(atomics, SEQUENCE) | 1) + 1);
  }

  /**
   * readBegin starts a read without the lock (spec section 11): it returns the sequence, even, or an odd number
   * while a change is under way. The read is valid if readValid(sequence) holds after it: no change began meanwhile.
   * The sequence is a 32-bit word that wraps (through negative values as an Int32Array element): only its parity
   * and its equality matter. Nothing is written to the file; the view is made larger if another thread grew the file.
   */
  readBegin(): number {
    const sequence = Atomics.load(this.file.atomics, SEQUENCE);
    if ((sequence & 1) === 0) this.file.catchUp();
    return sequence;
  }

  readValid(sequence: number): boolean {
    return Atomics.load(this.file.atomics, SEQUENCE) === sequence;
  }

  /**
   * catchUp runs first under the lock in every operation: it makes a larger view if another thread grew the file,
   * and rebuilds the store when the last change under the lock did not finish (its thread died). A store marked
   * damaged (a change met FILE_CORRUPT) is not rebuilt: only an explicit repair does that.
   */
  catchUp(): void {
    this.file.catchUp();
    if (headerField(this.file.words, Header.busy) !== BUSY_CHANGING) return;
    this.recovered = this.rebuild();
  }

  /** rebuild rebuilds the store from its records as one change (a rebuild cut short is done again). Lock held. */
  rebuild(): RecoveryReport {
    this.beginChange();
    const report = rebuild(this.table, Date.now(), this.file.size);
    this.#resumedAsFound = false;
    this.endChange();
    return report;
  }

  /**
   * endDamagedChange closes a change that met damage (FILE_CORRUPT). A file this thread resumed as it found it,
   * with no rebuild since, is rebuilt now, within the change, as an open that could not prove it whole would have
   * rebuilt it: the damage may be what the resume could not see, and refusing every change would leave the keys a
   * rebuild finds missing. Otherwise it is marked damaged (busy = 2): changes are refused until a repair. Lock held.
   */
  endDamagedChange(): void {
    if (this.#resumedAsFound) {
      try {
        this.recovered = rebuild(this.table, Date.now(), this.file.size);
        this.#resumedAsFound = false;
        this.endChange(BUSY_IDLE);
        return;
      } catch { /* the rebuild met damage it cannot get past: marked damaged, as below */ }
    }
    this.endChange(BUSY_DAMAGED);
  }

  /**
   * release drops one handle, after writing every change so far to the disk. The process's last handle seals
   * the file and lets go of its lock. Deciding "last" and dropping the reference happen under the store's setup
   * mutex, so of several threads closing at once exactly the last one seals.
   */
  release(): void {
    try {
      this.lock.enter();
      try {
        this.catchUp();
        if (headerField(this.file.words, Header.state) === STATE_OPEN) this.file.flush();
      } finally {
        this.lock.leave();
      }
    } finally {
      if (--this.handles === 0) this.#closeThread();
    }
  }

  #closeThread(): void {
    this.closed = true; // handles still held (an exit listener's, after the exit hook) now say STORE_CLOSED
    openStores.delete(this.path);
    native.setupEnter(this.lockId);
    let prepared = true;
    try {
      if (native.references(this.lockId) === 1) {
        this.lock.enter();
        try {
          this.catchUp();
          this.#seal();
        } finally {
          this.lock.leave();
        }
        prepared = false; // a thread that opens it again must check it again
      }
    } finally {
      try { this.file.close(); } finally { native.setupLeave(this.lockId, prepared ? 1 : 0, 1); }
    }
  }

  /**
   * #seal marks the file cleanly closed: the blocks of free spans and of the unused tail given back, every page to disk, then the open
   * mark cleared, the closed checksum, and last the state, each a store the next opener reads whole; then the
   * header page to disk. Lock held.
   */
  #seal(): void {
    const w = this.file.words;
    setHeaderField(w, Header.ownerPid, 0);
    forgetExpiredCount(w); // a closed file has its run-time fields at zero
    if (headerField(w, Header.state) !== STATE_OPEN) return;
    this.table.heap.releaseFreeSpans();
    this.table.heap.releaseTail();
    crashPoint('seal.released');
    this.file.flush();
    crashPoint('seal.flushed');
    clearOpenMark(this.file.bytes);
    writeLastWriteAt(w, 0);
    setHeaderField(w, Header.sequence, 0); // a closed file has its run-time fields at zero
    crashPoint('seal.unmarked');
    setHeaderField(w, Header.checksum, closedChecksum(this.file.bytes));
    crashPoint('seal.checksum');
    setHeaderField(w, Header.state, STATE_CLEAN);
    crashPoint('seal.state');
    this.file.flushHeader();
  }

  /**
   * closeAtExit closes this thread's store when the thread exits without close() (process.exit, an uncaught
   * error). Not if this thread holds the lock (exit called from inside an operation): the file stays open, to be
   * resumed or recovered by the next open. Handles still held then read as closed: a later exit listener's close()
   * does nothing, and its reads are refused with STORE_CLOSED.
   */
  closeAtExit(): void {
    if (this.lock.heldByThisThread()) return;
    this.handles = 1;
    this.release();
  }
}

let exitHookInstalled = false;

/** installExitHook closes the thread's open stores when it exits without closing them. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const store of [...openStores.values()]) {
      try { store.closeAtExit(); } catch { /* the next open resumes or recovers the file */ }
    }
  });
}
