/**
 * inspect: the file decoded field by field, for people reading it beside a hexdump. Read-only, straight from the
 * file with pread(2): it takes no lock and works while another process has the store open (it then shows the
 * bytes as they are at that moment).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { DataStoreError, ioError } from '../errors.js';
import {
  BOOT_ID_SIZE, BUCKET_EMPTY, BUCKET_MOVED, BUCKET_SIZE, Bucket, CHUNK_SIZES, CLASS_ENTRY_SIZE, ClassEntry, FORMAT_VERSION,
  HEADER_SIZE, Header, Free, MAGIC, MAX_KEY_BYTES, RECORD_HEADER_SIZE, RECORD_LIVE, Record, SLAB_HEADER_SIZE, SLAB_SIZE,
  SPAN_FREE, SPAN_HEADER_SIZE, SPAN_RECORDS, SPAN_SLABS, SPAN_TABLE, Slab, Span, UPGRADED_VERSION,
} from '../format/layout.js';
import { hex, headerChecksum, readU32 } from '../format/header.js';
import { V1_CHUNK_SIZES, V1_CLASS_ENTRY_SIZE, V1_CLASS_TABLE, v1HeaderChecksum } from '../format/v1.js';
import { isExpired, recordLengthsFit } from '../format/rules.js';
import { keyHash, readExpiresAt, recordChecksum, spanChecksum } from '../format/record.js';
import {
  bucketAt, bucketHash, bucketRecord, bucketSlot, freeNext, headerField, keyLength, keyStart, recordState,
  recordStoredChecksum, slabIndex, slabStart, spanKind, spanParam, spanSlabCount, spanStoredChecksum, tableEnd,
  valueLength, wordsOf,
} from '../format/fields.js';

/**
 * What inspect needs to know of a file's format version: the current one, or version 1, which inspect reads as it
 * is (every other command upgrades it first; spec section 13). Both lay out spans, records and buckets alike.
 */
interface Layout {
  version: number;
  /** the header's fields, [name, offset], in offset order (the magic and the class table apart) */
  fields: Array<[string, number]>;
  checksum(header: Uint8Array): number;
  classTable: number;
  classEntrySize: number;
  chunkSizes: readonly number[];
  /** slabs of every RECORDS span of each class */
  spanSlabs: readonly number[];
  /** whether the record's u16 at offset 18 is slabIndex (else it is reserved) */
  slabIndex: boolean;
}

const headerFields = Object.entries(Header).filter(([name]) => name !== 'magic' && name !== 'classTable').sort((a, b) => a[1] - b[1]);

const CURRENT: Layout = {
  version: FORMAT_VERSION, fields: headerFields, checksum: headerChecksum, classTable: Header.classTable,
  classEntrySize: CLASS_ENTRY_SIZE, chunkSizes: CHUNK_SIZES, spanSlabs: SPAN_SLABS, slabIndex: true,
};

const VERSION_1: Layout = {
  version: UPGRADED_VERSION, fields: headerFields.filter(([, offset]) => offset < V1_CLASS_TABLE), checksum: v1HeaderChecksum,
  classTable: V1_CLASS_TABLE, classEntrySize: V1_CLASS_ENTRY_SIZE, chunkSizes: V1_CHUNK_SIZES,
  spanSlabs: V1_CHUNK_SIZES.map(() => 1), slabIndex: false,
};

/** chunksIn is how many chunks of chunkSize bytes a RECORDS span of `slabs` slabs holds after its header. */
function chunksIn(slabs: number, chunkSize: number): number {
  return Math.floor((slabs * SLAB_SIZE - SLAB_HEADER_SIZE) / chunkSize);
}

/**
 * A window on the file: reads ranges on demand, never more than it is asked for. Bytes past the end of the file
 * read as zeros (a damaged header can point there); `pastEnd` tells the reader when that happened.
 */
