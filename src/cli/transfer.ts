/**
 * dump and load, as functions over an open store: the CLI's `slabkv dump` and `slabkv load` call them with stdout
 * and stdin, tests call them in-process. A dump line is {"key":…,"value":…,"expiresAt":ms or null}; a dump in the
 * format 'resp' is a Redis SET command per entry instead, for `redis-cli --pipe`.
 */
import { readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { DataStore } from '../api/data-store.js';
import { checkKey, encodeValue } from '../api/validate.js';
import { DataStoreError, ioError, type ErrorCode } from '../errors.js';
import { keyAt, openForInspection } from './inspect.js';
import { isExpired } from '../format/rules.js';

/** Bytes read from the input of load at a time. */
const IN_BLOCK = 64 * 1024;
/** A longer line of load's input is refused: a valid entry is at most about 16.5 KB of JSON. */
const MAX_LINE_CHARS = 1024 * 1024;
/** How long to wait before retrying a read that a non-blocking descriptor refused (EAGAIN). */
const RETRY_MS = 5;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Progress is reported every this many entries. */
const PROGRESS_EVERY = 10000;

/** hasCode tells a DataStoreError by its code: the store may come from another bundle of slabkv (a test's). */
function hasCode(error: unknown, code: ErrorCode): boolean {
  return error instanceof Error && (error as DataStoreError).code === code;
}

/** LoadError refuses a load at a line of its input; everything the load made is undone first. */
export class LoadError extends Error {}

/** The formats of a dump: JSON lines (which load reads back), or Redis protocol commands. */
export type DumpFormat = 'jsonl' | 'resp';

/** jsonLine is the dump line of one entry, as load reads it. */
function jsonLine(key: string, text: string, expiresAt: number | null): string {
  return `{"key":${JSON.stringify(key)},"value":${text},"expiresAt":${expiresAt}}\n`;
}

/**
 * respCommand is one entry as the Redis command `SET key value` (`PXAT ms` when it expires), encoded in the Redis
 * protocol (RESP2: an array of bulk strings, each with its length in bytes), which `redis-cli --pipe` sends as it
 * is. The value is the stored JSON text itself, byte for byte; PXAT keeps the expiry to the millisecond.
 */
export function respCommand(key: string, text: string, expiresAt: number | null): string {
  const parts = expiresAt === null ? ['SET', key, text] : ['SET', key, text, 'PXAT', String(expiresAt)];
  let command = `*${parts.length}\r\n`;
  for (const part of parts) command += `$${Buffer.byteLength(part, 'utf8')}\r\n${part}\r\n`;
  return command;
}

/**
 * dumpStore writes every live entry through emit (a JSON line, or a SET command with format 'resp'), then checks
 * the store: it returns how many it wrote and a sentence for each damaged record (which the dump lacks), so that
 * none is lost unsaid.
 */
export function dumpStore(db: DataStore, emit: (line: string) => void, onProgress?: (entries: number) => void, format: DumpFormat = 'jsonl'): { entries: number; damaged: string[] } {
  const encode = format === 'resp' ? respCommand : jsonLine;
  let entries = 0;
  const damaged: string[] = [];
  for (const key of db.keys()) {
    let text: string;
    let expiresAt: number | null;
    try {
      text = db.readText(key);
      expiresAt = db.expiresAt(key);
    } catch (error) {
      if (hasCode(error, 'KEY_NOT_FOUND')) continue; // expired meanwhile
      if (hasCode(error, 'FILE_CORRUPT')) { damaged.push(`key ${JSON.stringify(key)}: ${(error as Error).message}`); continue; }
      throw error;
    }
    if (expiresAt !== null && isExpired(expiresAt, Date.now())) continue; // expired since: a dump leaves it out
    emit(encode(key, text, expiresAt));
    if (++entries % PROGRESS_EVERY === 0) onProgress?.(entries);
  }
  // keys() passes over records that fail their checksum: verify finds them.
  const report = db.verify();
  if (!report.ok) {
    const inspection = openForInspection(db.path);
    try {
      for (const { kind, offset, message } of report.details) {
        const key = kind === 'damaged-record' ? keyAt(inspection, offset) : null;
        damaged.push(key === null ? message : `${message}; its key reads ${JSON.stringify(key)}`);
      }
    } finally {
      inspection.close();
    }
  }
  return { entries, damaged };
}

/** The fields of a dump line. */
const LINE_FIELDS = ['key', 'value', 'expiresAt'];

export interface LoadResult { loaded: number; skippedExpired: number; alreadyThere: number }

/**
 * loadEntries creates the entries of dump lines, each with its exact expiresAt, skipping those whose expiresAt has
 * passed. One transaction, so all or nothing, across a crash too: a bad line, a key that appears twice or already
 * exists, or a failed create undoes every entry made (LoadError names the line). With resume, entries already in
 * the store with the same value and expiresAt are skipped, which finishes a load made in parts.
 */
export function loadEntries(db: DataStore, lines: { readLine(): string | null; readonly number: number }, resume: boolean, onProgress?: (entries: number) => void): LoadResult {
  return db.transaction(() => loadAll(db, lines, resume, onProgress));
}

function loadAll(db: DataStore, lines: { readLine(): string | null; readonly number: number }, resume: boolean, onProgress?: (entries: number) => void): LoadResult {
  const seen = new Set<string>();
  let loaded = 0;
  let skippedExpired = 0;
  let alreadyThere = 0;
  const refuse = (message: string): never => { throw new LoadError(`line ${lines.number}: ${message}`); };
  for (let text = lines.readLine(); text !== null; text = lines.readLine()) {
    if (text.trim() === '') continue;
    let entry: { key?: unknown; value?: unknown; expiresAt?: unknown };
    try { entry = JSON.parse(text); } catch (error) { return refuse(`not JSON (${(error as Error).message})`); }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return refuse('not a JSON object');
    // A misspelt field would otherwise load silently without what it meant (an expiry, say).
    const unknown = Object.keys(entry).find((name) => !LINE_FIELDS.includes(name));
    if (unknown !== undefined) return refuse(`unknown field ${JSON.stringify(unknown)}; a line has ${LINE_FIELDS.join(', ')}`);
    let json: string;
    try {
      checkKey(entry.key);
      json = encodeValue(entry.value).json;
    } catch (error) {
      return refuse(error instanceof DataStoreError ? `${error.code}: ${error.message}` : String(error));
    }
    const key = entry.key;
    const { expiresAt = null } = entry;
    if (expiresAt !== null && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt > 0)) return refuse('expiresAt must be null or milliseconds since the epoch');
    if (seen.has(key)) return refuse(`key ${JSON.stringify(key)} appears twice`);
    seen.add(key);
    if (isExpired(expiresAt ?? 0, Date.now())) { skippedExpired++; continue; }
    if (db.has(key)) {
      if (resume && db.readText(key) === json && db.expiresAt(key) === expiresAt) { alreadyThere++; continue; }
      return refuse(`key ${JSON.stringify(key)} already exists in the store${resume ? ' with another value or expiry' : ''}`);
    }
    try {
      db.create(key, entry.value as never, expiresAt === null ? undefined : { expiresAt });
    } catch (error) {
      // It expired between the check above and the create: skipped as the others.
      if (hasCode(error, 'TTL_INVALID')) { skippedExpired++; continue; }
      throw error;
    }
    loaded++;
    if (loaded % PROGRESS_EVERY === 0) onProgress?.(loaded);
  }
  return { loaded, skippedExpired, alreadyThere };
}

