/**
 * xxh32 computes XXH32 (xxHash, 32-bit variant) of bytes[start, end) with the given seed, reading the bytes where
 * they lie (in the mapped file) without a copy.
 *
 * Why not xxhash-wasm at run time: it compiles its WebAssembly asynchronously, while `new DataStore()` must be
 * synchronous and `require('slabkv')` must work; and each wasm call would first copy the bytes into wasm memory.
 * The algorithm is the published XXH32 (github.com/Cyan4973/xxHash, doc/xxhash_spec.md); the tests check it
 * against xxhash-wasm on thousands of inputs.
 */
const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, PRIME2)) | 0, 13), PRIME1);
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) | 0;
}

/**
 * words, when given, is a Uint32Array over the same memory as bytes (same byteOffset, 4-aligned): with a 4-aligned
 * start, the 16-byte stripes and the 4-byte tail are then read a word at a time, which is several times faster.
 * The result is the same either way (words are little-endian on every platform Node runs on).
 */
export function xxh32(bytes: Uint8Array, start: number, end: number, seed = 0, words?: Uint32Array): number {
  let i = start;
  let acc: number;
  if (end - start >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) | 0;
    let v2 = (seed + PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME1) | 0;
    const limit = end - 16;
    if (words !== undefined && (start & 3) === 0) {
      for (let w = start >>> 2; i <= limit; i += 16, w += 4) {
        v1 = round(v1, words[w]! | 0);
        v2 = round(v2, words[w + 1]! | 0);
        v3 = round(v3, words[w + 2]! | 0);
        v4 = round(v4, words[w + 3]! | 0);
      }
    }
    while (i <= limit) {
      v1 = round(v1, readU32(bytes, i));
      v2 = round(v2, readU32(bytes, i + 4));
      v3 = round(v3, readU32(bytes, i + 8));
      v4 = round(v4, readU32(bytes, i + 12));
      i += 16;
    }
    acc = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    acc = (seed + PRIME5) | 0;
  }
  acc = (acc + (end - start)) | 0;
  if (words !== undefined && (i & 3) === 0) {
    for (; i + 4 <= end; i += 4) acc = Math.imul(rotl((acc + Math.imul(words[i >>> 2]! | 0, PRIME3)) | 0, 17), PRIME4);
  }
  while (i + 4 <= end) {
    acc = Math.imul(rotl((acc + Math.imul(readU32(bytes, i), PRIME3)) | 0, 17), PRIME4);
    i += 4;
  }
  while (i < end) {
    acc = Math.imul(rotl((acc + Math.imul(bytes[i]!, PRIME5)) | 0, 11), PRIME1);
    i++;
  }
  acc ^= acc >>> 15;
  acc = Math.imul(acc, PRIME2);
  acc ^= acc >>> 13;
  acc = Math.imul(acc, PRIME3);
  acc ^= acc >>> 16;
  return acc >>> 0;
}
