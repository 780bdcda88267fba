/**
 * inspect: the file decoded field by field, for people reading it beside a hexdump. Read-only, straight from the
 * file with pread(2): it takes no lock and works while another process has the store open (it then shows the
 * bytes as they are at that moment).
 */
import * as fs from 'node:fs';
import { DataStoreError, ioError } from '../errors.js';
import {
  BOOT_ID_SIZE, BUCKET_EMPTY, BUCKET_MOVED, BUCKET_SIZE, Bucket, CHUNK_SIZES, CLASS_ENTRY_SIZE, ClassEntry, HEADER_SIZE, Header,
  MAGIC, MAX_KEY_BYTES, RECORD_HEADER_SIZE, RECORD_LIVE, Record, SLAB_HEADER_SIZE, SLAB_SIZE, SPAN_FREE, SPAN_HEADER_SIZE,
  SPAN_RECORDS, SPAN_SLABS, SPAN_TABLE, Slab, Span, chunksPerSpan,
} from '../format/layout.js';
import { hex, headerChecksum } from '../format/header.js';
import { keyHash, recordChecksum, spanChecksum } from '../format/record.js';

/**
 * A window on the file: reads ranges on demand, never more than it is asked for. Bytes past the end of the file
 * read as zeros (a damaged header can point there); `pastEnd` tells the reader when that happened.
 */
class FileBytes {
  constructor(private readonly fd: number, readonly size: number) {}
  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(Math.max(0, length));
    const inFile = Math.max(0, Math.min(length, this.size - offset));
    if (inFile > 0) fs.readSync(this.fd, out, 0, inFile, offset);
    return out;
  }
  pastEnd(offset: number, length: number): boolean {
    return offset + length > this.size;
  }
  u32(offset: number): number {
    const b = this.read(offset, 4);
    return b.length === 4 ? b.readUInt32LE(0) : 0;
  }
}

const KINDS: Record<number, string> = { [SPAN_RECORDS]: 'RECORDS', [SPAN_TABLE]: 'TABLE', [SPAN_FREE]: 'FREE' };