/**
 * LineReader reads a file or stdin line by line with read(2), a block at a time: an input of any size is streamed,
 * never held whole in one string.
 */
export class LineReader {
  private readonly block = Buffer.alloc(IN_BLOCK);
  private readonly decoder = new StringDecoder('utf8');
  private lines: string[] = [];
  private next = 0;
  private rest = '';
  private ended = false;
  /** The number of the line last returned, from 1. */
  number = 0;

  constructor(private readonly fd: number, private readonly name: string) {}

  /** readLine returns the next line without its newline, or null at the end of the input. */
  readLine(): string | null {
    while (this.next >= this.lines.length) {
      if (this.ended) return null;
      this.fill();
    }
    this.number++;
    return this.lines[this.next++]!;
  }

  private fill(): void {
    let n: number;
    try {
      n = readSync(this.fd, this.block, 0, this.block.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') { Atomics.wait(sleeper, 0, 0, RETRY_MS); return; }
      throw ioError(`cannot read ${this.name}`, error);
    }
    const text = this.rest + (n === 0 ? this.decoder.end() : this.decoder.write(this.block.subarray(0, n)));
    const parts = text.split('\n');
    this.rest = n === 0 ? '' : parts.pop()!;
    if (n === 0) this.ended = true;
    if (this.rest.length > MAX_LINE_CHARS) {
      throw new LoadError(`line ${this.number + parts.length + 1}: longer than ${MAX_LINE_CHARS} characters; a dump line is at most about 16.5 KB`);
    }
    this.lines = parts;
    this.next = 0;
  }
}

