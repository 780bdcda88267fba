import * as fs from 'node:fs';
/**
 * DataStore: a key-value store of JSON objects in one memory-mapped file.
 *
 * Basics: `new DataStore(path?)` opens (or creates) the file; create, read, has and delete work on string keys of
 * at most 32 characters and JSON objects of at most 16 KiB of JSON text, with an optional time-to-live in seconds.
 * Every refused call throws a DataStoreError with a `code` and changes nothing.
 *
 * Caveats: one process at a time (another gets STORE_LOCKED); handles and worker threads of that process share the
 * store. Durability against power loss needs flush(); a process crash loses nothing that returned.
 */
import { BUSY_DAMAGED, BUSY_IDLE, HEADER_SIZE, Header, MAX_KEY_CHARS, SLAB_SIZE } from '../format/layout.js';
import { KeyBuffer } from '../table/key-buffer.js';
import { countExpired, sweep } from '../table/expiry.js';
import { isExpired } from '../format/rules.js';
import { DataStoreError } from '../errors.js';
import { defaultStorePath, resolveStoreFile } from './paths.js';
import { headerField } from '../format/fields.js';
import { SharedStore } from '../store/shared-store.js';
import { crashPoint } from '../store/crash-points.js';
import { reentrantCall } from '../store/lock.js';
import type { RecoveryReport } from '../table/recovery.js';
import { verify as verifyTable, type VerifyReport } from '../table/verify.js';
import { scanLive, spaceByClass, type ClassSpace } from '../table/walk.js';
import {
  checkKey, checkOptionObject, checkOptions, encodeValue, expiryFor, type DataStoreOptions, type Expiry, type JsonObject,
} from './validate.js';

/** Slabs read per batch by keys() and entries(), under the lock: a few hundred records. */
const SCAN_SLABS = 4;
/** Buckets examined for expired records per change: reclaims expired space at a bounded cost per write. */
const SWEEP_BUDGET = 8;
/** Unlocked tries of a lookup before it waits for the lock: a change holds the sequence odd for microseconds. */
const UNLOCKED_ATTEMPTS = 64;
/** The key of the current call: UTF-8 bytes, their count and hash. One per thread: calls never overlap in one. */
const enteredKey = new KeyBuffer();

export interface DataStoreStats {
  /** Live keys: stored and not expired. Exact; counting costs a pass over the index only when some key has a TTL. */
  keys: number;
  /** Records stored, including expired ones whose space is not yet reclaimed. */
  records: number;
  /** Current length of the file. */
  fileBytes: number;
  /** The limit this handle grows the file to. */
  maxFileBytes: number;
  /** Bytes of the file in use by slabs and bucket arrays. */
  heapBytes: number;
  /** Buckets in the current bucket array. */
  buckets: number;
  /** keys / buckets. */
  loadFactor: number;
  /** True while the bucket array is being doubled, bucket by bucket. */
  rehashing: boolean;
  /** What recovery did when this thread found the file not cleanly closed, or repair when it was opened with repair: true; else null. */
  recovered: RecoveryReport | null;
  /** Bytes of disk the file occupies (its allocated blocks): below fileBytes once free spans are given back. */
  diskBytes: number;
  /**
   * Whether freed space goes back to the file system: 'supported' once a free span's blocks were given back
   * (hole punching), 'unsupported' when the file system refused (the space stays in the file, for reuse), and
   * 'unknown' until this thread has freed a span.
   */
  holePunching: 'supported' | 'unsupported' | 'unknown';
}

export class DataStore {
  /** Absolute path of the file in use, symlinks resolved. */
  readonly path: string;
  #store: SharedStore | null;
  readonly #maxSize: number;
  readonly #syncEachChange: boolean;

  constructor(path?: string, options?: DataStoreOptions) {
    const { maxFileSize, durability, repair } = checkOptions(options);
    this.#syncEachChange = durability === 'always';
    this.#maxSize = HEADER_SIZE + Math.floor((maxFileSize - HEADER_SIZE) / SLAB_SIZE) * SLAB_SIZE;
    this.path = resolveStoreFile(path === undefined ? defaultStorePath() : path);
    this.#store = SharedStore.open(this.path, this.#maxSize, repair);
  }

