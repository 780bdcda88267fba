/**
 * The file header: the first HEADER_SIZE bytes. Encoding, checksum and the checks a reader makes before it trusts
 * anything else in the file. No I/O here: callers pass the bytes.
 */
import {
  BOOT_ID_SIZE, CHUNK_SIZES, CLASS_ENTRY_SIZE, ClassEntry, FORMAT_VERSION, HASH_SEED, HEADER_SIZE, Header, MAGIC,
  MAX_FILE_SIZE, READ_VERSION, SLAB_SIZE, SPAN_SLABS, STATE_CLEAN, STATE_OPEN, STATE_REPAIRING, UPGRADED_VERSION,
} from './layout.js';
import { xxh32 } from './xxh32.js';

export interface HeaderProblem {
  code: 'FILE_INVALID' | 'FILE_CORRUPT';
  message: string;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return view(bytes).getUint32(offset, true);
}

export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  view(bytes).setUint32(offset, value, true);
}

/** Fields left out of the header checksum (read as zero), [offset, bytes]: the checksum itself, and the run-time fields. */
const UNCHECKED_FIELDS = [
  [Header.checksum, 4], [Header.lockWord, 4], [Header.ownerPid, 4], [Header.busy, 4], [Header.sequence, 4],
  [Header.expiredCount, 4], [Header.countedAt, 8], [Header.nextExpiry, 8],
] as const;

/**
 * headerChecksum is XXH32 of the header bytes with the checksum and the run-time fields (lockWord, ownerPid, busy,
 * sequence, expiredCount, countedAt, nextExpiry) read as zero: those change while a clean file is open and read.
 */
export function headerChecksum(bytes: Uint8Array): number {
  const copy = Uint8Array.from(bytes.subarray(0, HEADER_SIZE));
  for (const [field, size] of UNCHECKED_FIELDS) copy.fill(0, field, field + size);
  return xxh32(copy, 0, HEADER_SIZE, HASH_SEED);
}

/** writeNewHeader fills bytes[0, HEADER_SIZE) with the header of an empty store, marked open until sealed. */
export function writeNewHeader(bytes: Uint8Array, fileSize: number): void {
  bytes.fill(0, 0, HEADER_SIZE);
  writeFixedFields(bytes);
  writeU32(bytes, Header.state, STATE_OPEN);
  writeU32(bytes, Header.fileSize, fileSize);
  writeU32(bytes, Header.heapEnd, HEADER_SIZE);
}

/**
 * writeFixedFields writes the fields every store of this version holds alike: magic, formatVersion, headerSize,
 * slabSize, classCount, readVersion, and each size class's chunkSize and spanSlabs (not its partial list head).
 */
export function writeFixedFields(bytes: Uint8Array): void {
  bytes.set(MAGIC, Header.magic);
  writeU32(bytes, Header.formatVersion, FORMAT_VERSION);
  writeU32(bytes, Header.headerSize, HEADER_SIZE);
  writeU32(bytes, Header.slabSize, SLAB_SIZE);
  writeU32(bytes, Header.classCount, CHUNK_SIZES.length);
  writeU32(bytes, Header.readVersion, READ_VERSION);
  CHUNK_SIZES.forEach((size, c) => {
    writeU32(bytes, Header.classTable + c * CLASS_ENTRY_SIZE + ClassEntry.chunkSize, size);
    writeU32(bytes, Header.classTable + c * CLASS_ENTRY_SIZE + ClassEntry.spanSlabs, SPAN_SLABS[c]!);
  });
}

/**
 * closedChecksum is the header's checksum as it will be once `state` is STATE_CLEAN. Closing writes it before it
 * writes the state, so a crash between the two leaves a file that says "open" (and is recovered), never one that
 * says "clean" with a stale checksum.
 */
export function closedChecksum(bytes: Uint8Array): number {
  const copy = Uint8Array.from(bytes.subarray(0, HEADER_SIZE));
  for (const [field, size] of UNCHECKED_FIELDS) copy.fill(0, field, field + size);
  writeU32(copy, Header.state, STATE_CLEAN);
  return xxh32(copy, 0, HEADER_SIZE, HASH_SEED);
}

