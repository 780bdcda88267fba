/**
 * The slabkv command line: slabkv <command> [arguments] [--file PATH]. Without --file, the default store.
 * Results go to stdout as JSON; errors to stderr as "slabkv: CODE: message", with an exit code per error code.
 */
import { type Stats, closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DataStore } from '../api/data-store.js';
import type { DataStoreOptions } from '../api/validate.js';
import { DataStoreError, ioError, type ErrorCode } from '../errors.js';
import { DEFAULT_FILE, DEFAULT_FOLDER, userDataDir } from '../api/paths.js';
import { inspectHeader, inspectKey, inspectOffset, openForInspection } from './inspect.js';
import { LineReader, LoadError, dumpStore, loadEntries, type LoadResult } from './transfer.js';

/** Exit codes: 0 success, 1 "no" (has on a missing key), 2 usage, then one per error code. */
export const EXIT_CODES: Record<ErrorCode | 'USAGE' | 'NO' | 'PROBLEMS' | 'BAD_LINE', number> = {
  NO: 1, USAGE: 2,
  KEY_INVALID: 10, KEY_TOO_LONG: 11, VALUE_INVALID: 12, VALUE_TOO_LARGE: 13, TTL_INVALID: 14, KEY_EXISTS: 15,
  KEY_NOT_FOUND: 16, STORE_FULL: 17, STORE_LOCKED: 18, STORE_CLOSED: 19, FILE_INVALID: 20, FILE_CORRUPT: 21,
  OPTION_INVALID: 22, IO_ERROR: 23, REENTRANT_CALL: 24, TRANSACTION_INVALID: 25,
  PROBLEMS: 30, // verify found problems
  BAD_LINE: 31, // load refused its input
};

class UsageError extends Error {}

/** Thrown when stdout's reader has gone (`slabkv dump | head -1`): a quiet end, not an error. */
class PipeClosed extends Error {}

interface Command {
  usage: string;
  help: string;
  options?: ParseArgsConfig['options'];
  positionals: number;
  /** Commands that may create the store; the others refuse a missing file and create nothing. */
  creates?: boolean;
  run(args: string[], values: Record<string, string | boolean | undefined>, file: string | undefined): number;
}

/** stdout is written with write(2) in blocks of this size, so that EPIPE is met at once, where it can be handled. */
const OUT_BLOCK = 64 * 1024;
/** How long to wait before retrying a read or write that a non-blocking descriptor refused (EAGAIN). */
const RETRY_MS = 5;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let pending = '';

function write(text: string): void {
  pending += text;
  if (pending.length >= OUT_BLOCK) flushOut();
}

function flushOut(): void {
  const bytes = Buffer.from(pending, 'utf8');
  pending = '';
  for (let at = 0; at < bytes.length;) {
    try {
      at += writeSync(1, bytes, at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(sleeper, 0, 0, RETRY_MS); continue; }
      if (code === 'EPIPE') throw new PipeClosed();
      throw ioError('cannot write to stdout', error);
    }
  }
}

const out = (value: unknown): void => write(JSON.stringify(value) + '\n');
const warn = (text: string): void => { process.stderr.write(`slabkv: ${text}\n`); };
const progress = (text: string): void => { if (process.stderr.isTTY) process.stderr.write(`\r${text}\x1b[K`); };
const progressDone = (): void => { if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); };

function withStore<T>(file: string | undefined, fn: (db: DataStore) => T, options?: DataStoreOptions): T {
  const db = new DataStore(file, options);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** storePath is the store a command works on: --file, else the default store's path (no folder is created). */
function storePath(file: string | undefined): string {
  return file ?? join(userDataDir(), DEFAULT_FOLDER, DEFAULT_FILE);
}

/**
 * requireStore refuses, with IO_ERROR, a store file that does not exist (a mistyped --file must not become a new,
 * empty store) or is not a regular file; a directory is left to the library, which says FILE_INVALID.
 */
function requireStore(file: string): void {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataStoreError('IO_ERROR', `there is no store at ${file} (ENOENT); only put and load create one`, { cause });
    }
    throw ioError(`cannot read ${file}`, cause);
  }
  if (!stats.isFile() && !stats.isDirectory()) throw new DataStoreError('IO_ERROR', `${file} is not a regular file`);
}

