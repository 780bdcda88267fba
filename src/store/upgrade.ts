/**
 * Upgrading a version 1 file to version 2 when it is opened, whole or not at all (spec section 13). The process
 * holds the version 1 file's lock. A version 2 store is built under a temporary name in the same folder from the
 * version 1 file's sound, unexpired records (keys, values and expiry times, byte for byte; of a key found twice, the
 * first in file order), sealed, synced, and renamed over the version 1 file; the folder is synced last. A kill or
 * a full disk at any instant leaves the version 1 file as it was (and perhaps an `.upgrading` file, litter), or the
 * whole version 2 store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MAX_FILE_SIZE } from '../format/layout.js';
import { sealHeader } from '../format/header.js';
import { checkV1Header, forEachV1Record } from '../format/v1.js';
import { Table } from '../table/table.js';
import { forgetExpiredCount } from '../table/expiry.js';
import { KeyBuffer } from '../table/key-buffer.js';
import { DataStoreError, errnoError, ioError } from '../errors.js';
import { MappedFile } from './mapped-file.js';
import { newStoreImage, syncFolder } from './create.js';
import { crashPoint } from './crash-points.js';
import { native } from '../native.js';

/** upgradeStoreFile replaces the version 1 store at realPath (open as fd, locked, size bytes) by a version 2 one. */
export function upgradeStoreFile(realPath: string, fd: number, size: number, nowMs: number): void {
  const old = new MappedFile(fd, realPath, size);
  let tempFd = -1;
  let built: MappedFile | null = null;
  const folder = path.dirname(realPath);
  const temp = path.join(folder, `.${path.basename(realPath)}.${randomBytes(6).toString('hex')}.upgrading`);
  try {
    const problem = checkV1Header(old.bytes, size);
    if (problem) throw new DataStoreError(problem.code, problem.message);
    const image = newStoreImage();
    tempFd = fs.openSync(temp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    fs.fchmodSync(tempFd, fs.fstatSync(fd).mode & 0o7777);
    const err = -native.allocate(tempFd, 0, image.length);
    if (err !== 0) throw errnoError(err, 'posix_fallocate');
    for (let written = 0; written < image.length;) written += fs.writeSync(tempFd, image, written, image.length - written, written);
    built = new MappedFile(tempFd, temp, image.length);
    const table = new Table(built, MAX_FILE_SIZE);
    const key = new KeyBuffer();
    forEachV1Record(old.bytes, nowMs, (keyBytes, value, expiresAt) => {
      key.setBytes(keyBytes, 0, keyBytes.length);
      if (table.find(key) !== 0) return; // a key found twice (power loss): the first is kept
      table.insert(key, value, value.length, expiresAt);
    });
    forgetExpiredCount(built.words); // run-time fields: zero in a closed file
    sealHeader(built.bytes);
    built.flush();
    built.close();
    built = null;
    fs.fsyncSync(tempFd);
    crashPoint('upgrade.written');
    fs.renameSync(temp, realPath);
    crashPoint('upgrade.placed');
    syncFolder(folder);
  } catch (cause) {
    try { fs.unlinkSync(temp); } catch { /* not made, or already renamed */ }
    if (cause instanceof DataStoreError && cause.code !== 'STORE_FULL') throw cause;
    throw ioError(`cannot upgrade the version 1 store ${realPath} to version 2`, cause);
  } finally {
    try {
      built?.close();
    } finally {
      try { old.close(); } finally { if (tempFd >= 0) fs.closeSync(tempFd); }
    }
  }
}
