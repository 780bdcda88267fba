/**
 * The open mark of this process (spec section 10): the OS boot id, the file's device and inode, and the unique id
 * of the mount it is open through, written to the header when a session marks the file open; and the rule that
 * tells, from the file's ctime and the header's lastWriteAt, that nothing else has written the file since.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { BOOT_ID_SIZE } from '../format/layout.js';
import type { OpenMark } from '../format/header.js';
import { native } from '../native.js';

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
let bootId: Uint8Array | undefined;

/** A file system whose timestamps show a digit below the millisecond stamps them to within this (ns). */
const FINE_GRANULARITY_NS = 1_000_000n;
/** The coarsest timestamps of a Linux file system (FAT: 2 s); assumed of one whose times show no digit below the ms. */
const COARSE_GRANULARITY_NS = 2_000_000_000n;

/** currentBootId is this boot's id (a UUID, read once), or all zero where the OS gives none: never trusted. */
function currentBootId(): Uint8Array {
  if (bootId === undefined) {
    bootId = new Uint8Array(BOOT_ID_SIZE);
    try {
      const hex = readFileSync(BOOT_ID_PATH, 'latin1').trim().replace(/-/g, '');
      if (/^[0-9a-f]{32}$/i.test(hex)) bootId.set(Buffer.from(hex, 'hex'));
    } catch { /* not Linux: no file left open is resumed without a rebuild */ }
  }
  return bootId;
}

export function openMarkOf(fd: number): OpenMark {
  const stat = fstatSync(fd, { bigint: true });
  return { bootId: currentBootId(), device: stat.dev, inode: stat.ino, mount: native.mountId(fd) };
}

/**
 * unwrittenSince tells whether the file open as fd can have been written by no one since lastWriteAt, a reading
 * of the kernel's coarse clock (ms) taken after the writer's last write (spec section 10). Every write stamps the
 * file's ctime from that clock or a finer one, never earlier, cut down to the file system's granularity g; so a
 * write after the reading has ctime > lastWriteAt - g, and a ctime at or below lastWriteAt - g proves none.
 */
export function unwrittenSince(fd: number, lastWriteAt: number): boolean {
  if (lastWriteAt === 0) return false;
  const ctime = fstatSync(fd, { bigint: true }).ctimeNs;
  const granularity = ctime % 1_000_000n !== 0n ? FINE_GRANULARITY_NS : COARSE_GRANULARITY_NS;
  return ctime + granularity <= BigInt(lastWriteAt) * 1_000_000n;
}

/** markTime is the time lastWriteAt records: ms of the clock the kernel stamps file times from. */
export function markTime(): number {
  return native.coarseClock();
}