  /**
   * create stores value under key. Throws KEY_EXISTS if key is live; an expired key is replaced. The key expires
   * `ttlSeconds` from now, or at `{ expiresAt }` (ms since the epoch), or never.
   */
  create(key: string, value: JsonObject, ttlSeconds?: Expiry): void {
    this.#open();
    encodeKey(key); // the key is checked first; encodeValue may run the value's toJSON, so #enter encodes it again
    const { json, bytes } = encodeValue(value);
    const now = Date.now();
    const expiresAt = expiryFor(ttlSeconds, now);
    this.#change(key, now, (store) => {
      const table = store.table;
      const bucket = table.find(enteredKey);
      if (bucket !== 0) {
        if (!isExpired(table.expiresAt(table.recordIn(bucket)), now)) {
          throw new DataStoreError('KEY_EXISTS', `key ${JSON.stringify(key)} already exists`);
        }
        table.remove(bucket);
      }
      table.insert(enteredKey, json, bytes, expiresAt);
    });
  }

  /** read returns a new copy of the value stored under key. Throws KEY_NOT_FOUND if missing or expired. */
  read(key: string): JsonObject {
    return JSON.parse(this.readText(key)) as JsonObject;
  }

  /** readText returns the stored JSON text of key's value, without parsing it. */
  readText(key: string): string {
    return this.#read(key, readValueText);
  }

  /** has tells whether key is live: false for missing and expired keys. */
  has(key: string): boolean {
    return this.#read(key, readHas);
  }

  /** delete removes key. Throws KEY_NOT_FOUND if missing or expired. */
  delete(key: string): void {
    const now = Date.now();
    this.#change(key, now, (store) => store.table.remove(findLive(store, key, now)));
  }

  /** count is the number of live keys, as stats().keys. */
  get count(): number {
    return this.stats().keys;
  }

  /** expiresAt returns when key expires (ms since the epoch), or null if it has no TTL. KEY_NOT_FOUND if missing. */
  expiresAt(key: string): number | null {
    return this.#read(key, readExpiresAt);
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
  entries(options?: { prefix?: string }): IterableIterator<[string, JsonObject]> {
    const scan = this.#scan(scanPrefix(options), true);
    return (function* () { for (const [key, text] of scan) yield [key, JSON.parse(text!) as JsonObject] as [string, JsonObject]; })();
  }

  *#scan(prefix: string | undefined, withValues: boolean): IterableIterator<[string, string | undefined]> {
    let at = HEADER_SIZE;
    const batch: Array<[string, string | undefined]> = [];
    do {
      const store = this.#open();
      const table = store.table;
      this.#lock(store);
      try {
        at = scanLive(store.file, at, SCAN_SLABS, Date.now(), (record) => {
          const key = table.keyAt(record);
          if (prefix === undefined || key.startsWith(prefix)) batch.push([key, withValues ? table.valueText(record) : undefined]);
        });
      } finally {
        store.lock.leave();
      }
      for (const entry of batch) {
        this.#open(); // a step after close() throws STORE_CLOSED, even within a batch read before it
        yield entry;
      }
      batch.length = 0;
    } while (at !== 0);
  }

  stats(): DataStoreStats {
    const store = this.#open();
    this.#lock(store);
    try {
      const w = store.file.words;
      const records = headerField(w, Header.recordCount);
      const buckets = headerField(w, Header.tableCapacity);
      return {
        keys: records - countExpired(store.table, Date.now()),
        records,
        fileBytes: headerField(w, Header.fileSize),
        maxFileBytes: this.#maxSize,
        heapBytes: headerField(w, Header.heapEnd) - HEADER_SIZE,
        buckets,
        loadFactor: records / buckets,
        rehashing: headerField(w, Header.oldTableOffset) !== 0,
        recovered: store.recovered,
        diskBytes: fs.fstatSync(store.file.fd).blocks * 512,
        holePunching: store.file.punching,
      };
    } finally {
      store.lock.leave();
    }
  }

  /**
   * verify checks every structure and checksum of the file and reports what it found, changing nothing. It reads
   * the whole file: O(size of the file).
   */
  verify(options?: { onProgress?: (done: number, total: number) => void }): VerifyReport {
    this.#open(); // STORE_CLOSED before the options are looked at
    let onProgress: ((done: number, total: number) => void) | undefined;
    if (options !== undefined) {
      checkOptionObject(options, ['onProgress'], 'the verify options');
      onProgress = options.onProgress; // read once, before the lock: a getter runs no code under it
      if (onProgress !== undefined && typeof onProgress !== 'function') {
        throw new DataStoreError('OPTION_INVALID', 'onProgress must be a function');
      }
    }
    return this.#locked((store) => verifyTable(store.table, Date.now(), onProgress));
  }

  /**
   * repair rebuilds the index, free lists and counters from the records, as recovery after a crash does, and
   * returns what it did. It is the way out after a change met FILE_CORRUPT: until then every change is refused.
   * Every live record whose checksum holds is kept (of two records of one key, the first in file order);
   * records that fail their checksum and expired records are dropped and counted. O(size of the file).
   */
  repair(): RecoveryReport {
    return this.#locked((store) => store.repairLocked());
  }

  /** spaceByClass reports, per size class in use, its slabs, records and free chunks. O(slabs). */
  spaceByClass(): ClassSpace[] {
    return this.#locked((store) => spaceByClass(store.file));
  }

  /** flush writes every change so far to the disk (msync), so that it survives power loss. */
  flush(): void {
    this.#locked((store) => store.file.flush());
  }

  /** close flushes and releases the file when this is the process's last handle. A second close does nothing. */
  close(): void {
    const store = this.#store;
    if (store === null) return;
    // From inside another call on this store (a callback), closing would unmap the file under that call.
    if (store.lock.heldByThisThread()) throw reentrantCall();
    this.#store = null;
    store.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(): SharedStore {
    if (this.#store === null) throw new DataStoreError('STORE_CLOSED', `the store ${this.path} is closed`);
    return this.#store;
  }

  /**
   * #enter checks and encodes key into enteredKey, takes the store's lock, and returns
   * the store. The caller releases the lock.
   */
  #enter(key: unknown): SharedStore {
    const store = this.#open();
    encodeKey(key);
    this.#lock(store);
    return store;
  }

  /** #locked runs fn with the store's lock held (and caught up), and releases it. */
  #locked<T>(fn: (store: SharedStore) => T): T {
    const store = this.#open();
    this.#lock(store);
    try {
      return fn(store);
    } finally {
      store.lock.leave();
    }
  }

  /**
   * #lock takes the store's lock and catches up with other threads (a grown file, a dead thread's half change). A
   * store marked damaged is not rebuilt: reads go on, changes are refused by #beginChange until repair().
   */
  #lock(store: SharedStore): void {
    store.lock.enter();
    try {
      store.catchUp();
    } catch (error) {
      store.lock.leave();
      throw error;
    }
  }

  /**
   * #read runs a lookup of key without the lock, as readers do (spec section 11): it reads the sequence, looks,
   * and keeps what it found only if no change began meanwhile; else it looks again. Torn reads are harmless:
   * the views end at the file's end, so a stray offset reads nothing rather than faulting, and whatever a torn
   * read throws is dropped with it. After a few tries (a change keeps being under way, or its writer died) it
   * waits for the lock and looks under it.
   */
  #read<T>(key: unknown, lookup: Lookup<T>): T {
    const store = this.#open();
    encodeKey(key);
    for (let attempt = 0; attempt < UNLOCKED_ATTEMPTS; attempt++) {
      const sequence = store.readBegin();
      if (sequence < 0) continue;
      let result: T;
      try {
        result = lookup(store, key as string);
      } catch (error) {
        if (store.readValid(sequence)) throw error;
        continue;
      }
      if (store.readValid(sequence)) return result;
    }
    this.#lock(store);
    try {
      return lookup(store, key as string);
    } finally {
      store.lock.leave();
    }
  }

  /**
   * #change is the one bracket of every change to key: the lock, the change opened and closed around `change`,
   * and, when it throws, the store left consistent or marked damaged.
   */
  #change(key: string, now: number, change: (store: SharedStore) => void): void {
    const store = this.#enter(key);
    try {
      this.#beginChange(store, now);
      change(store);
      this.#endChange(store);
    } catch (error) {
      this.#endChangeIfConsistent(store, error);
      throw error;
    } finally {
      store.lock.leave();
    }
  }

  /**
   * #beginChange opens a change under the lock: the busy flag brackets it (found set by the next taker of the lock,
   * the change did not finish), and expired records ahead of the sweep cursor are reclaimed first.
   */
  #beginChange(store: SharedStore, now: number): void {
    if (headerField(store.file.words, Header.busy) === BUSY_DAMAGED) {
      throw new DataStoreError('FILE_CORRUPT', `an earlier change met damage in ${this.path}; changes are refused until repair() (slabkv repair)`);
    }
    store.markOpen();
    store.beginChange();
    crashPoint('change.busy');
    store.table.heap.maxSize = this.#maxSize;
    sweep(store.table, now, SWEEP_BUDGET);
  }

  #endChange(store: SharedStore): void {
    store.endChange();
    if (this.#syncEachChange) store.file.flush();
  }

  /**
   * Refusals (KEY_EXISTS, KEY_NOT_FOUND, STORE_FULL, IO_ERROR) are thrown before anything is half-changed. Damage
   * may be met halfway: the store is marked damaged, refused for changes until repair(), and not rebuilt unasked.
   * Anything else (a bug) leaves the flag set, and the next call rebuilds the store as after a crash.
   */
  #endChangeIfConsistent(store: SharedStore, error: unknown): void {
    if (!(error instanceof DataStoreError)) return;
    store.endChange(error.code === 'FILE_CORRUPT' ? BUSY_DAMAGED : BUSY_IDLE);
  }
}

