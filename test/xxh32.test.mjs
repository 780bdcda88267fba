// The format's XXH32 is written in TypeScript (xxhash-wasm compiles asynchronously, and a constructor must not wait).
// It is held here to xxhash-wasm, the reference, on inputs of every length around the 4- and 16-byte boundaries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import xxhashWasm from 'xxhash-wasm';

const format = createRequire(import.meta.url)('slabkv/format');

test('XXH32 equals xxhash-wasm on random inputs, seeds and offsets, byte-wise and word-wise', async () => {
  const { h32Raw } = await xxhashWasm();
  let s = 12345;
  const rand = (n) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
  const buffer = new ArrayBuffer(20000);
  const bytes = new Uint8Array(buffer);
  const words = new Uint32Array(buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rand(256);
  for (let n = 0; n < 4000; n++) {
    const length = n < 300 ? n : rand(17000);
    const start = rand(bytes.length - length);
    const seed = n % 3 === 0 ? 0 : rand(2 ** 32);
    const expected = h32Raw(bytes.subarray(start, start + length), seed);
    assert.is(format.xxh32(bytes, start, start + length, seed), expected, `length ${length} at ${start}`);
    const aligned = start & ~3;
    assert.is(format.xxh32(bytes, aligned, aligned + length, seed, words), h32Raw(bytes.subarray(aligned, aligned + length), seed));
  }
});

test('published XXH32 values', () => {
  const h = (text, seed = 0) => { const b = Buffer.from(text); return format.xxh32(b, 0, b.length, seed); };
  assert.is(h(''), 0x02cc5d05);
  assert.is(h('a'), 0x550d7456);
  assert.is(h('abc'), 0x32d153ff);
  assert.is(h('Nobody inspects the spammish repetition'), 0xe2293b2f);
});

test.run();
