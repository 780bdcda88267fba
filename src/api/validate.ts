/** Checks of every argument that crosses the public API, each failure a DataStoreError with its code. */
import { MAX_FILE_SIZE, MAX_KEY_CHARS, MAX_VALUE_BYTES, MIN_FILE_SIZE } from '../format/layout.js';
import { DataStoreError } from '../errors.js';

/** A JSON object: what create stores and read returns. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** checkKey throws unless key is a non-empty, well-formed string of at most 32 code points. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new DataStoreError('KEY_INVALID', `key must be a non-empty string; got ${describe(key)}`);
  }
  if (key.length > MAX_KEY_CHARS) {
    let codePoints = 0;
    for (const _ of key) codePoints++;
    if (codePoints > MAX_KEY_CHARS && key.isWellFormed()) {
      throw new DataStoreError('KEY_TOO_LONG', `key has ${codePoints} characters; the limit is ${MAX_KEY_CHARS}`);
    }
  }
  if (!key.isWellFormed()) throw new DataStoreError('KEY_INVALID', 'key is not well-formed Unicode (it has a lone surrogate)');
}

/** encodeValue returns the JSON text of value, or throws unless it is a JSON object within the size limit. */
export function encodeValue(value: unknown): { json: string; bytes: number } {
  if (typeof value !== 'object' || value === null || isArray(value)) {
    throw new DataStoreError('VALUE_INVALID', `value must be a JSON object; got ${describe(value)}`);
  }
  let json: unknown;
  try {
    json = JSON.stringify(value);
  } catch (cause) {
    throw new DataStoreError('VALUE_INVALID', `value cannot be serialised as JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof json !== 'string' || json.charCodeAt(0) !== 0x7b /* { */) {
    throw new DataStoreError('VALUE_INVALID', 'value does not serialise to a JSON object (see its toJSON)');
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_VALUE_BYTES) {
    throw new DataStoreError('VALUE_TOO_LARGE', `value is ${bytes} bytes of JSON; the limit is ${MAX_VALUE_BYTES}`);
  }
  return { json, bytes };
}

/** What create takes as its third argument: a TTL in seconds, or an absolute expiry time. */
export type Expiry = number | { expiresAt: number };

/**
 * expiryFor turns an optional TTL in seconds, or `{ expiresAt }` (ms since the epoch, later than now), into an
 * absolute expiry (ms since the epoch; 0 = never).
 */
export function expiryFor(ttlSeconds: unknown, nowMs: number): number {
  if (ttlSeconds === undefined) return 0;
  if (typeof ttlSeconds === 'object' && ttlSeconds !== null && !isArray(ttlSeconds)) {
    const { expiresAt } = ttlSeconds as { expiresAt?: unknown };
    checkKnownKeys(ttlSeconds, ['expiresAt'], 'the expiry', 'TTL_INVALID');
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= nowMs) {
      throw new DataStoreError('TTL_INVALID', `expiresAt must be a whole number of ms since the epoch, later than now (${nowMs}); got ${describe(expiresAt)}`);
    }
    return expiresAt;
  }
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new DataStoreError('TTL_INVALID', `ttl must be a positive whole number of seconds; got ${describe(ttlSeconds)}`);
  }
  return Math.min(nowMs + ttlSeconds * 1000, Number.MAX_SAFE_INTEGER);
}

export interface DataStoreOptions {
  /** The file never grows past this many bytes. Default and ceiling: 1 GiB (1,073,741,824). */
  maxFileSize?: number;
  /**
   * 'flush' (default): changes reach the disk at flush() and close(), and whenever the OS writes pages back; they
   * survive a crash of the process at once. 'always': every change (a create, set, update, delete or transaction) is on disk before it returns.
   */
  durability?: 'flush' | 'always';
  /**
   * true: open the file by rebuilding it from its records, as db.repair() does, even when its header is damaged
   * and a plain open would refuse it with FILE_CORRUPT; what it did is in stats().recovered. Default false.
   */
  repair?: boolean;
}

export function checkOptions(options: unknown): Required<DataStoreOptions> {
  if (options === undefined) return { maxFileSize: MAX_FILE_SIZE, durability: 'flush', repair: false };
  checkOptionObject(options, ['maxFileSize', 'durability', 'repair'], 'the options');
  const { maxFileSize = MAX_FILE_SIZE, durability = 'flush', repair = false } = options as DataStoreOptions;
  if (repair !== true && repair !== false) {
    throw new DataStoreError('OPTION_INVALID', `repair must be true or false; got ${describe(repair)}`);
  }
  if (durability !== 'flush' && durability !== 'always') {
    throw new DataStoreError('OPTION_INVALID', `durability must be 'flush' or 'always'; got ${describe(durability)}`);
  }
  if (typeof maxFileSize !== 'number' || !Number.isSafeInteger(maxFileSize) || maxFileSize < MIN_FILE_SIZE || maxFileSize > MAX_FILE_SIZE) {
    throw new DataStoreError('OPTION_INVALID',
      `maxFileSize must be a whole number of bytes from ${MIN_FILE_SIZE} to ${MAX_FILE_SIZE}; got ${describe(maxFileSize)}`);
  }
  return { maxFileSize, durability, repair };
}

/**
 * checkOptionObject throws OPTION_INVALID unless options is a plain object whose own keys are all in `known`: a
 * misspelt option (`{ prefx }`) or a bare string where an object belongs (`keys('tmp:')`) must not be ignored.
 */
export function checkOptionObject(options: unknown, known: readonly string[], what: string): void {
  if (typeof options !== 'object' || options === null || isArray(options)) {
    throw new DataStoreError('OPTION_INVALID', `${what} must be an object; got ${describe(options)}`);
  }
  checkKnownKeys(options, known, what, 'OPTION_INVALID');
}

function checkKnownKeys(object: object, known: readonly string[], what: string, code: 'OPTION_INVALID' | 'TTL_INVALID'): void {
  let keys: string[];
  try {
    keys = Object.keys(object);
  } catch (cause) {
    throw new DataStoreError(code, `${what} cannot be read: ${(cause as Error).message}`, { cause });
  }
  const unknown = keys.find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new DataStoreError(code, `unknown ${JSON.stringify(unknown)} in ${what}; known: ${known.join(', ')}`);
  }
}

/** isArray is Array.isArray that answers false instead of throwing for a revoked Proxy (JSON.stringify then refuses it). */
function isArray(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'bigint') return `the bigint ${value}n`;
  if (isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