/**
 * encodeKey checks key and puts it in enteredKey. Keys of at most 32 ASCII characters, the common case, are copied
 * in one pass with no further check.
 */
function encodeKey(key: unknown): void {
  if (typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_CHARS && enteredKey.setAscii(key)) return;
  checkKey(key);
  enteredKey.setUtf8(key);
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

/** A lookup of enteredKey, run by #read with or without the lock. */
type Lookup<T> = (store: SharedStore, key: string) => T;

/**
 * findLive returns the bucket of enteredKey, or throws KEY_NOT_FOUND if it is missing or expired at `now`. Without
 * `now`, the clock is read only for a key that can expire: Date.now() costs as much as a lookup's own arithmetic.
 */
function findLive(store: SharedStore, key: string, now?: number): number {
  const bucket = store.table.find(enteredKey);
  if (bucket === 0 || expiredAt(store.table.expiresAt(store.table.recordIn(bucket)), now)) throw notFound(key);
  return bucket;
}

const readValueText: Lookup<string> = (store, key) => {
  const record = store.table.recordIn(findLive(store, key));
  store.table.checkChecksum(record);
  return store.table.valueText(record);
};

const readHas: Lookup<boolean> = (store) => {
  const bucket = store.table.find(enteredKey);
  return bucket !== 0 && !expiredAt(store.table.expiresAt(store.table.recordIn(bucket)));
};

const readExpiresAt: Lookup<number | null> = (store, key) => {
  const expiresAt = store.table.expiresAt(store.table.recordIn(findLive(store, key)));
  return expiresAt === 0 ? null : expiresAt;
};

/** expiredAt: isExpired at `now`, or, without one, at the clock's time, which is read only for a key that can expire. */
function expiredAt(expiresAt: number, now?: number): boolean {
  return expiresAt !== 0 && isExpired(expiresAt, now ?? Date.now());
}

function notFound(key: string): DataStoreError {
  return new DataStoreError('KEY_NOT_FOUND', `key ${JSON.stringify(key)} does not exist`);
}