class FileBytes {
  /** The layout of the file's format version, read from its header. */
  readonly layout: Layout;
  constructor(private readonly fd: number, readonly size: number) {
    this.layout = readU32(this.read(0, HEADER_SIZE), Header.formatVersion) === UPGRADED_VERSION ? VERSION_1 : CURRENT;
  }
  close(): void {
    closeSync(this.fd);
  }
  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(Math.max(0, length));
    const inFile = Math.max(0, Math.min(length, this.size - offset));
    if (inFile > 0) readSync(this.fd, out, 0, inFile, offset);
    return out;
  }
  pastEnd(offset: number, length: number): boolean {
    return offset + length > this.size;
  }
  /** words reads length bytes (a multiple of 4) at offset as u32 words, to decode with the src/format accessors at 0. */
  words(offset: number, length: number): Uint32Array {
    return wordsOf(this.read(offset, length));
  }
}

/** The bytes of a field: its raw column in a row. */
const bytesOf = (bytes: Buffer, field: number, width = 4): Buffer => bytes.subarray(field, field + width);

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
    case 'state': return value === 0 ? '0: closed cleanly' : value === 1 ? '1: open, or its writer died (recovery on next open)' : value === 2 ? '2: a repair is under way, or was cut short (repair again)' : `${value}: not a legal state`;
    case 'lockWord': return value === 0 ? '0: free' : `held by thread token ${value & 0x7fffffff}${value & 0x80000000 ? ', with waiters' : ''}`;
    case 'checksum': return hex(value);
    case 'tableOffset': case 'oldTableOffset': case 'freeSpanHead': return value === 0 ? '0: none' : hex(value);
    default: return String(value);
  }
}

/** Header fields wider than a u32 (spec section 4): the open mark. */
const WIDE_FIELDS: Record<string, number> = { openBootId: BOOT_ID_SIZE, openDevice: 8, openInode: 8, lastWriteAt: 8, openMount: 8 };

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
  const { layout } = file;
  const lines = [layout === VERSION_1
    ? 'header of a version 1 file, read as version 1 (spec/FORMAT.md section 13; opening the store upgrades it)'
    : 'header (spec/FORMAT.md section 4)'];
  const magicOk = MAGIC.every((b, i) => header[i] === b);
  lines.push(row(Header.magic, bytesOf(header, Header.magic, MAGIC.length), 'magic', magicOk ? 'slabkv' : 'NOT a slabkv file'));
  if (!magicOk || header.length < HEADER_SIZE) return lines;
  const words = wordsOf(header);
  for (const [name, offset] of layout.fields) {
    const width = WIDE_FIELDS[name] ?? 4;
    const bytes = bytesOf(header, offset, width);
    let meaning: string;
    if (name === 'openBootId') meaning = bytes.every((b) => b === 0) ? 'none' : formatBootId(bytes);
    else if (width === 8) meaning = describeWideField(name, header.readBigUInt64LE(offset));
    else meaning = describeHeaderField(name, headerField(words, offset));
    if (name === 'checksum' && headerField(words, Header.state) === 0) meaning += headerField(words, Header.checksum) === layout.checksum(header) ? ' (matches)' : ` (DOES NOT MATCH: computed ${hex(layout.checksum(header))})`;
    lines.push(row(offset, bytes, name, meaning));
  }
  const entry = layout.slabIndex ? 'chunkSize, partialHead, spanSlabs' : 'chunkSize, partialHead; every span of 1 slab';
  lines.push('', `size classes (offset ${layout.classTable}, ${layout.classEntrySize} bytes each: ${entry})`);
  const count = Math.min(headerField(words, Header.classCount), layout.chunkSizes.length);
  for (let c = 0; c < count; c++) {
    const at = layout.classTable + c * layout.classEntrySize;
    const partial = headerField(words, at + ClassEntry.partialHead);
    const slabs = layout.slabIndex ? headerField(words, at + ClassEntry.spanSlabs) : 1;
    lines.push(row(at, bytesOf(header, at, layout.classEntrySize), `class ${c}`, `chunk ${headerField(words, at + ClassEntry.chunkSize)} bytes, spans of ${slabs} slabs, partial list ${partial === 0 ? 'empty' : 'starts at ' + hex(partial)}`));
  }
  const heapEnd = headerField(words, Header.heapEnd);
  lines.push('', `file: ${file.size} bytes; heap ${HEADER_SIZE}..${heapEnd} (${(heapEnd - HEADER_SIZE) / SLAB_SIZE} slabs)`);
  return lines;
}

