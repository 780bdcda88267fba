/**
 * RedisDataStore: the DataStore contract on a Redis (7 or later) or Valkey server, for programs that outgrow one
 * process or one machine.
 *
 * Basics: `await RedisDataStore.connect({ url })`, then the calls of DataStore, each returning a promise: the same
 * keys (at most 32 characters), the same values (JSON objects of at most 16 KiB of JSON text), the same TTLs and
 * the same DataStoreError codes. A key is a Redis string key holding the value's JSON text, as `slabkv dump
 * --format resp` writes it, with its expiry as the key's own (PXAT, to the millisecond).
 *
 * Caveats: a change is as durable as the server's persistence settings make it (with neither RDB snapshots nor the
 * AOF, a restart of the server loses everything); expiry is judged by the server's clock. update is optimistic: fn
 * may run more than once. connect() talks to one server, not to a Redis Cluster; every call names one key (update
 * reads and writes the same key, in one script), so a cluster client could route each call, and only keys() would
 * have to scan every primary.
 */
import { createHash } from 'node:crypto';
import { DataStoreError } from '../errors.js';
import {
  checkKey, checkOptionObject, encodeValue, expiryFor, type Expiry, type JsonObject,
} from '../api/validate.js';

export interface RedisDataStoreOptions {
  /**
   * The server: `redis://[[username][:password]@][host][:port][/database]`, or `rediss://` for TLS. Default
   * `redis://localhost:6379`.
   */
  url?: string;
  /** How long connect() waits for the server, in ms. Default 5000. */
  connectTimeout?: number;
  /**
   * More options for `createClient` of `@redis/client` (username, password, database, socket: { tls, ca, ... }),
   * passed as they are; those the store relies on (url, the reconnect strategy, the offline queue) are its own, and
   * keyPrefix is refused (keys() could not see the keys it makes).
   */
  clientOptions?: Record<string, unknown>;
}

/** The part of a `@redis/client` client the store uses: raw commands, so that any reply format reads the same. */
interface Client {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/** How long connect() waits for the server unless told. */
const CONNECT_TIMEOUT_MS = 5000;
/** Reconnection after a lost connection waits this long, doubling from the first wait, at most the second. */
const RECONNECT_FIRST_MS = 50;
const RECONNECT_MAX_MS = 2000;
/** Keys SCAN examines per step of keys(). */
const SCAN_COUNT = 1000;

/**
 * The compare-and-set behind update, run by the server as one step: it changes the key only if its value is still
 * the text update read (ARGV[1], '' for absent); ARGV[2] is the new text ('' deletes the key); ARGV[3] the expiry in
 * ms since the epoch ('' keeps the key's expiry). Returns 1 if it made the change, 0 if the key had changed.
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  if current ~= '' then redis.call('DEL', KEYS[1]) end
elseif ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 1
`;
const COMPARE_AND_SET_SHA = createHash('sha1').update(COMPARE_AND_SET).digest('hex');

/** Writable is what create, set and update take: V, or any object for a store of plain JSON objects (as DataStore). */
type Writable<V extends object> = JsonObject extends V ? object : V;
/** NoArray refuses, at compile time, the objects that are no JSON object: arrays, promises and functions. */
type NoArray<T> = T extends readonly unknown[] | PromiseLike<unknown> | ((...args: never[]) => unknown) ? never : unknown;

export class RedisDataStore<V extends object = JsonObject> {
  #client: Client | null;

  private constructor(client: Client) {
    this.#client = client;
  }