function openInput(input: string | undefined): { fd: number; name: string } {
  if (input === undefined) return { fd: 0, name: 'stdin' };
  try {
    return { fd: openSync(input, 'r'), name: input };
  } catch (cause) {
    throw ioError(`cannot read ${input}`, cause);
  }
}

function parseTtl(text: string | boolean | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !/^\d+$/.test(text)) throw new DataStoreError('TTL_INVALID', `--ttl must be a positive whole number of seconds; got ${String(text)}`);
  return Number(text);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DataStoreError('VALUE_INVALID', `${what} is not valid JSON (${(cause as Error).message}); quote it for the shell, as in '{"name":"Ada"}'`, { cause });
  }
}

const commands: Record<string, Command> = {
  put: {
    usage: 'slabkv put KEY JSON [--ttl SECONDS] [--file PATH]',
    help: 'Creates KEY with the JSON object as its value. Refused with KEY_EXISTS if the key is live.',
    options: { ttl: { type: 'string' } },
    positionals: 2,
    creates: true,
    run([key, json], values, file) {
      const value = parseJson(json!, 'the value argument');
      withStore(file, (db) => db.create(key!, value as never, parseTtl(values['ttl'])));
      out({ created: key });
      return 0;
    },
  },
  get: {
    usage: 'slabkv get KEY [--file PATH]',
    help: 'Prints the value of KEY as JSON. KEY_NOT_FOUND if it is missing or expired.',
    positionals: 1,
    run([key], _values, file) {
      write(withStore(file, (db) => db.readText(key!)) + '\n');
      return 0;
    },
  },
  del: {
    usage: 'slabkv del KEY [--file PATH]',
    help: 'Deletes KEY. KEY_NOT_FOUND if it is missing or expired.',
    positionals: 1,
    run([key], _values, file) {
      withStore(file, (db) => db.delete(key!));
      out({ deleted: key });
      return 0;
    },
  },
  has: {
    usage: 'slabkv has KEY [--file PATH]',
    help: 'Prints true or false; exits 0 if KEY is live, 1 if not.',
    positionals: 1,
    run([key], _values, file) {
      const live = withStore(file, (db) => db.has(key!));
      out(live);
      return live ? 0 : EXIT_CODES.NO;
    },
  },
  keys: {
    usage: 'slabkv keys [--prefix P] [--file PATH]',
    help: 'Prints every live key (one JSON string per line, in file order), or those starting with P.',
    options: { prefix: { type: 'string' } },
    positionals: 0,
    run(_args, values, file) {
      const prefix = values['prefix'];
      withStore(file, (db) => { for (const key of db.keys(typeof prefix === 'string' ? { prefix } : undefined)) out(key); });
      return 0;
    },
  },
  stats: {
    usage: 'slabkv stats [--file PATH]',
    help: 'Prints counts, sizes, load factor, space by size class, how the file was found (openedFrom: clean, resumed, recovered or repaired) and whether it had been closed cleanly.',
    positionals: 0,
    run(_args, _values, file) {
      out(withStore(file, (db) => {
        const stats = db.stats();
        return { ...stats, closedCleanly: stats.openedFrom === 'clean', classes: db.spaceByClass() };
      }));
      return 0;
    },
  },
  verify: {
    usage: 'slabkv verify [--file PATH]',
    help: 'Checks every structure and checksum, changing nothing. Prints the report; exits 30 if it found problems.',
    positionals: 0,
    run(_args, _values, file) {
      const report = withStore(file, (db) => db.verify({ onProgress: (done, total) => progress(`verify: slab ${done} of ${total}`) }));
      progressDone();
      out(report);
      return report.ok ? 0 : EXIT_CODES.PROBLEMS;
    },
  },
  repair: {
    usage: 'slabkv repair [--file PATH]',
    help: 'Rebuilds the index, free lists and counters from the records, as recovery after a crash does, and prints what it did ({ records, dropped, expired, duplicates, repairedSlabs, unreadableSlabs, ms }). Every record whose checksum holds is kept. The way out after FILE_CORRUPT, also when the header is damaged or the file was cut short: only the magic and the format version must hold.',
    positionals: 0,
    run(_args, _values, file) {
      out(withStore(file, (db) => db.stats().recovered, { repair: true }));
      return 0;
    },
  },
  backup: {
    usage: 'slabkv backup TARGET [--file PATH]',
    help: 'Writes a copy of the store to the new file TARGET: a cleanly closed store, whole or not there at all. Refused if TARGET exists (IO_ERROR, EEXIST). The store must not be open in another process (STORE_LOCKED); a program that has it open takes its backups with db.backup(path).',
    positionals: 1,
    run([target], _values, file) {
      const store = withStore(file, (db) => { db.backup(target!); return db.path; });
      out({ backup: resolve(target!), of: store });
      return 0;
    },
  },
  inspect: {
    usage: 'slabkv inspect [--key KEY | --offset N] [--file PATH]',
    help: 'Decodes the file for reading beside a hexdump: the header; with --key, the key\'s hash, its probe through the buckets and its record; with --offset, whatever lies there. Reads the file as it is, without locking it.',
    options: { key: { type: 'string' }, offset: { type: 'string' } },
    positionals: 0,
    run(_args, values, file) {
      const bytes = openForInspection(storePath(file)); // without opening the store: inspect takes no lock
      let lines: string[];
      try {
        const offset = values['offset'];
        if (typeof values['key'] === 'string') lines = inspectKey(bytes, values['key']);
        else if (typeof offset === 'string') {
          const n = Number(offset);
          if (!Number.isSafeInteger(n) || n < 0 || n >= bytes.size) throw new UsageError(`--offset must be a byte offset inside the ${bytes.size}-byte file`);
          lines = inspectOffset(bytes, n);
        } else lines = inspectHeader(bytes);
      } finally {
        bytes.close();
      }
      write(lines.join('\n') + '\n');
      return 0;
    },
  },
  dump: {
    usage: 'slabkv dump [--format jsonl|resp] [--file PATH] > entries.jsonl',
    help: 'Writes every live entry as a JSON line {"key":…,"value":…,"expiresAt":ms or null}; with --format resp, as the Redis command SET key value (PXAT ms when it expires) in the Redis protocol, for slabkv dump --format resp | redis-cli --pipe (Redis 7 or Valkey): every key, value and expiry arrives exact. Expired entries are left out. Then checks the store: if it is damaged, each damaged record (which the dump lacks) is named on stderr and the exit code is 21 (FILE_CORRUPT).',
    options: { format: { type: 'string' } },
    positionals: 0,
    run(_args, values, file) {
      const format = values['format'] ?? 'jsonl';
      if (format !== 'jsonl' && format !== 'resp') throw new UsageError(`--format must be jsonl or resp; got ${String(format)}`);
      withStore(file, (db) => {
        const { entries, damaged } = dumpStore(db, write, (n) => progress(`dump: ${n} entries`), format);
        progressDone();
        if (damaged.length === 0) return;
        flushOut();
        for (const line of damaged) warn(`dump skipped: ${line}`);
        throw new DataStoreError('FILE_CORRUPT', `dumped ${entries} entries, but the store is damaged (above), so the dump lacks the records named; slabkv repair keeps every record whose checksum holds`);
      });
      return 0;
    },
  },
  load: {
    usage: 'slabkv load [--input FILE] [--resume] [--file PATH] < entries.jsonl',
    help: 'Creates the entries of JSON lines as written by dump, each with its exact expiresAt; entries whose expiresAt has passed are skipped. All or nothing while it runs: a bad line (named by its number), a key that appears twice or already exists in the store, or a failed create undoes every entry made. If the process is killed, the entries before the point it reached stay, each whole: run the same load again with --resume, which skips entries already in the store with the same value and expiresAt, to finish it.',
    options: { input: { type: 'string' }, resume: { type: 'boolean' } },
    positionals: 0,
    creates: true,
    run(_args, values, file) {
      const resume = values['resume'] === true;
      const input = openInput(typeof values['input'] === 'string' ? values['input'] : undefined);
      let result: LoadResult;
      try {
        result = withStore(file, (db) => {
          try {
            return loadEntries(db, new LineReader(input.fd, input.name), resume, (n) => progress(`load: ${n} entries`));
          } finally {
            progressDone();
          }
        });
      } finally {
        if (input.fd !== 0) closeSync(input.fd);
      }
      const { loaded, skippedExpired, alreadyThere } = result;
      out(resume ? { loaded, skippedExpired, alreadyThere } : { loaded, skippedExpired });
      return 0;
    },
  },
};

