/**
 * DataStore: a key-value store of JSON objects in one memory-mapped file.
 *
 * Basics: `new DataStore(path?)` opens (or creates) the file; create, set, get, read, has, update and delete work
 * on string keys of at most 32 characters and JSON objects of at most 16 KiB of JSON text, with an optional
 * time-to-live; transaction(fn) makes every change inside fn one. Every refused call throws a DataStoreError with a
 * `code` and changes nothing.
 *
 * Caveats: one process at a time (another gets STORE_LOCKED); handles and worker threads of that process share the
 * store. Durability against power loss needs flush() or durability 'always'; a process crash loses nothing that
 * returned, and never part of a transaction.
 */
import { HEADER_SIZE, MAX_KEY_CHARS, SLAB_SIZE } from '../format/layout.js';
import { DataStoreError } from '../errors.js';
import { defaultStorePath, resolveStoreFile } from './paths.js';
import { SharedStore } from '../store/shared-store.js';
import { scanBatch, scanEnd, spaceOf, storeStats, verifyStore, type DataStoreStats } from '../store/reports.js';
import { backupStore } from '../store/backup.js';
import { reentrantCall } from '../store/lock.js';
import { encodeKey, exclusive, locked, read, write, type Writer } from '../store/write-path.js';
import { expiryOf, isLive, valueText } from '../store/lookups.js';
import type { RecoveryReport } from '../table/recovery.js';
import type { VerifyReport } from '../table/verify.js';
import type { ClassSpace } from '../table/walk.js';
import type { KeyBuffer } from '../table/key-buffer.js';
import {
  checkKey, checkOptionObject, checkOptions, encodeValue, expiryFor, type DataStoreOptions, type Expiry, type JsonObject,
} from './validate.js';

/**
 * Writable is what create, set and update take: V, or any object for a store of plain JSON objects (the default V),
 * so that a value typed by an interface, which has no index signature, is accepted there too.
 */
type Writable<V extends object> = JsonObject extends V ? object : V;
/** NoArray refuses, at compile time, the objects that are no JSON object: arrays, promises and functions. */
type NoArray<T> = T extends readonly unknown[] | PromiseLike<unknown> | ((...args: never[]) => unknown) ? never : unknown;

export class DataStore<V extends object = JsonObject> {
  /** Absolute path of the file in use, symlinks resolved. */
  readonly path: string;
  #store: SharedStore | null;
  readonly #writer: Writer;

  constructor(path?: string, options?: DataStoreOptions) {
    const { maxFileSize, durability, repair } = checkOptions(options);
    const maxSize = HEADER_SIZE + Math.floor((maxFileSize - HEADER_SIZE) / SLAB_SIZE) * SLAB_SIZE;
    this.#writer = { maxSize, sync: durability === 'always' };
    this.path = resolveStoreFile(path === undefined ? defaultStorePath() : path);
    this.#store = SharedStore.open(this.path, maxSize, repair);
  }