  /**
   * connect opens a connection to the server and returns the store on it. A server that cannot be reached is
   * IO_ERROR, with the client's error as its cause. A connection lost later is made again in the background;
   * meanwhile each call fails at once with IO_ERROR instead of waiting.
   */
  static async connect<V extends object = JsonObject>(options?: RedisDataStoreOptions): Promise<RedisDataStore<V>> {
    const { url, connectTimeout, clientOptions } = checkConnectOptions(options);
    let createClient: (options: Record<string, unknown>) => unknown;
    try {
      ({ createClient } = await import('@redis/client') as unknown as { createClient: typeof createClient });
    } catch (cause) {
      throw new DataStoreError('IO_ERROR', 'slabkv/redis needs the package @redis/client: npm install @redis/client', { cause });
    }
    let connected = false;
    const socket = (clientOptions['socket'] ?? {}) as Record<string, unknown>;
    let client: Client;
    try {
      client = createClient({
        ...clientOptions,
        url,
        disableOfflineQueue: true, // a call made while the connection is down fails at once rather than waiting
        socket: {
          ...socket,
          connectTimeout,
          // The first connection is tried once, so that connect() answers; a lost one is made again.
          reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(RECONNECT_FIRST_MS * 2 ** retries, RECONNECT_MAX_MS) : cause),
        },
      }) as Client;
    } catch (cause) {
      throw new DataStoreError('OPTION_INVALID', `@redis/client refused the options: ${(cause as Error).message}`, { cause });
    }
    client.on('error', () => {}); // each call that fails rejects with its own error; the events add nothing
    try {
      await client.connect();
    } catch (error) {
      destroy(client);
      const cause = (error as { socketError?: unknown }).socketError ?? error; // the system's error, with its code
      throw new DataStoreError('IO_ERROR', `cannot connect to ${redact(url)}: ${describeError(cause)}`, { cause });
    }
    connected = true;
    return new RedisDataStore<V>(client);
  }

  /** create stores value under key. KEY_EXISTS if key is live (SET NX). TTL as DataStore.create. */
  async create<T extends Writable<V>>(key: string, value: T & NoArray<T>, ttlSeconds?: Expiry): Promise<void> {
    this.#open();
    const { json, expiry } = checkWrite(key, value, ttlSeconds);
    const reply = await this.#send(['SET', key, json, 'NX', ...expiry]);
    if (reply === null) throw new DataStoreError('KEY_EXISTS', `key ${JSON.stringify(key)} already exists`);
  }

  /**
   * set stores value under key, replacing any value it has. Without ttl the key has no expiry afterwards (as Redis
   * SET); ttl takes seconds or { expiresAt } as create does.
   */
  async set<T extends Writable<V>>(key: string, value: T & NoArray<T>, ttlSeconds?: Expiry): Promise<void> {
    this.#open();
    const { json, expiry } = checkWrite(key, value, ttlSeconds);
    await this.#send(['SET', key, json, ...expiry]);
  }

  /** read returns the value stored under key. KEY_NOT_FOUND if missing or expired. */
  async read(key: string): Promise<V> {
    const text = await this.#getText(key);
    if (text === null) throw notFound(key);
    return parseValue(key, text);
  }

  /**
   * readText returns the stored JSON text of key's value. Unlike the file store's, it parses the text once: a string
   * that another client wrote may not be a JSON object (VALUE_INVALID, as read).
   */
  async readText(key: string): Promise<string> {
    const text = await this.#getText(key);
    if (text === null) throw notFound(key);
    parseValue(key, text);
    return text;
  }

  /** get returns the value stored under key, or undefined if it is missing or expired. */
  async get(key: string): Promise<V | undefined> {
    const text = await this.#getText(key);
    return text === null ? undefined : parseValue(key, text);
  }