function inspectSpanHeader(file: FileBytes, span: number): string[] {
  const bytes = file.read(span, SLAB_HEADER_SIZE);
  const w = wordsOf(bytes);
  const kind = spanKind(w, 0);
  const param = spanParam(w, 0);
  const ok = spanStoredChecksum(w, 0) === spanChecksum(bytes, 0);
  const lines = [
    row(span + Span.kind, bytesOf(bytes, Span.kind), 'kind', `${KINDS[kind] ?? 'unknown'} ("${bytesOf(bytes, Span.kind).toString('latin1')}")`),
    row(span + Span.slabCount, bytesOf(bytes, Span.slabCount), 'slabCount', String(spanSlabCount(w, 0))),
    row(span + Span.param, bytesOf(bytes, Span.param), 'param', kind === SPAN_RECORDS ? `size class ${param} (${file.layout.chunkSizes[param] ?? '?'}-byte chunks)` : kind === SPAN_TABLE ? `${param} buckets` : `next free span ${hex(param)}`),
    row(span + Span.checksum, bytesOf(bytes, Span.checksum), 'checksum', `${hex(spanStoredChecksum(w, 0))} ${ok ? '(matches)' : '(DOES NOT MATCH)'}`),
  ];
  if (kind === SPAN_RECORDS) {
    // Every field of the RECORDS span's allocation state, in layout order: a dump, so read generically.
    for (const [name, offset] of Object.entries(Slab)) lines.push(row(span + offset, bytesOf(bytes, offset), name, String(bytes.readUInt32LE(offset))));
  }
  return lines;
}

function inspectChunk(file: FileBytes, chunk: number, chunkSize: number): string[] {
  if (file.pastEnd(chunk, RECORD_HEADER_SIZE)) return [`    ${hex(chunk)} is past the end of the ${file.size}-byte file: the pointer to it is damaged`];
  const bytes = file.read(chunk, chunkSize);
  const w = wordsOf(bytes); // the chunk's own bytes: its fields are read at offset 0
  const state = recordState(w, 0);
  if (state !== RECORD_LIVE) {
    return [row(chunk + Record.state, bytesOf(bytes, Record.state), 'state', `${state}: free chunk`), row(chunk + Free.next, bytesOf(bytes, Free.next), 'next free', hex(freeNext(w, 0)))];
  }
  const keyBytes = keyLength(w, 0);
  const valueBytes = valueLength(w, 0);
  const fits = recordLengthsFit(w, 0, chunkSize);
  const checksumOk = fits && recordStoredChecksum(w, 0) === recordChecksum(bytes, 0, keyBytes, valueBytes);
  const expires = readExpiresAt(w, 0);
  const index = slabIndex(w, 0);
  const lines = [
    row(chunk + Record.state, bytesOf(bytes, Record.state), 'state', '1: live record'),
    row(chunk + Record.checksum, bytesOf(bytes, Record.checksum), 'checksum', `${hex(recordStoredChecksum(w, 0))} ${checksumOk ? '(matches)' : '(DOES NOT MATCH)'}`),
    row(chunk + Record.expiresLow, bytesOf(bytes, Record.expiresLow, 8), 'expiresAt', expires === 0 ? '0: never' : `${expires} = ${new Date(expires).toISOString()}${isExpired(expires, Date.now()) ? ' (expired)' : ''}`),
    row(chunk + Record.keyLength, bytesOf(bytes, Record.keyLength, 2), 'keyLength', String(keyBytes)),
    file.layout.slabIndex
      ? row(chunk + Record.slabIndex, bytesOf(bytes, Record.slabIndex, 2), 'slabIndex', `${index}: the record starts in slab ${index} of its span`)
      : row(chunk + Record.slabIndex, bytesOf(bytes, Record.slabIndex, 2), 'reserved', `${index}${index === 0 ? '' : ' (version 1 writes 0)'}`),
    row(chunk + Record.valueLength, bytesOf(bytes, Record.valueLength), 'valueLength', String(valueBytes)),
  ];
  if (!fits) return [...lines, '    lengths out of range or past the chunk: damaged record'];
  const key = keyStart(0);
  const value = key + keyBytes;
  lines.push(`key (${keyBytes} bytes): ${JSON.stringify(bytes.toString('utf8', key, key + keyBytes))}`);
  lines.push(...dumpBytes(chunk + key, bytes.subarray(key, key + keyBytes)));
  lines.push(`value (${valueBytes} bytes of JSON):`);
  lines.push(...dumpBytes(chunk + value, bytes.subarray(value, value + Math.min(valueBytes, 256))));
  if (valueBytes > 256) lines.push(`    … ${valueBytes - 256} more bytes`);
  return lines;
}

