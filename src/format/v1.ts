/**
 * Version 1 of the format, as far as reading it takes: slabkv upgrades a version 1 file when it opens it (spec
 * section 13). Version 1 differs from version 2 in the class table (28 classes of 8-byte entries, the chunk sizes
 * below), in RECORDS spans (always one slab) and in the record's u16 at offset 18 (reserved, written 0). The header
 * fields from offset 0 to 127, span headers, records and buckets are otherwise laid out as in version 2.
 */
import { HEADER_SIZE, Header, MAX_FILE_SIZE, MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD_HEADER_SIZE, RECORD_LIVE, Record, SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS, SPAN_TABLE, STATE_CLEAN, STATE_OPEN, Span, UPGRADED_VERSION, HASH_SEED } from './layout.js';
import { type HeaderProblem, hex, readU32 } from './header.js';
import { xxh32 } from './xxh32.js';
import { isExpired } from './rules.js';

export const V1_CHUNK_SIZES: readonly number[] = [
  32, 48, 64, 80, 96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320, 2904, 3632, 4544,
  5680, 7104, 8880, 11104, 13880, 16536,
];
export const V1_CLASS_TABLE = 128;
export const V1_CLASS_ENTRY_SIZE = 8;

/** v1HeaderChecksum is version 1's header checksum: XXH32 of the header with checksum, lockWord, ownerPid and busy read as 0. */
export function v1HeaderChecksum(bytes: Uint8Array): number {
  const copy = Uint8Array.from(bytes.subarray(0, HEADER_SIZE));
  const view = new DataView(copy.buffer);
  for (const field of [Header.checksum, Header.lockWord, Header.ownerPid, Header.busy]) view.setUint32(field, 0, true);
  return xxh32(copy, 0, HEADER_SIZE, HASH_SEED);
}

/**
 * checkV1Header makes the checks version 1 of slabkv made before it opened a file, in its order: the fixed sizes
 * and class table, the state, the file's length, then in state 0 the checksum, fileSize and heapEnd, in state 1
 * heapEnd against the real length. A file it refused is refused, not upgraded.
 */
export function checkV1Header(bytes: Uint8Array, fileLength: number): HeaderProblem | null {
  const corrupt = (message: string): HeaderProblem => ({ code: 'FILE_CORRUPT', message: `version 1 file: ${message}` });
  if (readU32(bytes, Header.formatVersion) !== UPGRADED_VERSION) return { code: 'FILE_INVALID', message: 'not a version 1 file' };
  if (readU32(bytes, Header.headerSize) !== HEADER_SIZE || readU32(bytes, Header.slabSize) !== SLAB_SIZE || readU32(bytes, Header.classCount) !== V1_CHUNK_SIZES.length) {
    return corrupt('headerSize, slabSize or classCount is not version 1\'s');
  }
  for (let c = 0; c < V1_CHUNK_SIZES.length; c++) {
    if (readU32(bytes, V1_CLASS_TABLE + c * V1_CLASS_ENTRY_SIZE) !== V1_CHUNK_SIZES[c]) return corrupt(`size class ${c} has chunk size ${readU32(bytes, V1_CLASS_TABLE + c * V1_CLASS_ENTRY_SIZE)}`);
  }
  const state = readU32(bytes, Header.state);
  if (state !== STATE_CLEAN && state !== STATE_OPEN) return corrupt(`header state is ${state}`);
  if (fileLength > MAX_FILE_SIZE || (fileLength - HEADER_SIZE) % SLAB_SIZE !== 0) return corrupt(`the file is ${fileLength} bytes, not a store's length`);
  if (state === STATE_CLEAN) {
    if (readU32(bytes, Header.checksum) !== v1HeaderChecksum(bytes)) return corrupt(`header checksum is ${hex(readU32(bytes, Header.checksum))}, computed ${hex(v1HeaderChecksum(bytes))}`);
    if (readU32(bytes, Header.fileSize) !== fileLength) return corrupt(`header says the file is ${readU32(bytes, Header.fileSize)} bytes; it is ${fileLength}`);
  }
  const heapEnd = readU32(bytes, Header.heapEnd);
  if (heapEnd < HEADER_SIZE || heapEnd > fileLength || (heapEnd - HEADER_SIZE) % SLAB_SIZE !== 0) return corrupt(`header heapEnd ${heapEnd} is not a slab boundary inside the ${fileLength}-byte file`);
  return null;
}