  /** has tells whether key is live. */
  async has(key: string): Promise<boolean> {
    this.#open();
    checkKey(key);
    return Number(await this.#send(['EXISTS', key])) === 1;
  }

  /** delete removes key. KEY_NOT_FOUND if missing or expired (DEL removed nothing). */
  async delete(key: string): Promise<void> {
    this.#open();
    checkKey(key);
    if (Number(await this.#send(['DEL', key])) === 0) throw notFound(key);
  }

  /**
   * update is an atomic read-modify-write, across every process and machine using the server: fn receives the
   * current value (or undefined) and returns the new value to store, or undefined to delete the key (or leave it
   * absent); update returns what fn returned. Without ttl the key keeps its expiry. It is optimistic: if another
   * client changed the key between the read and the write, nothing is written and fn runs again with the new
   * value, so fn must not have other effects. A refused value or an error thrown by fn changes nothing.
   */
  async update<N extends Writable<V>>(key: string, fn: (current: V | undefined) => (N & NoArray<N>) | undefined, ttlSeconds?: Expiry): Promise<N | undefined> {
    this.#open();
    checkKey(key);
    if (typeof fn !== 'function') throw new DataStoreError('OPTION_INVALID', `update needs a function; got ${typeof fn}`);
    if (fn.constructor?.name === 'AsyncFunction' || fn.constructor?.name === 'AsyncGeneratorFunction') throw asyncRefused();
    if (ttlSeconds !== undefined) expiryFor(ttlSeconds, Date.now()); // refused before fn runs
    for (;;) {
      const text = await this.#getText(key);
      const next = fn(text === null ? undefined : parseValue(key, text));
      if (isThenable(next)) {
        if (next instanceof Promise) next.catch(() => {}); // the caller never gets it: its rejection is not left unhandled
        throw asyncRefused();
      }
      const json = next === undefined ? '' : encodeValue(next).json;
      const expiry = next === undefined || ttlSeconds === undefined ? '' : String(expiryFor(ttlSeconds, Date.now()));
      if (await this.#compareAndSet(key, text ?? '', json, expiry)) return next;
    }
  }

  /** expiresAt returns when key expires (ms since the epoch), or null if it has no TTL. KEY_NOT_FOUND if missing. */
  async expiresAt(key: string): Promise<number | null> {
    this.#open();
    checkKey(key);
    const at = Number(await this.#send(['PEXPIRETIME', key]));
    if (at === -2) throw notFound(key);
    return at === -1 ? null : at;
  }

  /**
   * keys iterates over the live keys (in no order), optionally only those starting with `prefix`, with SCAN: other
   * calls go on meanwhile; a key that stays live throughout is seen exactly once, one created or deleted meanwhile
   * may or may not be. Only string keys that are slabkv keys (at most 32 characters) are listed.
   */
  keys(options?: { prefix?: string }): AsyncIterableIterator<string> {
    this.#open();
    const prefix = scanPrefix(options); // options are checked now, not at the first step
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const send = (args: string[]): Promise<unknown> => this.#send(args);
    return (async function* () {
      const seen = new Set<string>(); // SCAN may return a key twice while the server resizes its table
      let cursor = '0';
      do {
        const [next, batch] = await send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(SCAN_COUNT), 'TYPE', 'string']) as [unknown, unknown[]];
        cursor = String(next);
        for (const item of batch) {
          const key = String(item);
          if (seen.has(key) || !isStoreKey(key)) continue;
          seen.add(key);
          yield key;
        }
      } while (cursor !== '0');
    })();
  }

  /** close ends the connection once the calls under way have their answers; later calls throw STORE_CLOSED. */
  async close(): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    this.#client = null;
    try {
      await client.close();
    } catch {
      destroy(client); // the connection is down: nothing is left to wait for
    }
  }

  #open(): Client {
    if (this.#client === null) throw new DataStoreError('STORE_CLOSED', 'the store is closed');
    return this.#client;
  }

  async #getText(key: string): Promise<string | null> {
    this.#open();
    checkKey(key);
    const text = await this.#send(['GET', key]);
    return text === null ? null : String(text);
  }

  async #compareAndSet(key: string, expected: string, json: string, expiry: string): Promise<boolean> {
    const args = [key, expected, json, expiry];
    try {
      return Number(await this.#send(['EVALSHA', COMPARE_AND_SET_SHA, '1', ...args])) === 1;
    } catch (error) {
      if (!(error instanceof DataStoreError && /NOSCRIPT/.test(error.message))) throw error;
      return Number(await this.#send(['EVAL', COMPARE_AND_SET, '1', ...args])) === 1; // loads it into the server's cache
    }
  }

  async #send(args: string[]): Promise<unknown> {
    const client = this.#open();
    try {
      return await client.sendCommand(args);
    } catch (error) {
      throw commandError(args, error);
    }
  }
}

/** destroy ends the client's connection at once; a client that has closed already (as @redis/client 5 does after a failed connect) is left so. */
function destroy(client: Client): void {
  try {
    client.destroy();
  } catch {
    // closed already
  }
}

function checkConnectOptions(options: unknown): { url: string; connectTimeout: number; clientOptions: Record<string, unknown> } {
  if (options === undefined) return { url: 'redis://localhost:6379', connectTimeout: CONNECT_TIMEOUT_MS, clientOptions: {} };
  checkOptionObject(options, ['url', 'connectTimeout', 'clientOptions'], 'the options of RedisDataStore.connect');
  const { url = 'redis://localhost:6379', connectTimeout = CONNECT_TIMEOUT_MS, clientOptions = {} } = options as RedisDataStoreOptions;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new DataStoreError('OPTION_INVALID', `url must be a redis:// or rediss:// URL; got ${typeof url === 'string' ? JSON.stringify(redact(url)) : typeof url}`);
  }
  if (typeof connectTimeout !== 'number' || !Number.isSafeInteger(connectTimeout) || connectTimeout <= 0) {
    throw new DataStoreError('OPTION_INVALID', `connectTimeout must be a positive whole number of ms; got ${String(connectTimeout)}`);
  }
  if (typeof clientOptions !== 'object' || clientOptions === null || Array.isArray(clientOptions)) {
    throw new DataStoreError('OPTION_INVALID', 'clientOptions must be an object');
  }
  for (const own of ['url', 'keyPrefix', 'disableOfflineQueue']) {
    if (own in clientOptions) throw new DataStoreError('OPTION_INVALID', `clientOptions.${own} is the store's own; ${own === 'url' ? 'give url beside clientOptions' : 'it cannot be set'}`);
  }
  return { url, connectTimeout, clientOptions };
}

