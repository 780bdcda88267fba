/**
 * The slabkv command line: slabkv <command> [arguments] [--file PATH]. Without --file, the default store.
 * Results go to stdout as JSON; errors to stderr as "slabkv: CODE: message", with an exit code per error code.
 */
import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DataStore } from '../api/data-store.js';
import { DataStoreError, type ErrorCode } from '../api/errors.js';
import { checkKey, encodeValue } from '../api/validate.js';
import { defaultStorePath } from '../api/paths.js';
import { inspectHeader, inspectKey, inspectOffset, openForInspection } from './inspect.js';

/** Exit codes: 0 success, 1 "no" (has on a missing key), 2 usage, then one per error code. */
export const EXIT_CODES: Record<ErrorCode | 'USAGE' | 'NO' | 'PROBLEMS' | 'BAD_LINE', number> = {
  NO: 1, USAGE: 2,
  KEY_INVALID: 10, KEY_TOO_LONG: 11, VALUE_INVALID: 12, VALUE_TOO_LARGE: 13, TTL_INVALID: 14, KEY_EXISTS: 15,
  KEY_NOT_FOUND: 16, STORE_FULL: 17, STORE_LOCKED: 18, STORE_CLOSED: 19, FILE_INVALID: 20, FILE_CORRUPT: 21,
  OPTION_INVALID: 22, IO_ERROR: 23,
  PROBLEMS: 30, // verify found problems
  BAD_LINE: 31, // load refused its input
};

class UsageError extends Error {}

interface Command {
  usage: string;
  help: string;
  options?: ParseArgsConfig['options'];
  positionals: number;
  run(args: string[], values: Record<string, string | boolean | undefined>, file: string | undefined): number;
}

const out = (value: unknown): void => { process.stdout.write(JSON.stringify(value) + '\n'); };
const progress = (text: string): void => { if (process.stderr.isTTY) process.stderr.write(`\r${text}\x1b[K`); };
const progressDone = (): void => { if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); };