function row(offset: number, bytes: Buffer, name: string, meaning: string): string {
  const raw = Array.from(bytes.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join(' ') + (bytes.length > 16 ? ' …' : '');
  return `${hex(offset)}  ${raw.padEnd(49)}  ${name.padEnd(16)} ${meaning}`;
}

/** dumpBytes prints bytes as xxd does: offset, 16 hex bytes, ASCII. */
function dumpBytes(start: number, bytes: Buffer, indent = '    '): string[] {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const part = bytes.subarray(i, i + 16);
    const hexes = Array.from(part, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(part, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${indent}${hex(start + i)}  ${hexes.padEnd(47)}  ${ascii}`);
  }
  return lines;
}

function describeHeaderField(name: string, value: number): string {
  switch (name) {
    case 'state': return value === 0 ? '0: closed cleanly' : value === 1 ? '1: open, or its writer died (recovery on next open)' : `${value}: not a legal state`;
    case 'lockWord': return value === 0 ? '0: free' : `held by thread token ${value & 0x7fffffff}${value & 0x80000000 ? ', with waiters' : ''}`;
    case 'checksum': return hex(value);
    case 'tableOffset': case 'oldTableOffset': case 'freeSpanHead': return value === 0 ? '0: none' : hex(value);
    default: return String(value);
  }
}

/** Header fields wider than a u32 (spec section 4): the open mark. */
const WIDE_FIELDS: Record<string, number> = { openBootId: BOOT_ID_SIZE, openDevice: 8, openInode: 8, lastWriteAt: 8 };

/** formatBootId prints a boot id as /proc/sys/kernel/random/boot_id does. */
function formatBootId(raw: Buffer): string {
  const hexText = raw.toString('hex');
  return [hexText.slice(0, 8), hexText.slice(8, 12), hexText.slice(12, 16), hexText.slice(16, 20), hexText.slice(20)].join('-');
}

function describeWideField(name: string, value: bigint): string {
  if (value === 0n) return '0';
  if (name === 'lastWriteAt') return `${value} (${new Date(Number(value)).toISOString()})`;
  return String(value);
}

export function inspectHeader(file: FileBytes): string[] {
  const header = file.read(0, HEADER_SIZE);
  const lines = ['header (spec/FORMAT.md section 4)'];
  const magicOk = MAGIC.every((b, i) => header[i] === b);
  lines.push(row(0, header.subarray(0, 16), 'magic', magicOk ? 'slabkv' : 'NOT a slabkv file'));
  if (!magicOk || header.length < HEADER_SIZE) return lines;
  const fields = Object.entries(Header).filter(([name]) => name !== 'magic' && name !== 'classTable').sort((a, b) => a[1] - b[1]);
  for (const [name, offset] of fields) {
    const width = WIDE_FIELDS[name] ?? 4;
    const raw = header.subarray(offset, offset + width);
    let meaning: string;
    if (name === 'openBootId') meaning = raw.every((b) => b === 0) ? 'none' : formatBootId(raw);
    else if (width === 8) meaning = describeWideField(name, header.readBigUInt64LE(offset));
    else meaning = describeHeaderField(name, header.readUInt32LE(offset));
    if (name === 'checksum' && header.readUInt32LE(Header.state) === 0) meaning += header.readUInt32LE(Header.checksum) === headerChecksum(header) ? ' (matches)' : ` (DOES NOT MATCH: computed ${hex(headerChecksum(header))})`;
    lines.push(row(offset, raw, name, meaning));
  }
  lines.push('', `size classes (offset ${Header.classTable}, ${CLASS_ENTRY_SIZE} bytes each: chunkSize, partialHead, spanSlabs)`);
  const count = Math.min(header.readUInt32LE(Header.classCount), CHUNK_SIZES.length);
  for (let c = 0; c < count; c++) {
    const at = Header.classTable + c * CLASS_ENTRY_SIZE;
    const partial = header.readUInt32LE(at + ClassEntry.partialHead);
    lines.push(row(at, header.subarray(at, at + CLASS_ENTRY_SIZE), `class ${c}`, `chunk ${header.readUInt32LE(at + ClassEntry.chunkSize)} bytes, spans of ${header.readUInt32LE(at + ClassEntry.spanSlabs)} slabs, partial list ${partial === 0 ? 'empty' : 'starts at ' + hex(partial)}`));
  }
  lines.push('', `file: ${file.size} bytes; heap ${HEADER_SIZE}..${header.readUInt32LE(Header.heapEnd)} (${(header.readUInt32LE(Header.heapEnd) - HEADER_SIZE) / SLAB_SIZE} slabs)`);
  return lines;
}

function inspectSpanHeader(file: FileBytes, span: number): string[] {
  const bytes = file.read(span, SLAB_HEADER_SIZE);
  const kind = bytes.readUInt32LE(Span.kind);
  const ok = bytes.readUInt32LE(Span.checksum) === spanChecksum(bytes, 0);
  const lines = [
    row(span + Span.kind, bytes.subarray(0, 4), 'kind', `${KINDS[kind] ?? 'unknown'} ("${bytes.toString('latin1', 0, 4)}")`),
    row(span + Span.slabCount, bytes.subarray(4, 8), 'slabCount', String(bytes.readUInt32LE(Span.slabCount))),
    row(span + Span.param, bytes.subarray(8, 12), 'param', kind === SPAN_RECORDS ? `size class ${bytes.readUInt32LE(8)} (${CHUNK_SIZES[bytes.readUInt32LE(8)] ?? '?'}-byte chunks)` : kind === SPAN_TABLE ? `${bytes.readUInt32LE(8)} buckets` : `next free span ${hex(bytes.readUInt32LE(8))}`),
    row(span + Span.checksum, bytes.subarray(12, 16), 'checksum', `${hex(bytes.readUInt32LE(12))} ${ok ? '(matches)' : '(DOES NOT MATCH)'}`),
  ];
  if (kind === SPAN_RECORDS) {
    for (const [name, offset] of Object.entries(Slab)) lines.push(row(span + offset, bytes.subarray(offset, offset + 4), name, String(bytes.readUInt32LE(offset))));
  }
  return lines;
}

function inspectChunk(file: FileBytes, chunk: number, chunkSize: number): string[] {
  if (file.pastEnd(chunk, RECORD_HEADER_SIZE)) return [`    ${hex(chunk)} is past the end of the ${file.size}-byte file: the pointer to it is damaged`];
  const bytes = file.read(chunk, chunkSize);
  const state = bytes.readUInt32LE(Record.state);
  if (state !== RECORD_LIVE) {
    return [row(chunk, bytes.subarray(0, 4), 'state', `${state}: free chunk`), row(chunk + 4, bytes.subarray(4, 8), 'next free', hex(bytes.readUInt32LE(4)))];
  }
  const keyLength = bytes.readUInt16LE(Record.keyLength);
  const valueLength = bytes.readUInt32LE(Record.valueLength);
  const fits = RECORD_HEADER_SIZE + keyLength + valueLength <= chunkSize;
  const checksumOk = fits && bytes.readUInt32LE(Record.checksum) === recordChecksum(bytes, 0, keyLength, valueLength);
  const expires = bytes.readUInt32LE(Record.expiresHigh) * 2 ** 32 + bytes.readUInt32LE(Record.expiresLow);
  const lines = [
    row(chunk, bytes.subarray(0, 4), 'state', '1: live record'),
    row(chunk + 4, bytes.subarray(4, 8), 'checksum', `${hex(bytes.readUInt32LE(4))} ${checksumOk ? '(matches)' : '(DOES NOT MATCH)'}`),
    row(chunk + 8, bytes.subarray(8, 16), 'expiresAt', expires === 0 ? '0: never' : `${expires} = ${new Date(expires).toISOString()}${expires <= Date.now() ? ' (expired)' : ''}`),
    row(chunk + 16, bytes.subarray(16, 18), 'keyLength', String(keyLength)),
    row(chunk + 18, bytes.subarray(18, 20), 'slabIndex', `${bytes.readUInt16LE(18)}: the record starts in slab ${bytes.readUInt16LE(18)} of its span`),
    row(chunk + 20, bytes.subarray(20, 24), 'valueLength', String(valueLength)),
  ];
  if (!fits) return [...lines, '    lengths run past the chunk: damaged record'];
  lines.push(`key (${keyLength} bytes): ${JSON.stringify(bytes.toString('utf8', 24, 24 + keyLength))}`);
  lines.push(...dumpBytes(chunk + 24, bytes.subarray(24, 24 + keyLength)));
  lines.push(`value (${valueLength} bytes of JSON):`);
  lines.push(...dumpBytes(chunk + 24 + keyLength, bytes.subarray(24 + keyLength, 24 + keyLength + Math.min(valueLength, 256))));
  if (valueLength > 256) lines.push(`    … ${valueLength - 256} more bytes`);
  return lines;
}

/** findSpan walks the span headers to the span that holds offset. */
function findSpan(file: FileBytes, offset: number): number {
  const heapEnd = file.u32(Header.heapEnd);
  for (let span = HEADER_SIZE; span < heapEnd;) {
    const count = file.u32(span + Span.slabCount);
    if (count < 1) return -1;
    if (offset < span + count * SLAB_SIZE) return span;
    span += count * SLAB_SIZE;
  }
  return -1;
}

export function inspectOffset(file: FileBytes, offset: number): string[] {
  if (offset < HEADER_SIZE) {
    const field = Object.entries(Header).filter(([, at]) => at <= offset).sort((a, b) => b[1] - a[1])[0]!;
    if (offset >= Header.classTable) {
      const c = Math.floor((offset - Header.classTable) / CLASS_ENTRY_SIZE);
      return [`${hex(offset)} is in the header's class table: entry of size class ${c}`, ...inspectHeader(file).filter((line) => line.includes(`class ${c} `))];
    }
    return [`${hex(offset)} is in the header, field ${field[0]}`, ...inspectHeader(file).filter((line) => line.includes(` ${field[0]} `))];
  }
  const span = findSpan(file, offset);
  if (span < 0) return [`${hex(offset)} is past heapEnd (${hex(file.u32(Header.heapEnd))}): space not in use`];
  const kind = file.u32(span + Span.kind);
  const lines = [`${hex(offset)} is in the ${KINDS[kind] ?? 'unknown'} span at ${hex(span)}`, ...inspectSpanHeader(file, span)];
  if (file.pastEnd(span, file.u32(span + Span.slabCount) * SLAB_SIZE)) lines.push(`    the span runs past the end of the ${file.size}-byte file (bytes there read as zeros): the file is damaged`);
  if (kind === SPAN_RECORDS && offset >= span + SLAB_HEADER_SIZE) {
    const sizeClass = file.u32(span + Span.param);
    const size = CHUNK_SIZES[sizeClass];
    if (size === undefined || SPAN_SLABS[sizeClass] !== file.u32(span + Span.slabCount)) return lines;
    const index = Math.floor((offset - span - SLAB_HEADER_SIZE) / size);
    if (index >= chunksPerSpan(sizeClass)) return [...lines, 'past the last chunk of the span: unused bytes'];
    const chunk = span + SLAB_HEADER_SIZE + index * size;
    lines.push('', `chunk ${index} of the span, at ${hex(chunk)} (${size} bytes)`, ...inspectChunk(file, chunk, size));
  } else if (kind === SPAN_TABLE && offset >= span + SPAN_HEADER_SIZE) {
    const slot = Math.floor((offset - span - SPAN_HEADER_SIZE) / BUCKET_SIZE);
    const at = span + SPAN_HEADER_SIZE + slot * BUCKET_SIZE;
    lines.push('', `bucket ${slot} at ${hex(at)}`, ...inspectBucket(file, at));
  }
  return lines;
}

function inspectBucket(file: FileBytes, at: number): string[] {
  const bytes = file.read(at, BUCKET_SIZE);
  const record = bytes.readUInt32LE(Bucket.recordOffset);
  return [
    row(at + Bucket.recordOffset, bytes.subarray(0, 4), 'recordOffset', record === BUCKET_EMPTY ? '0: empty' : record === BUCKET_MOVED ? '1: moved to the new array' : hex(record)),
    row(at + Bucket.hash, bytes.subarray(4, 8), 'hash', hex(bytes.readUInt32LE(Bucket.hash))),
  ];
}

export function inspectKey(file: FileBytes, key: string): string[] {
  const keyBytes = Buffer.from(key, 'utf8');
  const hash = keyHash(keyBytes, keyBytes.length);
  const lines = [`key ${JSON.stringify(key)}: ${keyBytes.length} UTF-8 bytes, XXH32 seed 0 = ${hex(hash)}`];
  const arrays = [['current', file.u32(Header.tableOffset), file.u32(Header.tableCapacity)], ['old', file.u32(Header.oldTableOffset), file.u32(Header.oldTableCapacity)]] as const;
  for (const [name, table, capacity] of arrays) {
    if (table === 0 || capacity === 0) continue;
    const home = hash & (capacity - 1);
    lines.push('', `${name} bucket array at ${hex(table)}, ${capacity} buckets: first bucket = hash & ${capacity - 1} = ${home}`);
    if (file.pastEnd(table, SPAN_HEADER_SIZE + capacity * BUCKET_SIZE)) {
      lines.push(`  the array runs past the end of the ${file.size}-byte file: the header is damaged`);
      continue;
    }
    for (let n = 0, slot = home; n < capacity; n++, slot = (slot + 1) & (capacity - 1)) {
      const at = table + SPAN_HEADER_SIZE + slot * BUCKET_SIZE;
      const record = file.u32(at);
      const bucketHash = file.u32(at + 4);
      let verdict: string;
      if (record === BUCKET_EMPTY) verdict = 'empty: the key is not in this array';
      else if (record === BUCKET_MOVED) verdict = 'moved: go on';
      else if (bucketHash !== hash) verdict = 'another hash: go on';
      else if (file.pastEnd(record, RECORD_HEADER_SIZE)) verdict = `points past the end of the ${file.size}-byte file: damaged, go on`;
      else {
        const stored = file.read(record + RECORD_HEADER_SIZE, file.read(record + Record.keyLength, 2).readUInt16LE(0) || 0);
        verdict = stored.equals(keyBytes) ? 'FOUND' : 'same hash, another key: go on';
      }
      lines.push(`  bucket ${slot} at ${hex(at)}: ${Array.from(file.read(at, 8), (b) => b.toString(16).padStart(2, '0')).join(' ')}  → ${verdict}`);
      if (verdict === 'FOUND') {
        // The record's slabIndex (offset 18) names the slab of its span where it starts: the span header is there.
        const slab = record - ((record - HEADER_SIZE) % SLAB_SIZE) - file.read(record + Record.slabIndex, 2).readUInt16LE(0) * SLAB_SIZE;
        const size = (slab >= HEADER_SIZE ? CHUNK_SIZES[file.u32(slab + Span.param)] : undefined) ?? RECORD_HEADER_SIZE;
        lines.push('', `record at ${hex(record)}`, ...inspectChunk(file, record, size));
        return lines;
      }
      if (record === BUCKET_EMPTY) break;
    }
  }
  lines.push('', 'the key is not in the file');
  return lines;
}

/** keyAt decodes the key of the record at offset, or returns null when its length is out of range. */
export function keyAt(file: FileBytes, record: number): string | null {
  const keyLength = file.read(record + Record.keyLength, 2).readUInt16LE(0);
  if (keyLength === 0 || keyLength > MAX_KEY_BYTES || file.pastEnd(record + RECORD_HEADER_SIZE, keyLength)) return null;
  return file.read(record + RECORD_HEADER_SIZE, keyLength).toString('utf8');
}

/**
 * openForInspection opens a slabkv file to read. It refuses, with IO_ERROR, anything but a regular file (opening
 * with O_NONBLOCK, so that a fifo cannot block it), and, with FILE_INVALID, a file that does not start with the
 * magic.
 */
export function openForInspection(path: string): FileBytes {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw new DataStoreError('IO_ERROR', `${path} is not a regular file (${stats.isDirectory() ? 'a directory' : 'a fifo, socket or device'})`);
    const file = new FileBytes(fd, stats.size);
    const head = file.read(0, MAGIC.length);
    if (!MAGIC.every((b, i) => head[i] === b)) {
      throw new DataStoreError('FILE_INVALID', `${path} is not a slabkv file: it does not start with the slabkv magic`);
    }
    return file;
  } catch (error) {
    fs.closeSync(fd);
    throw error instanceof DataStoreError ? error : ioError(`cannot read ${path}`, error);
  }
}
