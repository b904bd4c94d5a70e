// Sparse indexes of one segment, kept in memory and written to `.index` / `.timeindex` when the
// segment is sealed or the log closes. They are derived data: loaded only after validation, and
// rebuilt from the log when missing or suspect.
//   .index      8-byte entries: relative offset int32 | file position int32 (batch base offsets)
//   .timeindex 12-byte entries: max timestamp so far int64 | relative offset int32
import { assert, assertSafeInteger } from '../util/index.ts';
import { readInt64, writeInt64 } from '../record/index.ts';

export const OFFSET_INDEX_ENTRY_BYTES = 8;
export const TIME_INDEX_ENTRY_BYTES = 12;
const INT32_MAX = 0x7fffffff;

/** A growable big-endian entry array that serializes as the file bytes themselves. */
class EntryBuffer {
  buf: Buffer;
  count = 0;
  readonly entryBytes: number;

  constructor(entryBytes: number, initial?: Buffer) {
    this.entryBytes = entryBytes;
    this.buf = initial === undefined ? Buffer.alloc(entryBytes * 16) : Buffer.from(initial);
    this.count = initial === undefined ? 0 : initial.length / entryBytes;
  }

  reserve(): number {
    const pos = this.count * this.entryBytes;
    if (pos + this.entryBytes > this.buf.length) {
      const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.entryBytes * 16));
      this.buf.copy(grown, 0, 0, pos);
      this.buf = grown;
    }
    this.count++;
    return pos;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.count * this.entryBytes);
  }
}

export class OffsetIndex {
  readonly baseOffset: number;
  private readonly entries: EntryBuffer;

  constructor(baseOffset: number, fileBytes?: Buffer) {
    assertSafeInteger(baseOffset, 'index base offset');
    assert(fileBytes === undefined || fileBytes.length % OFFSET_INDEX_ENTRY_BYTES === 0, 'offset index bytes not a whole number of entries');
    this.baseOffset = baseOffset;
    this.entries = new EntryBuffer(OFFSET_INDEX_ENTRY_BYTES, fileBytes);
  }

  get length(): number {
    return this.entries.count;
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.entries.buf.readInt32BE(i * OFFSET_INDEX_ENTRY_BYTES);
  }

  positionAt(i: number): number {
    return this.entries.buf.readInt32BE(i * OFFSET_INDEX_ENTRY_BYTES + 4);
  }

  append(offset: number, position: number): void {
    const rel = offset - this.baseOffset;
    assert(rel >= 0 && rel <= INT32_MAX, `index offset ${offset} out of range for segment ${this.baseOffset}`);
    assert(position >= 0 && position <= INT32_MAX, `index position ${position} out of range`);
    const n = this.entries.count;
    if (n > 0) assert(offset > this.offsetAt(n - 1) && position > this.positionAt(n - 1), `index entry ${offset}@${position} not after the last one`);
    const at = this.entries.reserve();
    this.entries.buf.writeInt32BE(rel, at);
    this.entries.buf.writeInt32BE(position, at + 4);
  }

  /** The last entry at or below `offset`, or the segment start. Scanning forward from it finds `offset`. */
  lookup(offset: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.entries.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsetAt(mid) <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? { offset: this.baseOffset, position: 0 } : { offset: this.offsetAt(found), position: this.positionAt(found) };
  }

  /** Drops entries at or after `offset`. */
  truncateTo(offset: number): void {
    while (this.entries.count > 0 && this.offsetAt(this.entries.count - 1) >= offset) this.entries.count--;
  }

  bytes(): Buffer {
    return this.entries.bytes();
  }

