/**
 * KeyvSlabkv: a Keyv 5 store on a slabkv file, so that Keyv, cache-manager and what else speaks Keyv keep their
 * data in slabkv.
 *
 * Basics: `new Keyv({ store: new KeyvSlabkv(path) })`. Keyv hands the store its namespaced key and the value as
 * serialized text; the store keeps `{ key, value }` under the key's slabkv key (see key-map.ts), with Keyv's TTL as
 * an exact expiry in ms. Adapters on one path, in one thread or in several, share the file as DataStore handles do.
 *
 * Caveats: a value of more than about 16 KiB of JSON text (Keyv's text, escaped once more) is refused with
 * VALUE_TOO_LARGE, which Keyv reports as an `error` event and a set() that resolves to false. Keyv 5 wires
 * `keyv.iterator()` only for the stores it names; iterate through this store's iterator(namespace).
 */
import { DataStore, DataStoreError, type DataStoreOptions, type JsonObject, type JsonValue } from '../index.js';
import { keyvStoreKey, namespaceKeys } from './key-map.js';

/** What the store keeps for a Keyv key: the key itself, checked on every read, and Keyv's value. */
interface KeyvRecord {
  key: string;
  value?: unknown;
}

/** An entry of setMany, as Keyv hands it. */
export interface KeyvSlabkvEntry {
  key: string;
  value: unknown;
  /** Time to live in ms. */
  ttl?: number | undefined;
}

export class KeyvSlabkv {
  /**
   * Options as Keyv reads them. Keyv 5 looks at `dialect` and `url` to decide whether to wire keyv.iterator(); it
   * wires it only for the stores it names, and a missing url would make that check throw.
   */
  opts: { dialect: 'slabkv'; url: string; [option: string]: unknown } = { dialect: 'slabkv', url: '' };
  /** The namespace of the Keyv using this store, set by Keyv: what clear() removes and iterator() yields. */
  namespace?: string | undefined;
  readonly #db: DataStore;
  /** Whether disconnect() closes #db: only a handle this store opened. */
  readonly #ownsStore: boolean;

  /**
   * Opens (or creates) the slabkv file at path, as `new DataStore(path, options)` does; or uses an open DataStore,
   * which stays the caller's to close.
   */
  constructor(path?: string, options?: DataStoreOptions);
  constructor(store: DataStore);
  constructor(pathOrStore?: string | DataStore, options?: DataStoreOptions) {
    if (pathOrStore instanceof DataStore) {
      if (options !== undefined) throw new DataStoreError('OPTION_INVALID', 'options go to the DataStore when it is opened, not to KeyvSlabkv');
      this.#db = pathOrStore;
      this.#ownsStore = false;
    } else {
      this.#db = new DataStore(pathOrStore, options);
      this.#ownsStore = true;
    }
  }

  /** get returns the value Keyv stored under key, or undefined if it is missing or expired. */
  async get<Value = unknown>(key: string): Promise<Value | undefined> {
    return this.#find(key)?.value as Value | undefined;
  }

  async getMany<Value = unknown>(keys: string[]): Promise<Array<Value | undefined>> {
    return keys.map((key) => this.#find(key)?.value as Value | undefined);
  }

  async has(key: string): Promise<boolean> {
    return this.#find(key) !== undefined;
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((key) => this.#find(key) !== undefined);
  }

  /** set stores value under key, replacing what was there, expiring ttl ms from now (exactly), or never. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.#put(key, value, ttl, Date.now());
    return true;
  }

  /** setMany stores every entry in one transaction: all of them or, when one is refused, none. */
  async setMany(entries: KeyvSlabkvEntry[]): Promise<void> {
    const now = Date.now();
    this.#db.transaction(() => {
      for (const { key, value, ttl } of entries) this.#put(key, value, ttl, now);
    });
  }

  /** delete removes key; false if it was missing or expired. */
  async delete(key: string): Promise<boolean> {
    return this.#remove(key);
  }