/** What a read of a version 1 file met beside the records it visited: the part of a recovery report it can fill. */
export interface V1ReadReport {
  /** live records not visited: their bytes failed the checksum or their lengths were out of range */
  dropped: number;
  /** expired records, not visited */
  expired: number;
  /** slabs whose span header did not hold, read under the class with the most sound records */
  repairedSlabs: number;
  /** slabs whose span header did not hold and that held no sound record under any class */
  unreadableSlabs: number;
}

/**
 * forEachV1Record calls visit with every sound, unexpired record of a version 1 file whose header checkV1Header
 * accepted, in file order, walking the spans; a slab whose span header does not hold (a file left open, or one
 * byte damaged in a closed file) is read under the class with the most sound records (ties to the smallest), as
 * version 2's recovery reads it, so that no record whose checksum holds is lost. A key found twice is visited
 * twice (the caller keeps the first). key and value are views of bytes. Returns what it could not visit.
 */
export function forEachV1Record(bytes: Uint8Array, nowMs: number, visit: (key: Uint8Array, value: Uint8Array, expiresAt: number) => void): V1ReadReport {
  const report: V1ReadReport = { dropped: 0, expired: 0, repairedSlabs: 0, unreadableSlabs: 0 };
  const u32 = (offset: number): number => readU32(bytes, offset);
  const heapEnd = u32(Header.heapEnd);
  const sound = (chunk: number, size: number): boolean => {
    if (u32(chunk + Record.state) !== RECORD_LIVE) return false;
    const keyLength = u32(chunk + Record.keyLength) & 0xffff;
    const valueLength = u32(chunk + Record.valueLength);
    if (keyLength === 0 || keyLength > MAX_KEY_BYTES || valueLength > MAX_VALUE_BYTES || RECORD_HEADER_SIZE + keyLength + valueLength > size) return false;
    return u32(chunk + Record.checksum) === xxh32(bytes, chunk + Record.expiresLow, chunk + RECORD_HEADER_SIZE + keyLength + valueLength, HASH_SEED);
  };
  const chunks = (slab: number, size: number, fn: (chunk: number) => void): void => {
    for (let chunk = slab + SLAB_HEADER_SIZE; chunk + size <= slab + SLAB_SIZE; chunk += size) fn(chunk);
  };
  for (let offset = HEADER_SIZE; offset < heapEnd;) {
    const kind = u32(offset + Span.kind);
    const slabCount = u32(offset + Span.slabCount);
    const param = u32(offset + Span.param);
    const holds = u32(offset + Span.checksum) === xxh32(bytes, offset, offset + Span.checksum, HASH_SEED) &&
      (kind === SPAN_RECORDS || kind === SPAN_TABLE || kind === SPAN_FREE) && slabCount >= 1 && offset + slabCount * SLAB_SIZE <= heapEnd &&
      (kind !== SPAN_RECORDS || (slabCount === 1 && param < V1_CHUNK_SIZES.length));
    let sizeClass = -1;
    if (holds) {
      if (kind === SPAN_RECORDS) sizeClass = param;
    } else {
      let best = 0;
      for (let c = 0; c < V1_CHUNK_SIZES.length; c++) {
        let count = 0;
        chunks(offset, V1_CHUNK_SIZES[c]!, (chunk) => { if (sound(chunk, V1_CHUNK_SIZES[c]!)) count++; });
        if (count > best) { best = count; sizeClass = c; }
      }
      if (sizeClass >= 0) report.repairedSlabs++;
      else report.unreadableSlabs++;
    }
    if (sizeClass >= 0) {
      const size = V1_CHUNK_SIZES[sizeClass]!;
      chunks(offset, size, (chunk) => {
        if (!sound(chunk, size)) {
          if (u32(chunk + Record.state) === RECORD_LIVE) report.dropped++;
          return;
        }
        const expiresAt = u32(chunk + Record.expiresHigh) * 4294967296 + u32(chunk + Record.expiresLow);
        if (isExpired(expiresAt, nowMs)) { report.expired++; return; }
        const keyLength = u32(chunk + Record.keyLength) & 0xffff;
        const key = bytes.subarray(chunk + RECORD_HEADER_SIZE, chunk + RECORD_HEADER_SIZE + keyLength);
        visit(key, bytes.subarray(chunk + RECORD_HEADER_SIZE + keyLength, chunk + RECORD_HEADER_SIZE + keyLength + u32(chunk + Record.valueLength)), expiresAt);
      });
    }
    offset += holds ? slabCount * SLAB_SIZE : SLAB_SIZE;
  }
  return report;
}
