/**
 * StoreLock: mutual exclusion between the threads of one process over one store, held for every operation.
 *
 * The lock word lives in the mapped header (Header.lockWord), so every thread's mapping sees the same word. It
 * holds 0 when free, else the owner thread's token, with LOCK_WAITERS set once a thread sleeps on it. Taking it
 * is one Atomics.compareExchange; a contended taker sleeps in futex(2) on the word (Atomics.wait would need a
 * SharedArrayBuffer), and a releaser that sees LOCK_WAITERS wakes the sleepers. Atomics operations are sequentially
 * consistent, which orders every plain read and write of the critical section between the acquire and the release.
 *
 * A worker thread can be terminated in the middle of an operation. Its token then dies with it (the addon
 * forgets it when the thread's environment is torn down), so a waiter that has slept for a while checks the
 * owner's token and, when the owner is gone, takes the lock over. The header's busy flag tells whether the dead
 * owner was in the middle of a change; if so the store is rebuilt from its records before anyone goes on.
 *
 * Other processes never reach this word: the OS file lock (native.acquire) keeps them out.
 */
import { Header, LOCK_WAITERS, STATE_OPEN } from '../format/layout.js';
import { writeLastWriteAt } from '../format/header.js';
import { headerField, wordOf } from '../format/fields.js';
import { native } from '../native.js';
import { DataStoreError } from '../errors.js';
import type { MappedFile } from './mapped-file.js';
import { markTime } from './open-mark.js';

const WORD = wordOf(Header.lockWord);
const SLEEP_MS = 50;
const token = native.threadToken();

export class StoreLock {
  constructor(private readonly file: MappedFile) {}

  /**
   * enter takes the lock. A lock taken over from a dead thread needs nothing more here: the busy flag tells the
   * caller's catchUp whether the dead thread left a change half made.
   */
  enter(): void {
    if (Atomics.compareExchange(this.file.atomics, WORD, 0, token) === 0) return;
    this.enterContended();
  }

  private enterContended(): void {
    const words = this.file.atomics;
    const mine = (token | LOCK_WAITERS) | 0;
    for (;;) {
      const seen = Atomics.load(words, WORD);
      // The lock is not re-entrant: a thread that waited for itself would sleep forever, and every thread with it.
      if ((seen & ~LOCK_WAITERS) === token) throw reentrantCall();
      if (seen === 0) {
        // Others may still sleep: take the lock with the waiters bit so that leave() wakes them.
        if (Atomics.compareExchange(words, WORD, 0, mine) === 0) return;
        continue;
      }
      const flagged = (seen | LOCK_WAITERS) | 0;
      if (seen !== flagged && Atomics.compareExchange(words, WORD, seen, flagged) !== seen) continue;
      native.wait(this.file.bytes, Header.lockWord, flagged, SLEEP_MS);
      if (Atomics.load(words, WORD) === flagged && !native.tokenAlive((flagged & ~LOCK_WAITERS) >>> 0)) {
        if (Atomics.compareExchange(words, WORD, flagged, mine) === flagged) return;
      }
    }
  }

  /**
   * leave releases the lock. In a file marked open it first notes the time in lastWriteAt, from the clock the
   * kernel stamps file times from: whatever was written under the lock was written before it, which is what lets a
   * later opener tell the writer's own writes from someone else's (spec section 10, the open mark).
   */
  leave(): void {
    if (headerField(this.file.words, Header.state) === STATE_OPEN) writeLastWriteAt(this.file.words, markTime());
    const previous = Atomics.exchange(this.file.atomics, WORD, 0);
    if ((previous & LOCK_WAITERS) !== 0) native.wake(this.file.bytes, Header.lockWord);
  }

  /** heldByThisThread tells whether this thread holds the lock (a call made from inside an operation). */
  heldByThisThread(): boolean {
    return ((Atomics.load(this.file.atomics, WORD) & ~LOCK_WAITERS) >>> 0) === token;
  }

  /** reset clears a lock word left in the file by a process that crashed; only the first opener calls it. */
  reset(): void {
    Atomics.store(this.file.atomics, WORD, 0);
    if (headerField(this.file.words, Header.state) === STATE_OPEN) writeLastWriteAt(this.file.words, markTime());
  }
}

/** reentrantCall is the refusal of a call made while this thread is inside another call on the same store. */
export function reentrantCall(): DataStoreError {
  return new DataStoreError('REENTRANT_CALL',
    'a store call was made from inside another call on the same store (a callback such as onProgress, a toJSON, a getter); make it after that call returns');
}
