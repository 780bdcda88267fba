/**
 * Errors, at the bottom of the layers: every layer (format, table, store, api, cli) imports this module, and it
 * imports nothing of slabkv's.
 *
 * DataStoreError is the one error class slabkv throws. Its `code` says what happened; a code never changes meaning
 * and is never reused. Messages are for people and may change; programs should test `code`.
 */
export type ErrorCode =
  | 'KEY_INVALID' // key is not a string, is empty, or is not well-formed Unicode
  | 'KEY_TOO_LONG' // key has more than 32 code points
  | 'VALUE_INVALID' // value is not a JSON object, or JSON.stringify cannot serialise it
  | 'VALUE_TOO_LARGE' // the value's JSON text is more than 16,384 UTF-8 bytes
  | 'TTL_INVALID' // ttl is not a positive safe integer number of seconds
  | 'KEY_EXISTS' // create on a live key
  | 'KEY_NOT_FOUND' // read or delete of a missing or expired key
  | 'STORE_FULL' // the change would grow the file past maxFileSize
  | 'STORE_LOCKED' // another process has the file open
  | 'STORE_CLOSED' // the handle was closed
  | 'FILE_INVALID' // the path is not a slabkv file of a readable version
  | 'FILE_CORRUPT' // a slabkv file whose checksums or structure do not hold
  | 'OPTION_INVALID' // a constructor option is out of range
  | 'IO_ERROR' // the operating system refused; see `cause`
  | 'REENTRANT_CALL' // a call on a store from code that runs inside another call on it (a callback, toJSON, a getter)
  | 'TRANSACTION_INVALID'; // transaction() or update() was given a function that is async or a generator, or returned a promise

export class DataStoreError extends Error {
  override readonly name = 'DataStoreError';

  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** ioError wraps an operating-system error (with its errno code) as IO_ERROR. */
export function ioError(what: string, cause: unknown): DataStoreError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new DataStoreError('IO_ERROR', `${what}: ${code ?? (cause as Error)?.message ?? String(cause)}`, { cause });
}

/** corrupt is the error for a file whose checksums or structure do not hold. */
export function corrupt(message: string): DataStoreError {
  return new DataStoreError('FILE_CORRUPT', message);
}

/** errnoError turns an errno from the addon into an Error with the `code` and `errno` Node gives its own. */
export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  return Object.assign(new Error(`${syscall}: ${code} (errno ${errno})`), { errno, code, syscall });
}

function errnoName(errno: number): string {
  const names = errnoNumbers() as Record<string, number>;
  return Object.keys(names).find((name) => names[name] === errno) ?? `E${errno}`;
}

/**
 * errnoNumbers is node:os's table of error numbers by name (ENOENT: 2, ...). node:os is required the first time an
 * errno is looked at rather than as slabkv loads: it is the one built-in module loading slabkv would add to a
 * program's start, and opening an existing store never needs it (creating one does: the open meets ENOENT first).
 * This code runs from the CommonJS bundle, where require is defined.
 */
export function errnoNumbers(): typeof import('node:os').constants.errno {
  return (require('node:os') as typeof import('node:os')).constants.errno;
}
