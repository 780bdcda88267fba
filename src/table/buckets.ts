/**
 * The index's bucket arrays (spec section 7): power-of-two arrays of 8-byte buckets (recordOffset, hash) in TABLE
 * spans, open addressing with linear probing. Plain functions over the file's words; Table (table.ts) decides which
 * array a record goes to and moves buckets from the old array to the new one while the index doubles.
 *
 * The invariant all of them keep: in each array, a record's bucket is reached from its home bucket
 * (hash & (capacity - 1)), stepping forward and wrapping at the end, without passing an empty bucket. place takes
 * the first empty bucket of that walk; shiftOut, the current array's delete, moves later buckets back into the hole
 * unless their walk from home does not pass it (backward-shift deletion: no tombstones); the old array takes no new
 * records, so a delete there is markBucketMoved, which a walk steps over. Every walk stops after `capacity` buckets:
 * a damaged array with no empty bucket is FILE_CORRUPT, not an endless loop. An array's span was checked to lie
 * below heapEnd when the store was opened or built (Table.checkIndex, allocTable); probe still meets a bucket past
 * the end of the view as FILE_CORRUPT, since a reader without the lock may see the header mid-change.
 */
import { BUCKET_EMPTY, BUCKET_MOVED, Header } from '../format/layout.js';
import { bucketAt, bucketHash, bucketRecord, bucketSlot, clearBucket, headerField, keyEquals, setBucket } from '../format/fields.js';
import { hex } from '../format/header.js';
import { recordBoundsProblem } from '../format/rules.js';
import { corrupt } from '../errors.js';
import type { KeyBuffer } from './key-buffer.js';

/**
 * probe walks the array from the key's home bucket and returns the bucket whose record holds the key, or, when it
 * meets an empty bucket first, that bucket negated: where place would put the key, so that an insert after a miss
 * need not walk again. A bucket of the key's hash has its record checked against recordBoundsProblem before its key
 * is compared.
 */
export function probe(words: Uint32Array, array: number, capacity: number, key: KeyBuffer): number {
  const hash = key.hash;
  const mask = capacity - 1;
  let slot = hash & mask;
  for (let n = 0; n < capacity; n++) {
    const bucket = bucketAt(array, slot);
    const record = bucketRecord(words, bucket);
    if (record === BUCKET_EMPTY) return -bucket;
    if (record === undefined) throw corrupt(`the bucket array at ${hex(array)} runs past the end of the file`);
    if (record !== BUCKET_MOVED && bucketHash(words, bucket) === hash) {
      const problem = recordBoundsProblem(words, record, headerField(words, Header.heapEnd));
      if (problem !== null) throw corrupt(problem);
      if (keyEquals(words, record, key.words, key.length)) return bucket;
    }
    slot = (slot + 1) & mask;
  }
  throw corrupt(`the bucket array at ${hex(array)} has no empty bucket`);
}

/** place puts (hash, record) in the first empty bucket of the walk from its home bucket. */
export function place(words: Uint32Array, array: number, capacity: number, hash: number, record: number): void {
  const mask = capacity - 1;
  let slot = hash & mask;
  for (let n = 0; n < capacity; n++) {
    const bucket = bucketAt(array, slot);
    if (bucketRecord(words, bucket) === BUCKET_EMPTY) {
      setBucket(words, bucket, record, hash);
      return;
    }
    slot = (slot + 1) & mask;
  }
  throw corrupt(`the bucket array at ${hex(array)} has no empty bucket`);
}

/** shiftOut empties a bucket of the current array, shifting back the buckets after it that the invariant lets move. */
export function shiftOut(words: Uint32Array, array: number, capacity: number, bucket: number): void {
  const mask = capacity - 1;
  let hole = bucketSlot(array, bucket);
  let next = hole;
  for (let n = 0; n < capacity; n++) {
    next = (next + 1) & mask;
    const at = bucketAt(array, next);
    const record = bucketRecord(words, at)!;
    if (record === BUCKET_EMPTY) break;
    const hash = bucketHash(words, at);
    const home = hash & mask;
    // The record at `next` stays unless the hole lies on its walk from home, that is unless home is cyclically
    // in (hole, next].
    const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
    if (!stays) {
      setBucket(words, bucketAt(array, hole), record, hash);
      hole = next;
    }
  }
  clearBucket(words, bucketAt(array, hole));
}

/** indexArrays lists the index's bucket arrays as [offset, capacity]: the current one, then the old one if any. */
export function indexArrays(words: Uint32Array): Array<[number, number]> {
  const arrays: Array<[number, number]> = [[headerField(words, Header.tableOffset), headerField(words, Header.tableCapacity)]];
  const old = headerField(words, Header.oldTableOffset);
  if (old !== 0) arrays.push([old, headerField(words, Header.oldTableCapacity)]);
  return arrays;
}
