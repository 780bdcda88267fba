/**
 * Every number of the file format, in one place. spec/FORMAT.md is the contract; test/spec.test.ts parses the
 * spec's tables and checks them against this module, so the two cannot drift apart.
 *
 * All integers are unsigned little-endian. Offsets are byte offsets from the start of the file.
 */

/** MAGIC opens every slabkv file: a high byte, the name, CR LF, ^Z, LF (after PNG), then zero padding. */
export const MAGIC = Uint8Array.of(0x89, 0x73, 0x6c, 0x61, 0x62, 0x6b, 0x76, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0);
/**
 * FORMAT_VERSION is the version of this layout, written in the header's formatVersion: a program may change a file
 * only when it knows that version. READ_VERSION is the oldest version of a reader that may read a file written
 * under this layout (header readVersion): a later version that only adds what older readers can ignore keeps it.
 */
export const FORMAT_VERSION = 3;
export const READ_VERSION = 3;
/** The version of the files that slabkv upgrades when it opens them by building a new file (spec section 13). */
export const UPGRADED_VERSION = 1;
/** The version that slabkv upgrades in place, by rewriting the header's version fields (spec section 13). */
export const PREVIOUS_VERSION = 2;

export const HEADER_SIZE = 4096; // one page; the heap starts right after it
export const SLAB_SIZE = 65536; // the heap is cut into slabs of this size
export const MAX_FILE_SIZE = 1073741824; // 1 GiB: offsets are u32 and a store never grows past this
export const MIN_FILE_SIZE = HEADER_SIZE + 2 * SLAB_SIZE; // header, a bucket table and one record slab

/** Header fields: byte offset of each u32 (the magic is 16 bytes at 0). */
export const Header = {
  magic: 0,
  formatVersion: 16,
  headerSize: 20,
  slabSize: 24,
  classCount: 28,
  state: 32, // STATE_CLEAN, STATE_OPEN or STATE_REPAIRING
  checksum: 36, // XXH32 of the whole header with this field read as 0; valid when state is STATE_CLEAN
  fileSize: 40,
  heapEnd: 44,
  recordCount: 48,
  tableOffset: 52,
  tableCapacity: 56,
  oldTableOffset: 60,
  oldTableCapacity: 64,
  rehashIndex: 68,
  freeSpanHead: 72,
  sweepIndex: 76,
  lockWord: 80, // run-time: token of the thread holding the store, | LOCK_WAITERS
  ownerPid: 84, // run-time: pid of the process that has the file open
  busy: 88, // run-time: 1 while a change is being made; found set under a stolen lock, the store is rebuilt
  expiringCount: 92, // records with an expiry time (expired or not); the expiry sweep runs only when it is > 0
  // Open mark: which OS session and which file marked the file open; all zero in a cleanly closed file.
  openBootId: 96, // 16 bytes: the OS boot id (Linux: /proc/sys/kernel/random/boot_id) when the file was marked open
  openDevice: 112, // u64: st_dev of the file when it was marked open
  openInode: 120, // u64: st_ino of the file when it was marked open
  sequence: 128, // run-time: odd while a change is under way, a new even value after each, for readers without the lock
  readVersion: 132, // READ_VERSION: the oldest reader version that may read the file
  classTable: 136, // classCount entries of CLASS_ENTRY_SIZE bytes
  lastWriteAt: 628, // u64 ms since the epoch, of the kernel's coarse clock: when the session that marked the file open last wrote it; 0 when closed
  commit: 636, // COMMIT_NONE, or COMMIT_DONE once the transaction under way has committed (its records not yet settled)
  openMount: 640, // u64: the unique id of the mount the file was open through when it was marked open; 0 when closed
  // Run-time: the last count of expired records, so that counting them is O(1) until another expiry time passes.
  expiredCount: 648, // records with an expiry time at or before countedAt
  countedAt: 652, // u64 ms since the epoch: when they were counted
  nextExpiry: 660, // u64 ms: every other record with an expiry time expires at or after it; 0 = nothing is known
} as const;
export const BOOT_ID_SIZE = 16;
export const CLASS_ENTRY_SIZE = 12;
/** Class table entry, at Header.classTable + class * CLASS_ENTRY_SIZE. */
export const ClassEntry = {
  chunkSize: 0,
  partialHead: 4, // first RECORDS span of this class with a free chunk, or 0
  spanSlabs: 8, // slabs of every RECORDS span of this class
} as const;
export const STATE_CLEAN = 0;
export const STATE_OPEN = 1;
export const STATE_REPAIRING = 2; // a repair is under way, or was cut short: refused by any open but a repair
/** Values of the run-time field busy. */
export const BUSY_IDLE = 0; // no change under way
export const BUSY_CHANGING = 1; // a change is under way: found so by another thread (its maker died), it is rebuilt
export const BUSY_DAMAGED = 2; // a change met damage: changes are refused, and nothing rebuilt, until a repair
export const LOCK_WAITERS = 0x80000000;
/** Values of the header field commit: whether the transaction under way (if any) has committed. */
export const COMMIT_NONE = 0; // records in state 2 are not live, records in state 3 are
export const COMMIT_DONE = 1; // records in state 2 are live, records in state 3 are not

/**
 * Chunk sizes of the record size classes, smallest first: from 96 on about 1.15 apart, multiples of 8, the last one
 * holding the largest record (RECORD_HEADER_SIZE + MAX_KEY_BYTES + MAX_VALUE_BYTES).
 */
