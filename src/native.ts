/**
 * The compiled addon (native/slabkv_native.c): the per-process file lock, the mapping, thread liveness, futex
 * wait/wake and posix_fallocate. Built by node-gyp into build/Release at install.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface NativeBinding {
  /**
   * Opens the file (never creating it) and takes the process's lock on it: [lockId, 1 if this call took the OS
   * lock, the process's descriptor of the file], or [0, errno, -1].
   */
  acquire(path: string): [number, number, number];
  /** The references the process holds on the lock. */
  references(lockId: number): number;
  /** Locks the store's process-wide setup mutex; returns whether a thread has already prepared the file. */
  setupEnter(lockId: number): boolean;
  /** Records whether the file is prepared, drops this thread's reference if release is 1, unlocks the mutex. */
  setupLeave(lockId: number, prepared: 0 | 1, release: 0 | 1): void;
  /** Maps the file's first length bytes shared and read-write: a mapping id, or -errno. */
  map(fd: number, length: number): number;
  /** An ArrayBuffer over the mapping's first length bytes. */
  view(mapping: number, length: number): ArrayBuffer;
  /** Detaches the views and unmaps: 0 or an errno. */
  unmap(mapping: number, views: ArrayBuffer[]): number;
  /** msync(MS_SYNC) of a range of the mapping: 0 or an errno. */
  sync(mapping: number, offset: number, length: number): number;
  threadToken(): number;
  tokenAlive(token: number): boolean;
  wait(buffer: Buffer, offset: number, expected: number, timeoutMs: number): void;
  wake(buffer: Buffer, offset: number): void;
  /** 0 or an errno. */
  allocate(fd: number, offset: number, length: number): number;
  /** Deallocates the range's blocks (fallocate PUNCH_HOLE | KEEP_SIZE): 0 or an errno (EOPNOTSUPP: cannot). */
  punch(fd: number, offset: number, length: number): number;
}

/** The package root. This code runs from the CommonJS bundle dist/index.cjs (the ESM entry re-exports it). */
const packageRoot = path.resolve(__dirname, '..');

export const native: NativeBinding = createRequire(path.join(packageRoot, 'package.json'))(
  './build/Release/slabkv_native.node',
) as NativeBinding;
