/**
 * The compiled addon (native/slabkv_native.c): the per-process file lock, thread liveness, futex wait/wake and
 * posix_fallocate. Built by node-gyp into build/Release at install.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface NativeBinding {
  /** [lockId, 1 if this call took the OS lock] or [0, errno]. */
  acquire(path: string): [number, number];
  /** Drops this thread's reference; returns the references the process still holds. */
  release(lockId: number): number;
  references(lockId: number): number;
  /** Locks the store's process-wide setup mutex; returns whether a thread has already prepared the file. */
  setupEnter(lockId: number): boolean;
  setupLeave(lockId: number, prepared: 0 | 1): void;
  threadToken(): number;
  tokenAlive(token: number): boolean;
  wait(buffer: Buffer, offset: number, expected: number, timeoutMs: number): void;
  wake(buffer: Buffer, offset: number): void;
  /** 0 or an errno. */
  allocate(fd: number, offset: number, length: number): number;
}

/** The package root. This code runs from the CommonJS bundle dist/index.cjs (the ESM entry re-exports it). */
const packageRoot = path.resolve(__dirname, '..');

export const native: NativeBinding = createRequire(path.join(packageRoot, 'package.json'))(
  './build/Release/slabkv_native.node',
) as NativeBinding;
