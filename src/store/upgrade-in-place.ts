/**
 * Version 2 to version 3 in place (spec section 13). Version 3 gave record states 2 and 3 and the header's commit
 * field their meaning: a version 2 file has neither (its writer wrote no such state, and zeros at offset 636), so
 * it is a version 3 file as it stands but for the version fields. An open checks a version 2 header as the version
 * 3 header it will become (upgradedHeader, in memory: a refused open writes nothing, and one that only reads leaves
 * the file as it was); the version fields are written by the session's first change, right after state = 1
 * (SharedStore.markOpen), or when a file left open is resumed or rebuilt, before anything of version 3 can be.
 */
import { FORMAT_VERSION, HEADER_SIZE, Header, MAGIC, PREVIOUS_VERSION, READ_VERSION } from '../format/layout.js';
import { checkCleanHeader, checkIdentity, headerChecksum, isClean, readU32, writeU32 } from '../format/header.js';
import { DataStoreError } from '../errors.js';

/** isPreviousVersion: the bytes start a slabkv file of version 2, which is upgraded in place. */
export function isPreviousVersion(head: Uint8Array, size: number): boolean {
  return size >= HEADER_SIZE && MAGIC.every((b, i) => head[i] === b) && readU32(head, Header.formatVersion) === PREVIOUS_VERSION;
}

/**
 * upgradedHeader is the version 3 header of a version 2 one: the version fields (and, when clean, the checksum)
 * rewritten. The version 2 header must hold first, its readVersion and its own checksum included.
 */
export function upgradedHeader(head: Uint8Array, size: number, repair: boolean): Buffer {
  const readVersion = readU32(head, Header.readVersion);
  if (!repair && readVersion !== PREVIOUS_VERSION) {
    throw new DataStoreError('FILE_CORRUPT', `header readVersion is ${readVersion}; version ${PREVIOUS_VERSION} requires ${PREVIOUS_VERSION}`);
  }
  if (!repair && isClean(head) && readU32(head, Header.checksum) !== headerChecksum(head)) {
    const problem = checkCleanHeader(head, size)!; // the checksum does not hold: its message says so
    throw new DataStoreError(problem.code, problem.message);
  }
  const upgraded = Buffer.from(head.subarray(0, HEADER_SIZE));
  writeU32(upgraded, Header.formatVersion, FORMAT_VERSION);
  writeU32(upgraded, Header.readVersion, READ_VERSION);
  if (isClean(upgraded)) writeU32(upgraded, Header.checksum, headerChecksum(upgraded));
  if (!repair) {
    const problem = checkIdentity(upgraded, size) ?? (isClean(upgraded) ? checkCleanHeader(upgraded, size) : null);
    if (problem) throw new DataStoreError(problem.code, problem.message);
  }
  return upgraded;
}