/** findSpan walks the span headers to the span that holds offset. */
function findSpan(file: FileBytes, offset: number): number {
  const heapEnd = headerField(file.words(0, HEADER_SIZE), Header.heapEnd);
  for (let span = HEADER_SIZE; span < heapEnd;) {
    const count = spanSlabCount(file.words(span, SPAN_HEADER_SIZE), 0);
    if (count < 1) return -1;
    if (offset < span + count * SLAB_SIZE) return span;
    span += count * SLAB_SIZE;
  }
  return -1;
}

export function inspectOffset(file: FileBytes, offset: number): string[] {
  if (offset < HEADER_SIZE) {
    const { layout } = file;
    const c = Math.floor((offset - layout.classTable) / layout.classEntrySize);
    if (offset >= layout.classTable && c < layout.chunkSizes.length) {
      return [`${hex(offset)} is in the header's class table: entry of size class ${c}`, ...inspectHeader(file).filter((line) => line.includes(`class ${c} `))];
    }
    const [name, at] = layout.fields.filter(([, start]) => start <= offset).pop() ?? ['magic', Header.magic];
    const width = name === 'magic' ? MAGIC.length : WIDE_FIELDS[name] ?? 4;
    if (offset >= at + width) return [`${hex(offset)} is in the header, after its last field: unused bytes`];
    return [`${hex(offset)} is in the header, field ${name}`, ...inspectHeader(file).filter((line) => line.includes(` ${name} `))];
  }
  const span = findSpan(file, offset);
  if (span < 0) return [`${hex(offset)} is past heapEnd (${hex(headerField(file.words(0, HEADER_SIZE), Header.heapEnd))}): space not in use`];
  const spanWords = file.words(span, SPAN_HEADER_SIZE);
  const kind = spanKind(spanWords, 0);
  const lines = [`${hex(offset)} is in the ${KINDS[kind] ?? 'unknown'} span at ${hex(span)}`, ...inspectSpanHeader(file, span)];
  if (file.pastEnd(span, spanSlabCount(spanWords, 0) * SLAB_SIZE)) lines.push(`    the span runs past the end of the ${file.size}-byte file (bytes there read as zeros): the file is damaged`);
  if (kind === SPAN_RECORDS && offset >= span + SLAB_HEADER_SIZE) {
    const sizeClass = spanParam(spanWords, 0);
    const size = file.layout.chunkSizes[sizeClass];
    const slabs = spanSlabCount(spanWords, 0);
    if (size === undefined || file.layout.spanSlabs[sizeClass] !== slabs) return lines;
    const index = Math.floor((offset - span - SLAB_HEADER_SIZE) / size);
    if (index >= chunksIn(slabs, size)) return [...lines, 'past the last chunk of the span: unused bytes'];
    const chunk = span + SLAB_HEADER_SIZE + index * size;
    lines.push('', `chunk ${index} of the span, at ${hex(chunk)} (${size} bytes)`, ...inspectChunk(file, chunk, size));
  } else if (kind === SPAN_TABLE && offset >= span + SPAN_HEADER_SIZE) {
    const slot = Math.floor(bucketSlot(span, offset));
    const at = bucketAt(span, slot);
    lines.push('', `bucket ${slot} at ${hex(at)}`, ...inspectBucket(file, at));
  }
  return lines;
}

function inspectBucket(file: FileBytes, at: number): string[] {
  const bytes = file.read(at, BUCKET_SIZE);
  const w = wordsOf(bytes);
  const record = bucketRecord(w, 0)!;
  return [
    row(at + Bucket.recordOffset, bytesOf(bytes, Bucket.recordOffset), 'recordOffset', record === BUCKET_EMPTY ? '0: empty' : record === BUCKET_MOVED ? '1: moved to the new array' : hex(record)),
    row(at + Bucket.hash, bytesOf(bytes, Bucket.hash), 'hash', hex(bucketHash(w, 0))),
  ];
}

