/**
 * The steps of an open that come before the file is mapped, on its header read with read(2): is the path still the
 * file that was locked, is the header one this code opens (or upgrades, or repairs), and the writes a repair or a
 * file that lost its length needs first. Nothing here is written until a check has accepted the file.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { Header, MAX_FILE_SIZE, STATE_REPAIRING } from '../format/layout.js';
import { checkCleanHeader, checkIdentity, checkMagicAndVersion, isClean, isVersion1, readU32, repairedLength } from '../format/header.js';
import { native } from '../native.js';
import { DataStoreError, errnoError, errnoNumbers, ioError } from '../errors.js';
import { crashPoint } from './crash-points.js';

/** namesFile tells whether realPath still names the file open as fd (it may have been replaced meanwhile). */
export function namesFile(realPath: string, fd: number): boolean {
  try {
    const named = statSync(realPath);
    const held = fstatSync(fd);
    return named.dev === held.dev && named.ino === held.ino;
  } catch {
    return false;
  }
}

/**
 * checkBeforeMapping refuses a foreign or damaged file from its header, read with read(2) before anything is
 * mapped; a version 1 file is to be upgraded (with or without repair). For repair, a file needs only the magic and
 * this format version, and must not be longer than a store can be.
 */
export function checkBeforeMapping(head: Buffer, size: number, repair: boolean): 'open' | 'upgrade' | 'repair' {
  if (isVersion1(head, size)) return 'upgrade';
  if (repair) {
    const problem = checkMagicAndVersion(head, size);
    if (problem) throw new DataStoreError(problem.code, `${problem.message}; repair refused`);
    if (size > MAX_FILE_SIZE) throw new DataStoreError('FILE_CORRUPT', `the file is ${size} bytes, longer than a store can be (${MAX_FILE_SIZE}); repair refused`);
    return 'repair';
  }
  const problem = checkIdentity(head, size) ?? (isClean(head) ? checkCleanHeader(head, size) : null);
  if (problem) throw new DataStoreError(problem.code, problem.message);
  return 'open';
}

/**
 * beginRepair writes state = 2 (a repair under way) and syncs it, so that from here until the repaired store is
 * marked open no open but a repair takes the file; then gives the file the length repair works with
 * (repairedLength: a file cut short gets its length back, in zeros), and returns it.
 */
export function beginRepair(fd: number, path: string, head: Buffer, size: number): number {
  const state = Buffer.alloc(4);
  state.writeUInt32LE(STATE_REPAIRING);
  const length = repairedLength(head, size);
  try {
    writeSync(fd, state, 0, 4, Header.state);
    fdatasyncSync(fd);
    crashPoint('repair.begun');
    if (length !== size) {
      ftruncateSync(fd, length);
      fdatasyncSync(fd); // the new length on disk before a header that counts on it says state 1
    }
  } catch (cause) {
    throw ioError(`cannot repair ${path}`, cause);
  }
  return length;
}

/**
 * restoreLength gives a file left open the length its header records (recordedLength: the disk lost the file's
 * last growth), with allocated blocks that read as zeros, synced before the recovery that counts on it; returns
 * it. A full disk fails the open (IO_ERROR) with the file cut back as it was.
 */
export function restoreLength(fd: number, path: string, size: number, length: number): number {
  const err = native.allocate(fd, size, length - size);
  try {
    if (err !== 0) throw errnoError(err, 'posix_fallocate');
    fdatasyncSync(fd);
  } catch (cause) {
    try { ftruncateSync(fd, size); } catch { /* still the length it had: the next open tries again */ }
    throw ioError(`cannot give ${path} back the length ${length} its header records`, cause);
  }
  return length;
}

export function openError(realPath: string, errno: number): DataStoreError {
  const { EWOULDBLOCK, EISDIR } = errnoNumbers();
  if (errno === EWOULDBLOCK) return lockedError(realPath);
  if (errno === EISDIR) return new DataStoreError('FILE_INVALID', `${realPath} is a directory, not a slabkv file`);
  return ioError(`cannot open ${realPath}`, errnoError(errno, 'open'));
}

function lockedError(realPath: string): DataStoreError {
  let pid = 0;
  try {
    const fd = openSync(realPath, 'r');
    const word = Buffer.alloc(4);
    if (readSync(fd, word, 0, 4, Header.ownerPid) === 4) pid = readU32(word, 0);
    closeSync(fd);
  } catch { /* the pid is only for the message */ }
  return new DataStoreError('STORE_LOCKED', `${realPath} is open in another process${pid ? ` (pid ${pid})` : ''}`);
}