  /** Why `bytes` cannot be this segment's offset index, or null when it looks sane. */
  static problem(bytes: Buffer, baseOffset: number, fileBytes: number, nextOffset: number | undefined): string | null {
    if (bytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of ${OFFSET_INDEX_ENTRY_BYTES}`;
    let lastRel = -1;
    let lastPos = -1;
    for (let at = 0; at < bytes.length; at += OFFSET_INDEX_ENTRY_BYTES) {
      const rel = bytes.readInt32BE(at);
      const pos = bytes.readInt32BE(at + 4);
      if (rel <= lastRel || pos <= lastPos) return `entry ${at / OFFSET_INDEX_ENTRY_BYTES} (${rel}@${pos}) not increasing`;
      if (pos >= fileBytes) return `entry ${at / OFFSET_INDEX_ENTRY_BYTES} position ${pos} beyond log size ${fileBytes}`;
      if (nextOffset !== undefined && baseOffset + rel >= nextOffset) return `entry offset ${baseOffset + rel} beyond segment end ${nextOffset}`;
      lastRel = rel;
      lastPos = pos;
    }
    return null;
  }
}

export class TimeIndex {
  readonly baseOffset: number;
  private readonly entries: EntryBuffer;

  constructor(baseOffset: number, fileBytes?: Buffer) {
    assert(fileBytes === undefined || fileBytes.length % TIME_INDEX_ENTRY_BYTES === 0, 'time index bytes not a whole number of entries');
    this.baseOffset = baseOffset;
    this.entries = new EntryBuffer(TIME_INDEX_ENTRY_BYTES, fileBytes);
  }

  get length(): number {
    return this.entries.count;
  }

  timestampAt(i: number): number {
    return readInt64(this.entries.buf, i * TIME_INDEX_ENTRY_BYTES);
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.entries.buf.readInt32BE(i * TIME_INDEX_ENTRY_BYTES + 8);
  }

  last(): { timestampMs: number; offset: number } | undefined {
    const n = this.entries.count;
    return n === 0 ? undefined : { timestampMs: this.timestampAt(n - 1), offset: this.offsetAt(n - 1) };
  }

  /** Adds (timestamp, offset) when the timestamp is newer than the last entry's. */
  maybeAppend(timestampMs: number, offset: number): void {
    const last = this.last();
    if (last !== undefined && timestampMs <= last.timestampMs) return;
    if (last !== undefined) assert(offset >= last.offset, `time index offset ${offset} before ${last.offset}`);
    const rel = offset - this.baseOffset;
    assert(rel >= 0 && rel <= INT32_MAX, `time index offset ${offset} out of range for segment ${this.baseOffset}`);
    const at = this.entries.reserve();
    writeInt64(this.entries.buf, at, timestampMs);
    this.entries.buf.writeInt32BE(rel, at + 8);
  }

  /** Offset to start scanning from for the first batch with max timestamp >= `timestampMs`. */
  lookup(timestampMs: number): number {
    let lo = 0;
    let hi = this.entries.count - 1;
    let offset = this.baseOffset;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) <= timestampMs) {
        offset = this.offsetAt(mid);
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return offset;
  }

  truncateTo(offset: number): void {
    while (this.entries.count > 0 && this.offsetAt(this.entries.count - 1) >= offset) this.entries.count--;
  }

  bytes(): Buffer {
    return this.entries.bytes();
  }

  static problem(bytes: Buffer, baseOffset: number, nextOffset: number | undefined): string | null {
    if (bytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of ${TIME_INDEX_ENTRY_BYTES}`;
    let lastTs = -Infinity;
    let lastRel = -1;
    for (let at = 0; at < bytes.length; at += TIME_INDEX_ENTRY_BYTES) {
      const ts = readInt64(bytes, at);
      const rel = bytes.readInt32BE(at + 8);
      if (ts <= lastTs || rel < lastRel || rel < 0) return `entry ${at / TIME_INDEX_ENTRY_BYTES} (${ts}, ${rel}) not increasing`;
      if (nextOffset !== undefined && baseOffset + rel >= nextOffset) return `entry offset ${baseOffset + rel} beyond segment end ${nextOffset}`;
      lastTs = ts;
      lastRel = rel;
    }
    return null;
  }
}
