/**
 * The one way into a store, as bbolt's db.Update and db.View: `write` brackets every change, `read` every lookup.
 *
 * write: the lock; catching up with other threads (a grown file, a dead thread's half change); the damage check;
 * marking the file open; busy and the odd sequence that hold readers off; the TTL sweep; then the change, made
 * through this thread's Transaction; then its commit (or, when it throws, its undo); busy and the sequence back; the
 * flush of durability 'always'. A write made from inside this thread's transaction joins it, as a savepoint: if it
 * throws, what it changed is undone and the transaction goes on.
 *
 * read: a lookup without the lock, kept only if no change began meanwhile (spec section 11), after a few tries under
 * the lock; inside this thread's transaction, directly, so that the transaction sees its own changes.
 */
import { BUSY_CHANGING, BUSY_DAMAGED, BUSY_IDLE, Header } from '../format/layout.js';
import { headerField } from '../format/fields.js';
import { KeyBuffer } from '../table/key-buffer.js';
import { sweep } from '../table/expiry.js';
import { DataStoreError } from '../errors.js';
import { crashPoint } from './crash-points.js';
import { reentrantCall } from './lock.js';
import type { SharedStore } from './shared-store.js';
import type { Transaction } from './transaction.js';

/** Buckets examined for expired records per change: reclaims expired space at a bounded cost per write. */
const SWEEP_BUDGET = 8;
/** Unlocked tries of a lookup before it waits for the lock: a change holds the sequence odd for microseconds. */
const UNLOCKED_ATTEMPTS = 64;

/** What a write needs to know of the handle making it. */
export interface Writer {
  /** the handle's maximum file size (its maxFileSize, rounded down to a slab boundary) */
  readonly maxSize: number;
  /** durability 'always': the change is on disk before write returns */
  readonly sync: boolean;
}

/** encodeKey puts a key already checked (src/api/validate.ts) into a key buffer: ASCII in one pass, else as UTF-8. */
export function encodeKey(buffer: KeyBuffer, key: string): KeyBuffer {
  if (!buffer.setAscii(key)) buffer.setUtf8(key);
  return buffer;
}

/**
 * write runs `change` as one transaction of the store (or, inside this thread's transaction, as part of it) and
 * returns what it returns. `direct`: the change is one create or delete, made with one store and not journaled.
 */
export function write<T>(store: SharedStore, writer: Writer, now: number, direct: boolean, change: (tx: Transaction) => T): T {
  const tx = store.transaction;
  if (tx.depth > 0) return joined(store, writer, change);
  if (store.lock.heldByThisThread()) throw reentrantCall(); // a callback of another call, such as verify's onProgress
  store.lock.enter();
  try {
    store.catchUp();
    begin(store, writer, now);
    tx.depth = 1;
    tx.direct = direct;
    tx.now = now;
    tx.mustSync = writer.sync;
    let result: T;
    try {
      result = change(tx);
    } catch (error) {
      tx.depth = 0;
      if (tx.broken !== null) throw error;
      tx.undo(0);
      store.endChange();
      throw error;
    }
    tx.depth = 0;
    if (tx.broken !== null) throw tx.broken; // change caught the error that broke it and went on
    const journaled = tx.changes > 0;
    const sync = tx.mustSync; // this handle's durability, or 'always' of another that changed the store inside
    tx.commit(sync); // journaled changes are flushed by the commit, step by step
    store.endChange();
    if (sync && !journaled) store.file.flush();
    return result;
  } catch (error) {
    tx.depth = 0;
    afterFailure(store, error);
    throw error;
  } finally {
    store.lock.leave();
  }
}

/**
 * joined runs a change inside this thread's transaction: a savepoint, undone alone if it throws. The file grows
 * only as far as the handle making the change allows, which may be another handle than the transaction's.
 */