export const CHUNK_SIZES: readonly number[] = [
  32, 48, 64, 80, 96, 112, 136, 160, 184, 216, 256, 296, 344, 400, 464, 536, 624, 720, 832, 960, 1104, 1272, 1464,
  1688, 1944, 2240, 2576, 2968, 3416, 3936, 4528, 5208, 5992, 6896, 7936, 9128, 10504, 12080, 13896, 15984, 16536,
];
/**
 * SPAN_SLABS[c] is the length in slabs of every RECORDS span of class c: the shortest of 1 to 8 slabs that leaves
 * at most 2% of the span unused after its last chunk (else the one that leaves least).
 */
export const SPAN_SLABS: readonly number[] = [
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  2, 2, 1, 1, 1, 1, 2, 3, 2, 4, 2, 4, 6, 5, 3, 3, 1, 8,
];

/** Span header, at the start of every span (a run of whole slabs) in the heap. */
export const Span = {
  kind: 0,
  slabCount: 4,
  param: 8, // RECORDS: size class index; TABLE: bucket capacity; FREE: offset of the next free span or 0
  checksum: 12, // XXH32 of the 12 bytes before it
} as const;
export const SPAN_HEADER_SIZE = 16;
/** A RECORDS span continues its header with the span's allocation state, then its chunks. */
export const Slab = {
  liveCount: 16, // live records in the span
  freeHead: 20, // first free chunk of the span, or 0
  nextPartial: 24, // next span of the class's partial list, or 0
  prevPartial: 28, // previous span of the class's partial list, or 0
} as const;
export const SLAB_HEADER_SIZE = 32; // the first chunk of a RECORDS span
/** Span kinds, four ASCII letters read as a u32 so they show in a hexdump. */
export const SPAN_RECORDS = 0x53434552; // "RECS"
export const SPAN_TABLE = 0x4c424154; // "TABL"
export const SPAN_FREE = 0x45455246; // "FREE"

/** Bucket: 8 bytes in a table's bucket array. */
export const BUCKET_SIZE = 8;
export const Bucket = { recordOffset: 0, hash: 4 } as const;
export const BUCKET_EMPTY = 0; // recordOffset of an empty bucket
export const BUCKET_MOVED = 1; // recordOffset of an old-table bucket already moved to the new table
export const MIN_TABLE_CAPACITY = 4096;
export const MAX_LOAD_NUMERATOR = 3; // a table grows before it is more than 3/4 full
export const MAX_LOAD_DENOMINATOR = 4;

/** Record: one chunk of a RECORDS span. */
export const Record = {
  state: 0, // RECORD_FREE, RECORD_LIVE, RECORD_UNCOMMITTED or RECORD_SUPERSEDED
  checksum: 4, // live: XXH32 of bytes [8, 24 + keyLength + valueLength); free: offset of the slab's next free chunk or 0
  expiresLow: 8, // u64 milliseconds since the Unix epoch, 0 = never; low half
  expiresHigh: 12,
  keyLength: 16, // u16
  slabIndex: 18, // u16: which slab of its span holds the record's first byte (0 for the first); finds the span in O(1)
  valueLength: 20,
  key: 24,
} as const;
export const RECORD_HEADER_SIZE = 24;
export const RECORD_FREE = 0;
export const RECORD_LIVE = 1;
/** Written by the transaction under way: live once it commits (header commit = COMMIT_DONE), else free. */
export const RECORD_UNCOMMITTED = 2;
/** Deleted or replaced by the transaction under way: free once it commits, else live. */
export const RECORD_SUPERSEDED = 3;
export const Free = { next: 4 } as const;

export const MAX_KEY_CHARS = 32;
export const MAX_KEY_BYTES = 128; // 32 code points of at most 4 UTF-8 bytes
export const MAX_VALUE_BYTES = 16384;

/** Seeds of the format's XXH32 uses. */
export const HASH_SEED = 0; // key hash, record, span and header checksums all use seed 0

/** chunksPerSpan is how many chunks a RECORDS span of the size class holds after its header. */
export function chunksPerSpan(sizeClass: number): number {
  return Math.floor((SPAN_SLABS[sizeClass]! * SLAB_SIZE - SLAB_HEADER_SIZE) / CHUNK_SIZES[sizeClass]!);
}

/**
 * CLASS_BY_EIGHTHS[ceil(size / 8)] is the size class of a record of `size` bytes (a table, not a search). Filled in
 * one pass as the module loads (a search per entry cost a few milliseconds of every require).
 */
const CLASS_BY_EIGHTHS = classTable();

/**
 * classTable fills CLASS_BY_EIGHTHS, a run of entries per size class. In a function of its own: a loop at the top
 * level of the bundle has V8 compile the whole bundle's top-level code to machine code, a millisecond of every load.
 */
function classTable(): Uint8Array {
  const table = new Uint8Array(CHUNK_SIZES[CHUNK_SIZES.length - 1]! / 8 + 1);
  let start = 0;
  CHUNK_SIZES.forEach((size, sizeClass) => {
    const end = Math.floor(size / 8) + 1; // a record of up to 8 * (end - 1) bytes fits this class's chunk
    table.fill(sizeClass, start, end);
    start = end;
  });
  return table;
}

/** classFor returns the smallest size class whose chunk holds a record of recordSize bytes. */
export function classFor(recordSize: number): number {
  return CLASS_BY_EIGHTHS[(recordSize + 7) >>> 3]!;
}

/** slabsForTable is how many slabs a TABLE span of the given bucket capacity takes. */
export function slabsForTable(capacity: number): number {
  return Math.ceil((SPAN_HEADER_SIZE + capacity * BUCKET_SIZE) / SLAB_SIZE);
}
