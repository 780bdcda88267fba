/** Checksums and hashes of the heap's structures: keys, records and span headers. */
import { HASH_SEED, RECORD_HEADER_SIZE, Record, Span } from './layout.js';
import { xxh32 } from './xxh32.js';

/**
 * keyHash is the hash that places a key in the bucket array: XXH32 of its UTF-8 bytes. words (optional) is a
 * Uint32Array over the same memory, for speed.
 */
export function keyHash(keyBytes: Uint8Array, keyLength: number, words?: Uint32Array): number {
  return xxh32(keyBytes, 0, keyLength, HASH_SEED, words);
}

/**
 * recordChecksum covers a record from its expiry time to the end of its value. words (optional) is a Uint32Array
 * over the same memory, for speed.
 */
export function recordChecksum(bytes: Uint8Array, offset: number, keyLength: number, valueLength: number, words?: Uint32Array): number {
  return xxh32(bytes, offset + Record.expiresLow, offset + RECORD_HEADER_SIZE + keyLength + valueLength, HASH_SEED, words);
}

/** spanChecksum covers the first 12 bytes of a span header (kind, slab count, param). */
export function spanChecksum(bytes: Uint8Array, offset: number): number {
  return xxh32(bytes, offset, offset + Span.checksum, HASH_SEED);
}

const TWO_32 = 4294967296;

/** readExpiresAt reads a record's expiry time (u64 ms since the epoch, 0 = never) through a u32 view of the file. */
export function readExpiresAt(words: Uint32Array, record: number): number {
  return words[(record + Record.expiresHigh) >>> 2]! * TWO_32 + words[(record + Record.expiresLow) >>> 2]!;
}

/** writeExpiresAt stores a record's expiry time as two u32 halves. */
export function writeExpiresAt(words: Uint32Array, record: number, expiresAt: number): void {
  words[(record + Record.expiresLow) >>> 2] = expiresAt % TWO_32;
  words[(record + Record.expiresHigh) >>> 2] = Math.floor(expiresAt / TWO_32);
}