  /**
   * create stores value under key. Throws KEY_EXISTS if key is live; an expired key is replaced. The key expires
   * `ttl` seconds from now, or at `{ expiresAt }` (ms since the epoch), or never.
   */
  create<T extends Writable<V>>(key: string, value: T & NoArray<T>, ttl?: Expiry): void {
    const store = this.#open();
    checkKeyArgument(key);
    const { json, bytes } = encodeValue(value); // may run the value's toJSON, which may call the store: before the key is encoded
    const now = Date.now();
    const expiresAt = expiryFor(ttl, now);
    write(store, this.#writer, now, true, (tx) => tx.create(encodeKey(store.key, key), key, json, bytes, expiresAt));
  }

  /**
   * set stores value under key, creating the key or replacing its value, atomically: a crash leaves the old value
   * or the new one, and other threads read one or the other, never neither. Without `ttl` the key does not expire
   * (as Redis SET); with it, as create.
   */
  set<T extends Writable<V>>(key: string, value: T & NoArray<T>, ttl?: Expiry): void {
    const store = this.#open();
    checkKeyArgument(key);
    const { json, bytes } = encodeValue(value);
    const now = Date.now();
    const expiresAt = expiryFor(ttl, now);
    write(store, this.#writer, now, false, (tx) => tx.set(encodeKey(store.key, key), json, bytes, expiresAt));
  }

  /** get returns a new copy of the value stored under key, or undefined if it is missing or expired. */
  get(key: string): V | undefined {
    const text = this.#read(key, valueText);
    return text === undefined ? undefined : JSON.parse(text) as V;
  }

  /** read returns a new copy of the value stored under key. Throws KEY_NOT_FOUND if missing or expired. */
  read(key: string): V {
    return JSON.parse(this.readText(key)) as V;
  }

  /** readText returns the stored JSON text of key's value, without parsing it. KEY_NOT_FOUND if missing or expired. */
  readText(key: string): string {
    const text = this.#read(key, valueText);
    if (text === undefined) throw notFound(key);
    return text;
  }

  /** has tells whether key is live: false for missing and expired keys. */
  has(key: string): boolean {
    return this.#read(key, isLive);
  }

  /** delete removes key. Throws KEY_NOT_FOUND if missing or expired. */
  delete(key: string): void {
    const store = this.#open();
    checkKeyArgument(key);
    write(store, this.#writer, Date.now(), true, (tx) => tx.delete(encodeKey(store.key, key), key));
  }

  /**
   * update is an atomic read-modify-write of key: fn receives the current value (undefined when the key is missing
   * or expired) and returns the value to store, or undefined to delete the key (or leave it absent). No other
   * thread changes the store between the read and the write. Without `ttl` a key that stays keeps its expiry;
   * with it, the expiry is set as create sets it. fn runs inside a transaction (it may use the store; if it throws,
   * nothing changes). Returns what fn returned: the value stored (as its JSON), or undefined if the key is absent.
   */
  update<N extends Writable<V>>(key: string, fn: (current: V | undefined) => (N & NoArray<N>) | undefined, ttl?: Expiry): N | undefined {
    this.#open();
    checkKeyArgument(key);
    checkSynchronous(fn, 'update');
    if (ttl !== undefined) expiryFor(ttl, Date.now()); // a bad ttl is refused before fn runs
    return this.transaction(() => {
      const store = this.#open();
      // The expiry is read with the value, before fn: read after it, a key fn outlived would read as absent, and
      // the value kept would never expire. Read first, an expiry that passes before get makes current undefined.
      const expiry = this.#read(key, expiryOf);
      const current = expiry < 0 ? undefined : this.get(key);
      const next = fn(current);
      if (isThenable(next)) throw asyncRefused('update', next);
      if (next === undefined) {
        if (this.has(key)) this.delete(key); // live even if current was not: fn may have written it itself
        return undefined;
      }
      const { json, bytes } = encodeValue(next);
      const now = Date.now();
      let expiresAt: number;
      if (ttl !== undefined) expiresAt = expiryFor(ttl, now);
      else expiresAt = current === undefined ? 0 : expiry;
      write(store, this.#writer, now, false, (tx) => tx.set(encodeKey(store.key, key), json, bytes, expiresAt));
      return next;
    });
  }

  /**
   * transaction runs fn at once and returns what it returns; every change fn makes to this store (through any
   * handle of it in this thread) is made as one. After a crash the store holds all of them or none; other threads
   * see the store as before or as after, never between; if fn throws, every change it made is undone and the error
   * rethrown. Reads inside fn see its own changes. fn must be synchronous: an async function is refused before it
   * runs (TRANSACTION_INVALID), and one that returns a promise is undone and refused. A transaction inside another
   * is a savepoint: if it throws, its own changes are undone and the outer one goes on (or not, as it catches).
   * Other threads' changes wait for the transaction to end; close() inside it is REENTRANT_CALL.
   */
  transaction<T>(fn: () => T): T {
    const store = this.#open();
    checkSynchronous(fn, 'transaction');
    return write(store, this.#writer, Date.now(), false, () => {
      const result = fn();
      if (isThenable(result)) throw asyncRefused('transaction', result);
      return result;
    });
  }

  /** clear removes every key at once, atomically: O(buckets), much faster than deleting keys one by one. */
  clear(): void {
    const store = this.#open();
    write(store, this.#writer, Date.now(), false, (tx) => tx.clear());
  }

  /** count is the number of live keys, as stats().keys. */
  get count(): number {
    return this.stats().keys;
  }

  /** expiresAt returns when key expires (ms since the epoch), or null if it has no TTL. KEY_NOT_FOUND if missing. */
  expiresAt(key: string): number | null {
    const expiresAt = this.#read(key, expiryOf);
    if (expiresAt < 0) throw notFound(key);
    return expiresAt === 0 ? null : expiresAt;
  }

  /**
   * keys iterates over the live keys (in file order, not sorted), optionally only those starting with `prefix`.
   * It reads the file a few slabs at a time, taking the lock for each batch, so other calls and threads go on
   * meanwhile: a key that stays live throughout is seen exactly once; one created or deleted meanwhile may or may
   * not be seen.
   */
  keys(options?: { prefix?: string }): IterableIterator<string> {
    const scan = this.#scan(scanPrefix(options), false); // options are checked now, not at the first step
    return (function* () { for (const [key] of scan) yield key; })();
  }

  /** entries iterates over [key, value] pairs of live keys, as keys() does. */
  entries(options?: { prefix?: string }): IterableIterator<[string, V]> {
    const scan = this.#scan(scanPrefix(options), true);
    return (function* () { for (const [key, text] of scan) yield [key, JSON.parse(text!) as V] as [string, V]; })();
  }

  *#scan(prefix: string | undefined, withValues: boolean): IterableIterator<[string, string | undefined]> {
    let at = HEADER_SIZE;
    let end = 0; // where the heap ended at the first step: what is written past it later is not listed
    const batch: Array<[string, string | undefined]> = [];
    do {
      const store = this.#open();
      at = locked(store, () => {
        if (end === 0) end = scanEnd(store);
        return scanBatch(store, at, end, prefix, withValues, batch);
      });
      for (const entry of batch) {
        this.#open(); // a step after close() throws STORE_CLOSED, even within a batch read before it
        yield entry;
      }
      batch.length = 0;
    } while (at !== 0);
  }

  stats(): DataStoreStats {
    const store = this.#open();
    return locked(store, () => storeStats(store, this.#writer.maxSize));
  }

  /**
   * verify checks every structure and checksum of the file and reports what it found, changing nothing. It reads
   * the whole file: O(size of the file).
   */
  verify(options?: { onProgress?: (done: number, total: number) => void }): VerifyReport {
    const store = this.#open(); // STORE_CLOSED before the options are looked at
    let onProgress: ((done: number, total: number) => void) | undefined;
    if (options !== undefined) {
      checkOptionObject(options, ['onProgress'], 'the verify options');
      onProgress = options.onProgress; // read once, before the lock: a getter runs no code under it
      if (onProgress !== undefined && typeof onProgress !== 'function') {
        throw new DataStoreError('OPTION_INVALID', 'onProgress must be a function');
      }
    }
    return exclusive(store, () => verifyStore(store, onProgress));
  }

  /**
   * repair rebuilds the index, free lists and counters from the records, as recovery after a crash does, and
   * returns what it did. It is the way out after a change met FILE_CORRUPT: until then every change is refused.
   * Every live record whose checksum holds is kept (of two records of one key, the first in file order);
   * records that fail their checksum and expired records are dropped and counted. O(size of the file).
   */
  repair(): RecoveryReport {
    const store = this.#open();
    return exclusive(store, () => store.repairLocked());
  }

  /** spaceByClass reports, per size class in use, its slabs, records and free chunks. O(slabs). */
  spaceByClass(): ClassSpace[] {
    const store = this.#open();
    return locked(store, () => spaceOf(store));
  }

  /**
   * backup writes a copy of the store as it is now to a new file at `path`: a cleanly closed store, whole or not
   * there at all. Other threads' reads go on meanwhile; their changes wait while the file's bytes are copied.
   * Refused, writing nothing, if `path` exists (IO_ERROR, cause EEXIST) or is a folder (FILE_INVALID).
   */
  backup(path: string): void {
    backupStore(this.#open(), path);
  }

  /** flush writes every change so far to the disk (msync), so that it survives power loss. */
  flush(): void {
    const store = this.#open();
    exclusive(store, () => store.flush());
  }

  /** close flushes and releases the file when this is the process's last handle. A second close does nothing. */
  close(): void {
    const store = this.#store;
    if (store === null) return;
    if (store.closed) { // closed for this handle by the exit hook, which ran first
      this.#store = null;
      return;
    }
    // From inside another call on this store (a callback, a transaction), closing would unmap the file under it.
    if (store.inCall()) throw reentrantCall();
    this.#store = null;
    store.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(): SharedStore {
    if (this.#store === null || this.#store.closed) throw new DataStoreError('STORE_CLOSED', `the store ${this.path} is closed`);
    return this.#store;
  }

  /** #read checks key and runs a lookup of it (write-path.ts's read: without the lock when it can). */
  #read<T>(key: string, lookup: (store: SharedStore, key: KeyBuffer) => T): T {
    const store = this.#open();
    checkKeyArgument(key);
    return read(store, encodeKey(store.key, key), lookup);
  }
}

/**
 * checkKeyArgument checks a key: keys of at most 32 UTF-16 units that are well-formed, the common case, pass with
 * two tests; anything else is checked in full (checkKey).
 */
function checkKeyArgument(key: unknown): asserts key is string {
  if (typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_CHARS && key.isWellFormed()) return;
  checkKey(key);
}

/**
 * checkSynchronous refuses what cannot be a transaction's function: not a function, an async one, or a generator
 * function (its body would run when its generator is stepped, after the transaction has ended).
 */
function checkSynchronous(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new DataStoreError('OPTION_INVALID', `${what} needs a function; got ${typeof fn}`);
  const kind = fn.constructor?.name;
  if (kind === 'AsyncFunction' || kind === 'AsyncGeneratorFunction') throw asyncRefused(what);
  if (kind === 'GeneratorFunction') {
    throw new DataStoreError('TRANSACTION_INVALID',
      `${what} takes a plain function: a generator function's body runs only when its generator is stepped, after the transaction (nothing was changed)`);
  }
}

function isThenable(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * asyncRefused is the refusal of a function that is asynchronous, or returned `promise`. The caller never gets that
 * promise, so its rejection is marked handled here: otherwise it would end the process as an unhandled rejection
 * after the caller has caught the refusal.
 */
function asyncRefused(what: string, promise?: unknown): DataStoreError {
  if (promise instanceof Promise) promise.catch(() => {});
  return new DataStoreError('TRANSACTION_INVALID',
    `${what} takes a synchronous function: a transaction holds the store until it ends, so it cannot wait for a promise (nothing was changed)`);
}

/** scanPrefix checks the options of keys() and entries(): `keys('tmp:')` must not list every key. */
function scanPrefix(options: unknown): string | undefined {
  if (options === undefined) return undefined;
  checkOptionObject(options, ['prefix'], 'the options of keys() and entries()');
  const { prefix } = options as { prefix?: unknown };
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new DataStoreError('OPTION_INVALID', `prefix must be a string; got ${typeof prefix}`);
  }
  return prefix;
}

function notFound(key: string): DataStoreError {
  return new DataStoreError('KEY_NOT_FOUND', `key ${JSON.stringify(key)} does not exist`);
}