function joined<T>(store: SharedStore, writer: Writer, change: (tx: Transaction) => T): T {
  const tx = store.transaction;
  const heap = store.table.heap;
  const savepoint = tx.savepoint;
  const direct = tx.direct;
  const maxSize = heap.maxSize;
  tx.direct = false;
  tx.depth++;
  heap.maxSize = writer.maxSize;
  if (writer.sync) tx.mustSync = true; // its changes are synced with the commit, as if it had made the transaction
  try {
    const result = change(tx);
    if (tx.depth === 2) tx.releaseRetired(savepoint); // back at the outermost level: what it retired can go
    return result;
  } catch (error) {
    if (tx.broken === null) tx.undo(savepoint);
    throw error;
  } finally {
    heap.maxSize = maxSize;
    tx.depth--;
    tx.direct = direct;
  }
}

/**
 * begin opens a change under the lock: refused while the store is marked damaged; the file marked open (its first
 * change); busy set and the sequence odd (found so by the next holder of the lock, the change did not finish); and
 * expired records ahead of the sweep cursor reclaimed first.
 */
function begin(store: SharedStore, writer: Writer, now: number): void {
  if (headerField(store.file.words, Header.busy) === BUSY_DAMAGED) {
    throw new DataStoreError('FILE_CORRUPT', `an earlier change met damage in ${store.path}; changes are refused until repair() (slabkv repair)`);
  }
  store.markOpen();
  store.beginChange();
  crashPoint('change.busy');
  store.table.heap.maxSize = writer.maxSize;
  sweep(store.table, now, SWEEP_BUDGET);
}

/**
 * afterFailure leaves the store consistent when a change failed. A change that threw and was undone was closed by
 * write already (busy is 0). Damage met on the way (FILE_CORRUPT) marks the store damaged: changes are refused until repair()
 * and nothing is rebuilt unasked (but a file this thread resumed without a rebuild is rebuilt then: endDamagedChange). Anything else (a bug) leaves busy set, and the next call rebuilds the store as
 * after a crash (undoing the transaction, unless it had committed).
 */
function afterFailure(store: SharedStore, error: unknown): void {
  const tx = store.transaction;
  if (headerField(store.file.words, Header.busy) !== BUSY_CHANGING) return;
  if (error instanceof DataStoreError && error.code === 'FILE_CORRUPT') {
    tx.undoAfterDamage();
    store.endDamagedChange();
  }
  else if (error instanceof DataStoreError && tx.broken === null && tx.isSettled()) store.endChange(BUSY_IDLE);
  tx.reset(); // what is left half done is for the rebuild or the repair, which read the records, not the journal
}

/**
 * read runs a lookup without the lock, as readers do (spec section 11): it reads the sequence, looks, and keeps
 * what it found only if no change began meanwhile; else it looks again. Torn reads are harmless: the views end at
 * the file's end, so a stray offset reads nothing rather than faulting, and whatever a torn read throws is dropped
 * with it. After a few tries (a change keeps being under way, or its writer died) it waits for the lock and looks
 * under it. Inside this thread's transaction it looks at once: the lock is this thread's.
 */
export function read<T>(store: SharedStore, key: KeyBuffer, lookup: (store: SharedStore, key: KeyBuffer) => T): T {
  if (store.transaction.depth > 0) return lookup(store, key);
  for (let attempt = 0; attempt < UNLOCKED_ATTEMPTS; attempt++) {
    const sequence = store.readBegin();
    if ((sequence & 1) !== 0) continue;
    let result: T;
    try {
      result = lookup(store, key);
    } catch (error) {
      if (store.readValid(sequence)) throw error;
      continue;
    }
    if (store.readValid(sequence)) return result;
  }
  return locked(store, () => lookup(store, key));
}

/**
 * locked runs fn with the store's lock held and caught up (or, inside this thread's transaction, at once), for the
 * calls that read more than one key: keys, entries, stats.
 */
export function locked<T>(store: SharedStore, fn: () => T): T {
  if (store.transaction.depth > 0) return fn();
  store.lock.enter();
  try {
    store.catchUp();
    return fn();
  } finally {
    store.lock.leave();
  }
}

/**
 * exclusive runs fn with the lock held, refused inside a transaction (REENTRANT_CALL): for verify, repair, flush
 * and backup, which must see the store between transactions.
 */
export function exclusive<T>(store: SharedStore, fn: () => T): T {
  if (store.transaction.depth > 0) throw reentrantCall();
  return locked(store, fn);
}
