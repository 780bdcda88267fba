/**
 * KeyBuffer: one key as the index takes it: its UTF-8 bytes in a word-aligned buffer, their count and their hash.
 * Word alignment lets the hash and the key comparison read four bytes at a time.
 */
import { MAX_KEY_BYTES } from '../format/layout.js';
import { keyHash } from '../format/record.js';

export class KeyBuffer {
  readonly words = new Uint32Array(MAX_KEY_BYTES / 4);
  readonly bytes = Buffer.from(this.words.buffer);
  length = 0;
  hash = 0;

  /**
   * setAscii takes a key of at most MAX_KEY_BYTES characters (the caller checks the count), all ASCII, in one pass.
   * It returns false when a character is not ASCII; the bytes before it are then written but the buffer is not set
   * (length and hash keep the previous key's), so the caller sets it again with setUtf8.
   */
  setAscii(key: string): boolean {
    const bytes = this.bytes;
    const n = key.length;
    for (let i = 0; i < n; i++) {
      const code = key.charCodeAt(i);
      if (code >= 0x80) return false;
      bytes[i] = code;
    }
    return this.#hashed(n);
  }

  /** setUtf8 takes a key already checked to fit (at most MAX_KEY_BYTES bytes of UTF-8). */
  setUtf8(key: string): void {
    this.#hashed(this.bytes.write(key, 0, 'utf8'));
  }

  /** setBytes takes a key's UTF-8 bytes from source[start, start + length), length at most MAX_KEY_BYTES. */
  setBytes(source: Uint8Array, start: number, length: number): void {
    this.bytes.set(source.subarray(start, start + length));
    this.#hashed(length);
  }

  #hashed(length: number): true {
    this.length = length;
    this.hash = keyHash(this.bytes, length, this.words);
    return true;
  }
}