/** version reads the package's version from its package.json, one folder above dist/. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const GENERAL = `slabkv: a key-value store of JSON objects in one file

Usage: slabkv <command> [arguments] [--file PATH]    (without --file: the default store)
       slabkv --version

Commands:
${Object.values(commands).map((c) => `  ${c.usage}`).join('\n')}

Only put and load create a store; the other commands refuse a missing file (IO_ERROR).
slabkv <command> --help tells more. Exit codes: 0 done, 1 has: no, 2 usage, 10-24 one per error code
(${Object.entries(EXIT_CODES).filter(([, n]) => n >= 10 && n < 30).map(([code, n]) => `${n} ${code}`).join(', ')}),
30 verify found problems, 31 load refused its input. A closed stdout (slabkv dump | head) ends quietly with 0.
`;

export function main(argv: string[]): number {
  try {
    const code = run(argv);
    flushOut();
    return code;
  } catch (error) {
    if (error instanceof PipeClosed) return 0; // the reader has all it wanted
    throw error;
  }
}

function run(argv: string[]): number {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    write(GENERAL);
    return name === undefined ? EXIT_CODES.USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    write(`${version()}\n`);
    return 0;
  }
  const command = commands[name];
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const { values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { ...command.options, file: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values['help']) {
      write(`Usage: ${command.usage}\n\n${command.help}\n`);
      return 0;
    }
    if (positionals.length !== command.positionals) throw new UsageError(`expected ${command.positionals} argument(s), got ${positionals.length}`);
    const file = typeof values['file'] === 'string' ? values['file'] : undefined;
    if (!command.creates) requireStore(storePath(file));
    return command.run(positionals, values as Record<string, string | boolean | undefined>, file);
  } catch (error) {
    if (error instanceof PipeClosed) throw error;
    try { flushOut(); } catch (e) { if (!(e instanceof PipeClosed)) throw e; } // what was made before the error
    if (error instanceof DataStoreError) {
      warn(`${error.code}: ${error.message}`);
      return EXIT_CODES[error.code];
    }
    if (error instanceof LoadError) {
      warn(`load refused, nothing loaded: ${error.message}`);
      return EXIT_CODES.BAD_LINE;
    }
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`slabkv: ${(error as Error).message}\n${command ? `Usage: ${command.usage}\n` : 'Run slabkv --help for the commands.\n'}`);
      return EXIT_CODES.USAGE;
    }
    throw error;
  }
}

// Run as a program (bin/slabkv, node dist/cli.cjs); required, it only exports (tests call dumpStore and loadEntries).
if (require.main === module) process.exitCode = main(process.argv.slice(2));

export { dumpStore, loadEntries };