function withStore<T>(file: string | undefined, fn: (db: DataStore) => T): T {
  const db = new DataStore(file);
  try {
    return fn(db);
  } finally {
    db.close();
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
    throw new DataStoreError('VALUE_INVALID', `${what} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

const commands: Record<string, Command> = {
  put: {
    usage: 'slabkv put KEY JSON [--ttl SECONDS] [--file PATH]',
    help: 'Creates KEY with the JSON object as its value. Refused with KEY_EXISTS if the key is live.',
    options: { ttl: { type: 'string' } },
    positionals: 2,
    run([key, json], values, file) {
      const value = parseJson(json!, 'JSON');
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
      process.stdout.write(withStore(file, (db) => db.readText(key!)) + '\n');
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
    help: 'Prints counts, sizes, load factor, space by size class, and whether the file had been closed cleanly.',
    positionals: 0,
    run(_args, _values, file) {
      out(withStore(file, (db) => {
        const stats = db.stats();
        return { ...stats, closedCleanly: stats.recovered === null, classes: db.spaceByClass() };
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
  inspect: {
    usage: 'slabkv inspect [--key KEY | --offset N] [--file PATH]',
    help: 'Decodes the file for reading beside a hexdump: the header; with --key, the key\'s hash, its probe through the buckets and its record; with --offset, whatever lies there. Reads the file as it is, without locking it.',
    options: { key: { type: 'string' }, offset: { type: 'string' } },
    positionals: 0,
    run(_args, values, file) {
      const path = file ?? defaultStorePath(); // without opening it: inspect takes no lock
      let bytes;
      try {
        bytes = openForInspection(path);
      } catch (cause) {
        throw new DataStoreError('IO_ERROR', `cannot read ${path}: ${(cause as Error).message}`, { cause });
      }
      const offset = values['offset'];
      let lines: string[];
      if (typeof values['key'] === 'string') lines = inspectKey(bytes, values['key']);
      else if (typeof offset === 'string') {
        const n = Number(offset);
        if (!Number.isSafeInteger(n) || n < 0 || n >= bytes.size) throw new UsageError(`--offset must be a byte offset inside the ${bytes.size}-byte file`);
        lines = inspectOffset(bytes, n);
      } else lines = inspectHeader(bytes);
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    },
  },
  dump: {
    usage: 'slabkv dump [--file PATH] > entries.jsonl',
    help: 'Writes every live entry as a JSON line {"key":…,"value":…,"expiresAt":ms or null}.',
    positionals: 0,
    run(_args, _values, file) {
      withStore(file, (db) => {
        let n = 0;
        for (const key of db.keys()) {
          let text: string;
          let expiresAt: number | null;
          try {
            text = db.readText(key);
            expiresAt = db.expiresAt(key);
          } catch (error) {
            if (error instanceof DataStoreError && error.code === 'KEY_NOT_FOUND') continue; // expired meanwhile
            throw error;
          }
          process.stdout.write(`{"key":${JSON.stringify(key)},"value":${text},"expiresAt":${expiresAt}}\n`);
          if (++n % 10000 === 0) progress(`dump: ${n} entries`);
        }
        progressDone();
      });
      return 0;
    },
  },
  load: {
    usage: 'slabkv load [--input FILE] [--file PATH] < entries.jsonl',
    help: 'Creates the entries of JSON lines as written by dump. All or nothing: every line is checked first (and an entry whose key exists refuses the load); if a create then fails, the entries already made are deleted again. Entries whose expiresAt has passed are skipped. A TTL is rounded up to a whole second.',
    options: { input: { type: 'string' } },
    positionals: 0,
    run(_args, values, file) {
      const input = typeof values['input'] === 'string' ? values['input'] : 0;
      const lines = fs.readFileSync(input, 'utf8').split('\n');
      const now = Date.now();
      const entries: Array<{ key: string; value: object; ttl: number | undefined }> = [];
      const seen = new Set<string>();
      let skipped = 0;
      const refuse = (line: number, message: string): never => { throw new LoadError(`line ${line}: ${message}`); };
      lines.forEach((text, i) => {
        if (text.trim() === '') return;
        let entry: { key?: unknown; value?: unknown; expiresAt?: unknown };
        try { entry = JSON.parse(text); } catch (error) { return refuse(i + 1, `not JSON (${(error as Error).message})`); }
        if (typeof entry !== 'object' || entry === null) return refuse(i + 1, 'not a JSON object');
        try {
          checkKey(entry.key);
          encodeValue(entry.value);
        } catch (error) {
          return refuse(i + 1, error instanceof DataStoreError ? `${error.code}: ${error.message}` : String(error));
        }
        const { expiresAt = null } = entry;
        if (expiresAt !== null && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt > 0)) return refuse(i + 1, 'expiresAt must be null or milliseconds since the epoch');
        if (seen.has(entry.key as string)) return refuse(i + 1, `key ${JSON.stringify(entry.key)} appears twice`);
        seen.add(entry.key as string);
        if (expiresAt !== null && expiresAt <= now) { skipped++; return; }
        entries.push({ key: entry.key as string, value: entry.value as object, ttl: expiresAt === null ? undefined : Math.ceil((expiresAt - now) / 1000) });
      });
      withStore(file, (db) => {
        for (const [i, { key }] of entries.entries()) if (db.has(key)) throw new LoadError(`key ${JSON.stringify(key)} (entry ${i + 1}) already exists in the store`);
        const made: string[] = [];
        try {
          for (const { key, value, ttl } of entries) {
            db.create(key, value as never, ttl);
            made.push(key);
            if (made.length % 10000 === 0) progress(`load: ${made.length} of ${entries.length}`);
          }
        } catch (error) {
          for (const key of made) db.delete(key);
          throw error;
        } finally {
          progressDone();
        }
      });
      out({ loaded: entries.length, skippedExpired: skipped });
      return 0;
    },
  },
};

class LoadError extends Error {}

const GENERAL = `slabkv: a key-value store of JSON objects in one file

Usage: slabkv <command> [arguments] [--file PATH]    (without --file: the default store)

Commands:
${Object.values(commands).map((c) => `  ${c.usage}`).join('\n')}

slabkv <command> --help tells more. Exit codes: 0 done, 1 has: no, 2 usage, 10-23 one per error code
(${Object.entries(EXIT_CODES).filter(([, n]) => n >= 10 && n < 30).map(([code, n]) => `${n} ${code}`).join(', ')}),
30 verify found problems, 31 load refused its input.
`;

export function main(argv: string[]): number {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(GENERAL);
    return name === undefined ? EXIT_CODES.USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    // dist/cli.cjs sits one folder below the package root.
    process.stdout.write(`${(JSON.parse(fs.readFileSync(`${__dirname}/../package.json`, 'utf8')) as { version: string }).version}\n`);
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
      process.stdout.write(`Usage: ${command.usage}\n\n${command.help}\n`);
      return 0;
    }
    if (positionals.length !== command.positionals) throw new UsageError(`expected ${command.positionals} argument(s), got ${positionals.length}`);
    const file = typeof values['file'] === 'string' ? values['file'] : undefined;
    return command.run(positionals, values as Record<string, string | boolean | undefined>, file);
  } catch (error) {
    if (error instanceof DataStoreError) {
      process.stderr.write(`slabkv: ${error.code}: ${error.message}\n`);
      return EXIT_CODES[error.code];
    }
    if (error instanceof LoadError) {
      process.stderr.write(`slabkv: load refused, nothing loaded: ${error.message}\n`);
      return EXIT_CODES.BAD_LINE;
    }
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`slabkv: ${(error as Error).message}\n${command ? `Usage: ${command.usage}\n` : 'Run slabkv --help for the commands.\n'}`);
      return EXIT_CODES.USAGE;
    }
    throw error;
  }
}

process.exitCode = main(process.argv.slice(2));
