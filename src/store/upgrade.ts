/**
 * Upgrading a version 1 file to the current version when it is opened, whole or not at all (spec section 13). The
 * process holds the version 1 file's lock. A store of the current version is built under a temporary name in the
 * same folder from the version 1 file's sound, unexpired records (keys, values and expiry times, byte for byte; of
 * a key found twice, the first in file order; slabs with a damaged span header salvaged as recovery does), sealed,
 * synced, and renamed over the version 1 file; the folder is synced last. When a record could not be carried over
 * (its checksum fails) or a slab could not be read, the version 1 file is first linked as `<name>.v1-backup`, so
 * that nothing is lost without a trace. A kill or a full disk at any instant leaves the version 1 file as it was
 * (and perhaps an `.upgrading` file, litter, or the backup's link to it), or the whole new store.
 */
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FORMAT_VERSION, MAX_FILE_SIZE } from '../format/layout.js';
import { sealHeader } from '../format/header.js';
import { checkV1Header, forEachV1Record } from '../format/v1.js';
import { Table } from '../table/table.js';
import { forgetExpiredCount } from '../table/expiry.js';
import { KeyBuffer } from '../table/key-buffer.js';
import type { RecoveryReport } from '../table/recovery.js';
import { DataStoreError, errnoError, ioError } from '../errors.js';
import { MappedFile } from './mapped-file.js';
import { newStoreImage, syncFolder, temporaryPath } from './create.js';
import { crashPoint } from './crash-points.js';
import { native } from '../native.js';

/** Names tried for the backup of a version 1 file, `<name>.v1-backup` first, before the upgrade gives up. */
const BACKUP_NAMES = 100;

export interface UpgradeResult {
  /** what the upgrade kept and what it could not keep, as a recovery report */
  report: RecoveryReport;
  /** where the version 1 file was kept, when something could not be carried over; else null */
  backup: string | null;
}

/** upgradeStoreFile replaces the version 1 store at realPath (open as fd, locked, size bytes) by a current one. */
export function upgradeStoreFile(realPath: string, fd: number, size: number, nowMs: number): UpgradeResult {
  const started = performance.now();
  const old = new MappedFile(fd, realPath, size);
  let tempFd = -1;
  let built: MappedFile | null = null;
  const folder = dirname(realPath);
  const temp = temporaryPath(realPath, 'upgrading');
  try {
    const problem = checkV1Header(old.bytes, size);
    if (problem) throw new DataStoreError(problem.code, problem.message);
    const image = newStoreImage();
    tempFd = openSync(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    fchmodSync(tempFd, fstatSync(fd).mode & 0o7777);
    const err = -native.allocate(tempFd, 0, image.length);
    if (err !== 0) throw errnoError(err, 'posix_fallocate');
    for (let written = 0; written < image.length;) written += writeSync(tempFd, image, written, image.length - written, written);
    built = new MappedFile(tempFd, temp, image.length);
    const table = new Table(built, MAX_FILE_SIZE);
    const key = new KeyBuffer();
    let records = 0;
    let duplicates = 0;
    const read = forEachV1Record(old.bytes, nowMs, (keyBytes, value, expiresAt) => {
      key.setBytes(keyBytes, 0, keyBytes.length);
      if (table.find(key) !== 0) { duplicates++; return; } // a key found twice (power loss): the first is kept
      table.insert(key, value, value.length, expiresAt);
      records++;
    });
    forgetExpiredCount(built.words); // run-time fields: zero in a closed file
    sealHeader(built.bytes);
    built.flush();
    built.close();
    built = null;
    fsyncSync(tempFd);
    crashPoint('upgrade.written');
    const backup = read.dropped > 0 || read.unreadableSlabs > 0 ? keepBackup(realPath, fd) : null;
    renameSync(temp, realPath);
    crashPoint('upgrade.placed');
    syncFolder(folder);
    const report: RecoveryReport = { records, duplicates, ...read, ms: performance.now() - started };
    if (backup !== null) {
      process.emitWarning(`the upgrade of ${realPath} to format version ${FORMAT_VERSION} could not keep ${read.dropped} damaged records ` +
        `and ${read.unreadableSlabs} unreadable slabs; the version 1 file is kept as ${backup}`, { code: 'SLABKV_UPGRADE_INCOMPLETE' });
    }
    return { report, backup };
  } catch (cause) {
    try { unlinkSync(temp); } catch { /* not made, or already renamed */ }
    if (cause instanceof DataStoreError && cause.code !== 'STORE_FULL') throw cause;
    throw ioError(`cannot upgrade the version 1 store ${realPath} to version ${FORMAT_VERSION}`, cause);
  } finally {
    try {
      built?.close();
    } finally {
      try { old.close(); } finally { if (tempFd >= 0) closeSync(tempFd); }
    }
  }
}

/**
 * keepBackup links the version 1 file (open as fd) as `<realPath>.v1-backup` (or `.v1-backup.2`, ... when that
 * name holds another file) and syncs the folder, so that the rename that replaces it cannot reach the disk first.
 * A name that already holds this very file (an upgrade cut short after its link) is used again. Returns the name.
 */
function keepBackup(realPath: string, fd: number): string {
  const held = fstatSync(fd);
  for (let n = 1; n <= BACKUP_NAMES; n++) {
    const name = `${realPath}.v1-backup${n === 1 ? '' : `.${n}`}`;
    try {
      linkSync(realPath, name);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
      const there = statSync(name, { throwIfNoEntry: false });
      if (there === undefined || there.dev !== held.dev || there.ino !== held.ino) continue;
    }
    syncFolder(dirname(realPath));
    crashPoint('upgrade.backup');
    return name;
  }
  throw new DataStoreError('IO_ERROR', `cannot keep the version 1 file ${realPath}: ${BACKUP_NAMES} backup names are taken`);
}