/** sealHeader marks a header cleanly closed: the checksum first, then the state (see closedChecksum). */
export function sealHeader(bytes: Uint8Array): void {
  writeU32(bytes, Header.checksum, closedChecksum(bytes));
  writeU32(bytes, Header.state, STATE_CLEAN);
}

/**
 * OpenMark: which OS session (boot id), which file (device and inode) and which mount of its file system marked
 * the file open. A writer that died with no change in flight left every change in the page cache, so a file left
 * open needs no rebuild if the OS has not restarted since, the file is the same one, reached through the same
 * mount (not a copy, nor an image of the file system mounted again), and nothing else wrote it (section 10).
 */
export interface OpenMark {
  bootId: Uint8Array; // BOOT_ID_SIZE bytes; all zero when the OS gives none
  device: bigint;
  inode: bigint;
  mount: bigint; // 0 when the OS gives no unique mount id
}

export function writeOpenMark(bytes: Uint8Array, mark: OpenMark): void {
  bytes.set(mark.bootId.subarray(0, BOOT_ID_SIZE), Header.openBootId);
  view(bytes).setBigUint64(Header.openDevice, mark.device, true);
  view(bytes).setBigUint64(Header.openInode, mark.inode, true);
  view(bytes).setBigUint64(Header.openMount, mark.mount, true);
}

/**
 * lastWriteAt is when the session that marked the file open last wrote it, or 0: ms since the epoch, read from
 * the clock the kernel stamps file times from (section 10).
 */
export function readLastWriteAt(words: Uint32Array): number {
  return words[(Header.lastWriteAt + 4) >>> 2]! * 2 ** 32 + words[Header.lastWriteAt >>> 2]!;
}

export function writeLastWriteAt(words: Uint32Array, ms: number): void {
  words[Header.lastWriteAt >>> 2] = ms % 2 ** 32;
  words[(Header.lastWriteAt + 4) >>> 2] = Math.floor(ms / 2 ** 32);
}

/**
 * clearOpenMark zeroes the open mark but lastWriteAt (written apart), as a cleanly closed file has it (the bytes
 * are inside the checksum).
 */
export function clearOpenMark(bytes: Uint8Array): void {
  bytes.fill(0, Header.openBootId, Header.openInode + 8);
  bytes.fill(0, Header.openMount, Header.openMount + 8);
}

/** openMarkIs tells whether the header's open mark is this one, with a boot id and a mount id that are not zero. */
export function openMarkIs(bytes: Uint8Array, mark: OpenMark): boolean {
  let known = false;
  for (let i = 0; i < BOOT_ID_SIZE; i++) {
    if (bytes[Header.openBootId + i] !== mark.bootId[i]) return false;
    if (mark.bootId[i] !== 0) known = true;
  }
  return known && mark.mount !== 0n && view(bytes).getBigUint64(Header.openDevice, true) === mark.device &&
    view(bytes).getBigUint64(Header.openInode, true) === mark.inode &&
    view(bytes).getBigUint64(Header.openMount, true) === mark.mount;
}

/**
 * checkIdentity decides whether the bytes are a slabkv file of a version this code reads: magic first, then
 * version, then the fixed sizes. It needs only the first 32 bytes and is checked before the file is mapped.
 */