function checkWrite(key: string, value: unknown, ttlSeconds: unknown): { json: string; expiry: string[] } {
  checkKey(key);
  const { json } = encodeValue(value);
  const expiresAt = expiryFor(ttlSeconds, Date.now());
  return { json, expiry: expiresAt === 0 ? [] : ['PXAT', String(expiresAt)] };
}

/** scanPrefix checks the options of keys() as DataStore does: `keys('tmp:')` must not list every key. */
function scanPrefix(options: unknown): string {
  if (options === undefined) return '';
  checkOptionObject(options, ['prefix'], 'the options of keys()');
  const { prefix = '' } = options as { prefix?: unknown };
  if (typeof prefix !== 'string') throw new DataStoreError('OPTION_INVALID', `prefix must be a string; got ${typeof prefix}`);
  return prefix;
}

function isStoreKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}

/** parseValue reads a stored text back; one that is not a JSON object was not written by a slabkv store. */
function parseValue<V>(key: string, text: string): V {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DataStoreError('VALUE_INVALID', `key ${JSON.stringify(key)} holds a string that is not a JSON object: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return value as V;
}

function isThenable(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** asyncRefused is DataStore's answer to an async fn, kept here: its value must be known when the write is made. */
function asyncRefused(): DataStoreError {
  return new DataStoreError('TRANSACTION_INVALID', 'update takes a synchronous function that returns the new value (nothing was changed)');
}

function notFound(key: string): DataStoreError {
  return new DataStoreError('KEY_NOT_FOUND', `key ${JSON.stringify(key)} not found`);
}

/**
 * commandError turns what a command failed with into a DataStoreError: a key of another Redis type VALUE_INVALID,
 * a server out of memory STORE_FULL, anything else (a lost or closed connection, a timeout, a refusal of the
 * server) IO_ERROR, each with the client's error as its cause.
 */
function commandError(args: string[], error: unknown): DataStoreError {
  const message = describeError(error);
  const script = args[0]!.startsWith('EVAL');
  const command = script ? 'update' : args[0];
  if (message.startsWith('WRONGTYPE')) {
    const key = script ? args[3] : args[1]; // EVALSHA sha 1 key ...; GET key
    return new DataStoreError('VALUE_INVALID', `key ${JSON.stringify(key)} holds a Redis value that is not a string, so not one a slabkv store wrote`, { cause: error });
  }
  if (message.startsWith('OOM')) return new DataStoreError('STORE_FULL', `the server is out of memory (maxmemory): ${message}`, { cause: error });
  return new DataStoreError('IO_ERROR', `${command} failed: ${message}`, { cause: error });
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join('; ');
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : String(error);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}

/** redact hides the password of a URL, for messages. */
function redact(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
