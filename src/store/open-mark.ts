/**
 * The open mark of this process (spec section 10): the OS boot id and the file's device and inode, written to the
 * header when a session marks the file open. A later opener that finds the same mark in a file left open knows
 * the OS has kept every write since (no restart) and that the file is the same one (not a copy).
 */
import * as fs from 'node:fs';
import { BOOT_ID_SIZE } from '../format/layout.js';
import type { OpenMark } from '../format/header.js';

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
let bootId: Uint8Array | undefined;

/** currentBootId is this boot's id (a UUID, read once), or all zero where the OS gives none: never trusted. */
function currentBootId(): Uint8Array {
  if (bootId === undefined) {
    bootId = new Uint8Array(BOOT_ID_SIZE);
    try {
      const hex = fs.readFileSync(BOOT_ID_PATH, 'latin1').trim().replace(/-/g, '');
      if (/^[0-9a-f]{32}$/i.test(hex)) bootId.set(Buffer.from(hex, 'hex'));
    } catch { /* not Linux: no file left open is resumed without a rebuild */ }
  }
  return bootId;
}

export function openMarkOf(fd: number): OpenMark {
  const stat = fs.fstatSync(fd, { bigint: true });
  return { bootId: currentBootId(), device: stat.dev, inode: stat.ino };
}
