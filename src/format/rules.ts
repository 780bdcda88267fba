/**
 * The format's rules, each in one place: when a span header holds (spec section 5), when a record is sound and when
 * it is expired (section 6). Plain functions over the file's views; every check that decides what the store keeps,
 * refuses or rebuilds calls one of them. inspect, which describes bytes read by pread rather than deciding, applies
 * recordLengthsFit and isExpired and otherwise shows each field as it is.
 */
import {
  CHUNK_SIZES, HEADER_SIZE, MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD_HEADER_SIZE, RECORD_LIVE, RECORD_SUPERSEDED,
  RECORD_UNCOMMITTED, SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_FREE, SPAN_RECORDS, SPAN_SLABS, SPAN_TABLE,
} from './layout.js';
import { hex } from './header.js';
import { recordChecksum, spanChecksum } from './record.js';
import {
  keyLength, recordSize, recordState, recordStoredChecksum, slabIndex, spanKind, spanParam, spanSlabCount,
  spanStoredChecksum, valueLength,
} from './fields.js';

// ---- span headers (section 5) ----

/**
 * spanShapeProblem says what is wrong with the span header at offset, its checksum aside, or returns null: the
 * offset is a slab boundary below heapEnd, the kind is known, slabCount is at least 1 and the span ends by heapEnd,
 * and a RECORDS span has a known class and that class's slab count. Without the checksum, for the paths that test
 * a span on every call (finding a record's span); a span that passes is trusted no further than its shape.
 */
export function spanShapeProblem(words: Uint32Array, offset: number, heapEnd: number): string | null {
  if (offset < HEADER_SIZE || offset >= heapEnd || (offset - HEADER_SIZE) % SLAB_SIZE !== 0) {
    return `${hex(offset)} is not a slab boundary below heapEnd ${heapEnd}`;
  }
  const kind = spanKind(words, offset);
  const slabCount = spanSlabCount(words, offset);
  const param = spanParam(words, offset);
  if (kind !== SPAN_RECORDS && kind !== SPAN_TABLE && kind !== SPAN_FREE) return `span at ${hex(offset)} has unknown kind ${hex(kind)}`;
  if (slabCount < 1 || offset + slabCount * SLAB_SIZE > heapEnd) return `span at ${hex(offset)} claims ${slabCount} slabs, past heapEnd ${heapEnd}`;
  if (kind === SPAN_RECORDS && (CHUNK_SIZES[param] === undefined || slabCount !== SPAN_SLABS[param])) {
    return `records span at ${hex(offset)} has ${slabCount} slabs and size class ${param}`;
  }
  return null;
}

/** spanProblem says why the span header at offset does not hold (section 5), or returns null when it holds. */
export function spanProblem(words: Uint32Array, bytes: Uint8Array, offset: number, heapEnd: number): string | null {
  const shape = spanShapeProblem(words, offset, heapEnd);
  if (shape !== null) return shape;
  return spanStoredChecksum(words, offset) === spanChecksum(bytes, offset) ? null : `span header at ${hex(offset)} fails its checksum`;
}

// ---- records (section 6) ----

/**
 * recordLengthsFit: keyLength 1 to 128, valueLength at most 16384, and the record within `room` bytes from its
 * start (its chunk's size, for a sound record; what is left below heapEnd, for a lookup that cannot afford more).
 */
export function recordLengthsFit(words: Uint32Array, record: number, room: number): boolean {
  const keyBytes = keyLength(words, record);
  const valueBytes = valueLength(words, record);
  return keyBytes !== 0 && keyBytes <= MAX_KEY_BYTES && valueBytes <= MAX_VALUE_BYTES && recordSize(keyBytes, valueBytes) <= room;
}

/**
 * recordBoundsProblem says why `offset`, taken from a bucket, cannot hold a live record lying wholly below heapEnd,
 * or returns null: the part of a sound record's rule that needs only the record's first bytes. It is what a lookup
 * can afford (the span header would be one more cache miss); damage it lets through is caught by the key
 * comparison or the record's checksum.
 */
export function recordBoundsProblem(words: Uint32Array, offset: number, heapEnd: number): string | null {
  if (offset < HEADER_SIZE + SLAB_HEADER_SIZE || (offset & 7) !== 0 || offset + RECORD_HEADER_SIZE > heapEnd ||
    !isIndexedState(recordState(words, offset))) {
    return `a bucket points at ${hex(offset)}, which is not a live record`;
  }
  if (!recordLengthsFit(words, offset, heapEnd - offset)) {
    return `the record at ${hex(offset)} has lengths out of range (key ${keyLength(words, offset)}, value ${valueLength(words, offset)})`;
  }
  return null;
}

// ---- record states (section 6) ----

/** isStoredState: a chunk in this state holds a record's bytes (live, or pending the transaction under way). */
export function isStoredState(state: number): boolean {
  return state === RECORD_LIVE || state === RECORD_UNCOMMITTED || state === RECORD_SUPERSEDED;
}

/**
 * isIndexedState: a bucket may point at a record in this state. State 2 exists only while its transaction is under
 * way, and only the thread making it can see it (readers of other threads wait for the transaction to end).
 */
export function isIndexedState(state: number): boolean {
  return state === RECORD_LIVE || state === RECORD_UNCOMMITTED;
}

/**
 * isLiveState: whether a stored record is live once its transaction is settled, by the header's commit field:
 * state 1 always; state 2 when the transaction under way has committed; state 3 when it has not.
 */
export function isLiveState(state: number, committed: boolean): boolean {
  return state === RECORD_LIVE || (state === RECORD_UNCOMMITTED ? committed : state === RECORD_SUPERSEDED && !committed);
}

/**
 * isSoundRecord: the chunk at `chunk` of the RECORDS span at `span` (of class sizeClass) holds a record (state 1, 2
 * or 3), its lengths fit the chunk, its slabIndex names the slab of the span where it starts, and its checksum
 * matches. Whether it is live is isLiveState's question.
 */
export function isSoundRecord(words: Uint32Array, bytes: Uint8Array, chunk: number, span: number, sizeClass: number): boolean {
  return isStoredState(recordState(words, chunk)) &&
    recordLengthsFit(words, chunk, CHUNK_SIZES[sizeClass]!) &&
    slabIndex(words, chunk) === Math.floor((chunk - span) / SLAB_SIZE) &&
    recordStoredChecksum(words, chunk) === recordChecksum(bytes, chunk, keyLength(words, chunk), valueLength(words, chunk), words);
}

/** isExpired: a record expiring at expiresAt (ms since the epoch, 0 = never) is expired at nowMs when it is ≤ nowMs. */
export function isExpired(expiresAt: number, nowMs: number): boolean {
  return expiresAt !== 0 && expiresAt <= nowMs;
}