export function checkIdentity(bytes: Uint8Array, fileLength: number): HeaderProblem | null {
  const problem = checkMagicAndVersion(bytes, fileLength);
  if (problem !== null) return problem;
  const fixed: Array<[string, number, number]> = [
    ['headerSize', Header.headerSize, HEADER_SIZE],
    ['slabSize', Header.slabSize, SLAB_SIZE],
    ['classCount', Header.classCount, CHUNK_SIZES.length],
    ['readVersion', Header.readVersion, READ_VERSION],
  ];
  for (const [name, offset, expected] of fixed) {
    const actual = readU32(bytes, offset);
    if (actual !== expected) return { code: 'FILE_CORRUPT', message: `header ${name} is ${actual}; version ${FORMAT_VERSION} requires ${expected}` };
  }
  for (let c = 0; c < CHUNK_SIZES.length; c++) {
    const actual = readU32(bytes, Header.classTable + c * CLASS_ENTRY_SIZE + ClassEntry.chunkSize);
    if (actual !== CHUNK_SIZES[c]) return { code: 'FILE_CORRUPT', message: `size class ${c} has chunk size ${actual}; version ${FORMAT_VERSION} requires ${CHUNK_SIZES[c]}` };
    const slabs = readU32(bytes, Header.classTable + c * CLASS_ENTRY_SIZE + ClassEntry.spanSlabs);
    if (slabs !== SPAN_SLABS[c]) return { code: 'FILE_CORRUPT', message: `size class ${c} has spans of ${slabs} slabs; version ${FORMAT_VERSION} requires ${SPAN_SLABS[c]}` };
  }
  const state = readU32(bytes, Header.state);
  if (state === STATE_REPAIRING) {
    return { code: 'FILE_CORRUPT', message: 'a repair of this file was cut short: repair it again (open it with { repair: true }, or slabkv repair)' };
  }
  if (state !== STATE_CLEAN && state !== STATE_OPEN) {
    return { code: 'FILE_CORRUPT', message: `header state is ${state}; expected ${STATE_CLEAN} (closed) or ${STATE_OPEN} (open)` };
  }
  if (!isStoreLength(fileLength)) {
    return { code: 'FILE_CORRUPT', message: `the file is ${fileLength} bytes; a store is ${HEADER_SIZE} + a multiple of ${SLAB_SIZE} bytes, at most ${MAX_FILE_SIZE}` };
  }
  return null;
}

/**
 * checkMagicAndVersion: the bytes start with the magic, hold a whole header, and say format version FORMAT_VERSION.
 * All that repair needs of a file (section 10, "Repair"): it writes the rest of the header's fixed fields anew and
 * rebuilds everything else.
 */
export function checkMagicAndVersion(bytes: Uint8Array, fileLength: number): HeaderProblem | null {
  const head = bytes.subarray(0, Math.min(fileLength, MAGIC.length));
  if (head.length < MAGIC.length || !MAGIC.every((b, i) => head[i] === b)) {
    return { code: 'FILE_INVALID', message: 'not a slabkv file (the magic bytes at offset 0 do not match)' };
  }
  if (fileLength < HEADER_SIZE) {
    return { code: 'FILE_CORRUPT', message: `the file is ${fileLength} bytes, shorter than its ${HEADER_SIZE}-byte header` };
  }
  const version = readU32(bytes, Header.formatVersion);
  if (version !== FORMAT_VERSION) {
    // A later version keeps readVersion where it is: a reader can tell whether it may read the file (section 13).
    const readable = version > FORMAT_VERSION && readU32(bytes, Header.readVersion) <= FORMAT_VERSION;
    return {
      code: 'FILE_INVALID',
      message: readable
        ? `format version ${version} may be read but not changed by this slabkv (it writes version ${FORMAT_VERSION}); opening a store changes it, so it is refused`
        : `format version ${version} is not readable by this slabkv (it reads version ${FORMAT_VERSION}${version === UPGRADED_VERSION ? ', and upgrades version 1 when it opens a store' : ''})`,
    };
  }
  return null;
}

/** isVersion1 tells whether the bytes start a slabkv file of version 1, which slabkv upgrades when it opens it. */
export function isVersion1(bytes: Uint8Array, fileLength: number): boolean {
  return fileLength >= HEADER_SIZE && MAGIC.every((b, i) => bytes[i] === b) && readU32(bytes, Header.formatVersion) === UPGRADED_VERSION;
}