  /** deleteMany removes the keys in one transaction; true if every one of them was there (as Keyv's own fallback). */
  async deleteMany(keys: string[]): Promise<boolean> {
    let removed = 0;
    this.#db.transaction(() => {
      for (const key of keys) if (this.#remove(key)) removed++;
    });
    return removed === keys.length;
  }

  /**
   * clear removes the Keyv entries of this store's namespace, in one transaction; without a namespace, every Keyv
   * entry of the file. Other keys of the file stay.
   */
  async clear(): Promise<void> {
    const doomed = [...this.#entries(this.namespace)].map(([, record]) => record.key);
    this.#db.transaction(() => {
      for (const key of doomed) this.#remove(key);
    });
  }

  /**
   * iterator yields [key, value] for the live Keyv entries of namespace (every entry without one), keys as Keyv
   * wrote them, in file order. As DataStore.keys(): an entry live throughout is yielded once.
   */
  async *iterator<Value = unknown>(namespace?: string): AsyncGenerator<[string, Awaited<Value> | undefined], void> {
    for (const [, record] of this.#entries(namespace)) yield [record.key, record.value as Awaited<Value> | undefined];
  }

  /** disconnect closes the file, if this store opened it. */
  async disconnect(): Promise<void> {
    if (this.#ownsStore) this.#db.close();
  }

  /** on accepts Keyv's listeners; the store emits no events (a failure rejects the call's promise). */
  on(event: string, listener: (...args: unknown[]) => void): this {
    void [event, listener];
    return this;
  }

  /** #find returns the record of key, or undefined if there is none or the one under its slabkv key is another key's. */
  #find(key: string): KeyvRecord | undefined {
    const record = this.#db.get(keyvStoreKey(key));
    return isRecordOf(record, key) ? record : undefined;
  }

  #put(key: string, value: unknown, ttl: unknown, now: number): void {
    const expiry = expiryOf(ttl, now);
    if (expiry !== 'expired') {
      try {
        // Keyv's value is its serialized text; with Keyv's serialization turned off, an object, kept as its JSON.
        this.#db.set(keyvStoreKey(key), { key, value: value as JsonValue }, expiry);
        return;
      } catch (error) {
        // slabkv refuses an expiry that is not later than its own now: the TTL ran out before the entry was
        // written (a TTL of a ms, or a long batch), and the entry is as good as expired.
        if (!(expiry !== undefined && error instanceof DataStoreError && error.code === 'TTL_INVALID')) throw error;
      }
    }
    this.#remove(key);
  }

  /**
   * #remove deletes key if its record is there (not another key's); whether it did. One transaction (a savepoint
   * inside another): no other thread's change comes between the look and the delete.
   */
  #remove(key: string): boolean {
    const storeKey = keyvStoreKey(key);
    return this.#db.transaction(() => {
      if (!isRecordOf(this.#db.get(storeKey), key)) return false;
      this.#db.delete(storeKey);
      return true;
    });
  }

  /** #entries yields the Keyv records of namespace (all of them without one), with their slabkv keys. */
  *#entries(namespace: string | undefined): IterableIterator<[string, KeyvRecord]> {
    const scope = namespace === undefined ? undefined : namespaceKeys(namespace);
    for (const storeKey of this.#db.keys()) {
      if (scope !== undefined && !storeKey.startsWith(scope.plain) && !storeKey.startsWith(scope.hashed)) continue;
      const record = this.#db.get(storeKey); // undefined if it expired or went meanwhile
      if (!isRecord(record) || keyvStoreKey(record.key) !== storeKey) continue; // not a Keyv entry
      if (scope !== undefined && !record.key.startsWith(scope.plain)) continue; // another namespace with the same tag
      yield [storeKey, record];
    }
  }
}

function isRecord(value: JsonObject | undefined): value is JsonObject & KeyvRecord {
  return value !== undefined && typeof value['key'] === 'string';
}

function isRecordOf(value: JsonObject | undefined, key: string): value is JsonObject & KeyvRecord {
  return value !== undefined && value['key'] === key;
}

/**
 * expiryOf turns Keyv's TTL in ms into slabkv's exact expiry: none for undefined, 0 (Keyv's "no TTL"), NaN or
 * Infinity (Keyv's own check never expires those either); 'expired' for a negative TTL.
 */
function expiryOf(ttl: unknown, now: number): { expiresAt: number } | undefined | 'expired' {
  if (ttl === undefined || ttl === null) return undefined;
  if (typeof ttl !== 'number') throw new DataStoreError('TTL_INVALID', `a Keyv TTL is a number of ms; got ${typeof ttl}`);
  if (ttl === 0 || !Number.isFinite(ttl)) return undefined;
  if (ttl < 0) return 'expired';
  return { expiresAt: Math.min(now + Math.ceil(ttl), Number.MAX_SAFE_INTEGER) };
}