export function inspectKey(file: FileBytes, key: string): string[] {
  const keyBytes = Buffer.from(key, 'utf8');
  const hash = keyHash(keyBytes, keyBytes.length);
  const lines = [`key ${JSON.stringify(key)}: ${keyBytes.length} UTF-8 bytes, XXH32 seed 0 = ${hex(hash)}`];
  const header = file.words(0, HEADER_SIZE);
  const arrays = [['current', headerField(header, Header.tableOffset), headerField(header, Header.tableCapacity)], ['old', headerField(header, Header.oldTableOffset), headerField(header, Header.oldTableCapacity)]] as const;
  for (const [name, table, capacity] of arrays) {
    if (table === 0 || capacity === 0) continue;
    const home = hash & (capacity - 1);
    lines.push('', `${name} bucket array at ${hex(table)}, ${capacity} buckets: first bucket = hash & ${capacity - 1} = ${home}`);
    if (file.pastEnd(table, tableEnd(table, capacity) - table)) {
      lines.push(`  the array runs past the end of the ${file.size}-byte file: the header is damaged`);
      continue;
    }
    for (let n = 0, slot = home; n < capacity; n++, slot = (slot + 1) & (capacity - 1)) {
      const at = bucketAt(table, slot);
      const bucket = file.words(at, BUCKET_SIZE);
      const record = bucketRecord(bucket, 0)!;
      let verdict: string;
      let recordHeader: Uint32Array | null = null;
      if (record === BUCKET_EMPTY) verdict = 'empty: the key is not in this array';
      else if (record === BUCKET_MOVED) verdict = 'moved: go on';
      else if (bucketHash(bucket, 0) !== hash) verdict = 'another hash: go on';
      else if (file.pastEnd(record, RECORD_HEADER_SIZE)) verdict = `points past the end of the ${file.size}-byte file: damaged, go on`;
      else {
        recordHeader = file.words(record, RECORD_HEADER_SIZE);
        const stored = file.read(keyStart(record), keyLength(recordHeader, 0));
        verdict = stored.equals(keyBytes) ? 'FOUND' : 'same hash, another key: go on';
      }
      lines.push(`  bucket ${slot} at ${hex(at)}: ${Array.from(file.read(at, BUCKET_SIZE), (b) => b.toString(16).padStart(2, '0')).join(' ')}  → ${verdict}`);
      if (verdict === 'FOUND' && recordHeader !== null) {
        // The record's slabIndex names the slab of its span where it starts: the span header is there (in version
        // 1, every span is one slab).
        const slab = slabStart(record) - (file.layout.slabIndex ? slabIndex(recordHeader, 0) * SLAB_SIZE : 0);
        const size = (slab >= HEADER_SIZE ? file.layout.chunkSizes[spanParam(file.words(slab, SPAN_HEADER_SIZE), 0)] : undefined) ?? RECORD_HEADER_SIZE;
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
  const length = keyLength(file.words(record, RECORD_HEADER_SIZE), 0);
  if (length === 0 || length > MAX_KEY_BYTES || file.pastEnd(keyStart(record), length)) return null;
  return file.read(keyStart(record), length).toString('utf8');
}

/**
 * openForInspection opens a slabkv file to read. It refuses, with IO_ERROR, anything but a regular file (opening
 * with O_NONBLOCK, so that a fifo cannot block it), and, with FILE_INVALID, a file that does not start with the
 * magic. The caller closes it.
 */
export function openForInspection(path: string): FileBytes {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new DataStoreError('IO_ERROR', `${path} is not a regular file (${stats.isDirectory() ? 'a directory' : 'a fifo, socket or device'})`);
    const file = new FileBytes(fd, stats.size);
    const head = file.read(0, MAGIC.length);
    if (!MAGIC.every((b, i) => head[i] === b)) {
      throw new DataStoreError('FILE_INVALID', `${path} is not a slabkv file: it does not start with the slabkv magic`);
    }
    return file;
  } catch (error) {
    closeSync(fd);
    throw error instanceof DataStoreError ? error : ioError(`cannot read ${path}`, error);
  }
}