/** isClean tells whether the file was closed cleanly, so that its counters and free lists can be trusted. */
export function isClean(bytes: Uint8Array): boolean {
  return readU32(bytes, Header.state) === STATE_CLEAN;
}

/**
 * checkCleanHeader validates a cleanly closed header: its checksum, then its bounds (checkHeaderBounds). Run once
 * at open; the structures it points to are checked as they are used.
 */
export function checkCleanHeader(bytes: Uint8Array, fileLength: number): HeaderProblem | null {
  const stored = readU32(bytes, Header.checksum);
  const actual = headerChecksum(bytes);
  if (stored !== actual) {
    return { code: 'FILE_CORRUPT', message: `header checksum is ${hex(stored)}, computed ${hex(actual)}` };
  }
  return checkHeaderBounds(bytes, fileLength);
}

/** checkHeaderBounds checks that the header's fileSize is the file's length and heapEnd a slab boundary in it. */
export function checkHeaderBounds(bytes: Uint8Array, fileLength: number): HeaderProblem | null {
  const fileSize = readU32(bytes, Header.fileSize);
  if (fileSize !== fileLength) {
    return { code: 'FILE_CORRUPT', message: `header says the file is ${fileSize} bytes; it is ${fileLength}` };
  }
  const heapEnd = readU32(bytes, Header.heapEnd);
  if (!isHeapEnd(heapEnd, fileSize)) {
    return { code: 'FILE_CORRUPT', message: `header heapEnd ${heapEnd} is not a slab boundary inside the ${fileSize}-byte file` };
  }
  return null;
}

/** isStoreLength: length is a store file's: the header and whole slabs, at most MAX_FILE_SIZE. */
export function isStoreLength(length: number): boolean {
  return length >= HEADER_SIZE && length <= MAX_FILE_SIZE && (length - HEADER_SIZE) % SLAB_SIZE === 0;
}

/** isHeapEnd: heapEnd is a slab boundary inside a file of fileSize bytes. */
export function isHeapEnd(heapEnd: number, fileSize: number): boolean {
  return heapEnd >= HEADER_SIZE && heapEnd <= fileSize && (heapEnd - HEADER_SIZE) % SLAB_SIZE === 0;
}

/**
 * repairedLength is the length repair gives a file of fileLength bytes (at least a header, at most MAX_FILE_SIZE):
 * a store's length, rounded up to a whole slab (down, in the last slab below MAX_FILE_SIZE, which no store
 * reaches); or the header's fileSize when the header's heapEnd lies beyond that and both agree (heapEnd a slab
 * boundary within fileSize, a store's length): a file cut short inside its heap gets its length back, what was cut
 * off reads as zeros, and no span that held has to be cut. One damaged field alone does not make the file longer.
 */
export function repairedLength(bytes: Uint8Array, fileLength: number): number {
  const slabs = Math.min(Math.ceil((fileLength - HEADER_SIZE) / SLAB_SIZE), Math.floor((MAX_FILE_SIZE - HEADER_SIZE) / SLAB_SIZE));
  const whole = HEADER_SIZE + slabs * SLAB_SIZE;
  const fileSize = readU32(bytes, Header.fileSize);
  const heapEnd = readU32(bytes, Header.heapEnd);
  return isStoreLength(fileSize) && isHeapEnd(heapEnd, fileSize) && heapEnd > whole ? fileSize : whole;
}

/**
 * recordedLength is the length a file left open is given before it is recovered: the header's fileSize when the
 * file is shorter than that, and fileSize is a store's length with heapEnd a slab boundary within it (after power
 * loss the header page can reach the disk before the file's new length did, with a writer that did not sync the
 * growth first); else fileLength. What the disk lost of the tail reads as zeros.
 */
export function recordedLength(bytes: Uint8Array, fileLength: number): number {
  const fileSize = readU32(bytes, Header.fileSize);
  return fileSize > fileLength && isStoreLength(fileSize) && isHeapEnd(readU32(bytes, Header.heapEnd), fileSize) ? fileSize : fileLength;
}

export function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}
