/**
 * The compiled addon (native/slabkv_native.c): the per-process file lock, the mapping, thread liveness, futex
 * wait/wake and posix_fallocate. Shipped prebuilt for linux-x64 in prebuilds/; compiled by node-gyp into
 * build/Release elsewhere.
 *
 * Failures follow one convention (the addon's own comment gives it in full): a call that makes an OS call which may
 * fail (acquire, map, unmap, sync, prefault, allocate, punch) returns a number, >= 0 on success and -errno on
 * failure, and changes nothing when it fails; misuse (a missing or mistyped argument, an unknown id) and a failed
 * Node-API call throw. Nothing aborts the process.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

export interface NativeBinding {
  /**
   * Opens the file (never creating it) and takes the process's lock on it, with a reference for this thread: the
   * lock's id (>= 1), or -errno (-ENOENT: no such file; -EWOULDBLOCK: another process holds it; -EISDIR, -EINVAL:
   * a directory, or not a regular file).
   */
  acquire(path: string): number;
  /** The process's descriptor of the locked file (read-write, for mapping and growing it); the lock owns it. */
  descriptor(lockId: number): number;
  /** The references the process holds on the lock. */
  references(lockId: number): number;
  /** Locks the store's process-wide setup mutex; returns whether a thread has already prepared the file. */
  setupEnter(lockId: number): boolean;
  /** Records whether the file is prepared, drops this thread's reference if release is 1, unlocks the mutex. */
  setupLeave(lockId: number, prepared: 0 | 1, release: 0 | 1): void;
  /** Maps the file's first length bytes shared and read-write: a mapping id (>= 1), or -errno. */
  map(fd: number, length: number): number;
  /** An ArrayBuffer over the mapping's first length bytes. */
  view(mapping: number, length: number): ArrayBuffer;
  /**
   * Detaches every view the mapping handed out and unmaps: 0 or -errno. Throws, leaving the memory mapped, when a
   * view cannot be detached.
   */
  unmap(mapping: number): number;
  /** msync(MS_SYNC) of a range of the mapping: 0 or -errno. */
  sync(mapping: number, offset: number, length: number): number;
  /** Makes a range's pages present and writable in one call (MADV_POPULATE_WRITE): advice, 0 or -errno. */
  prefault(mapping: number, offset: number, length: number): number;
  threadToken(): number;
  tokenAlive(token: number): boolean;
  wait(buffer: Buffer, offset: number, expected: number, timeoutMs: number): void;
  wake(buffer: Buffer, offset: number): void;
  /** posix_fallocate: 0 or -errno. */
  allocate(fd: number, offset: number, length: number): number;
  /** Deallocates the range's blocks (fallocate PUNCH_HOLE | KEEP_SIZE): 0 or -errno (-EOPNOTSUPP: cannot). */
  punch(fd: number, offset: number, length: number): number;
  /** The unique id of the mount the file is open through (statx STATX_MNT_ID_UNIQUE), or 0n where the OS gives none. */
  mountId(fd: number): bigint;
  /** Milliseconds since the epoch of the clock the kernel stamps file times from (CLOCK_REALTIME_COARSE); 0 if unreadable. */
  coarseClock(): number;
}

/** The package root. This code runs from the CommonJS bundle dist/index.cjs (the ESM entry re-exports it). */
const packageRoot = resolve(__dirname, '..');

/** The addon's file name, as node-gyp names it from binding.gyp's target. */
const ADDON = 'slabkv_native.node';

/**
 * addonCandidates lists where the addon may be, in the order they are tried: build/Release (compiled here, by the
 * install script where no prebuilt binary fits, or by a developer after changing the C source), then the binary
 * prebuilt for this platform and architecture, shipped in the package. Node-API, so one binary serves every Node
 * version from 20. This is node-gyp-build's order, without its dependency.
 */
function addonCandidates(): string[] {
  return [
    join(packageRoot, 'build', 'Release', ADDON),
    join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, ADDON),
  ];
}

function loadAddon(): NativeBinding {
  const load = createRequire(join(packageRoot, 'package.json'));
  const failures: string[] = [];
  for (const file of addonCandidates()) {
    if (!existsSync(file)) continue;
    try {
      return load(file) as NativeBinding;
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    `slabkv: no usable native addon for ${process.platform}-${process.arch} in ${packageRoot}. ` +
      (failures.length ? `Tried: ${failures.join('; ')}. ` : 'There is no prebuilt binary for this platform and none was compiled. ') +
      'Compile it with `npm rebuild slabkv` (needs Python, make and a C compiler).',
  );
}

export const native: NativeBinding = loadAddon();
