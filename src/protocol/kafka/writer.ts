// Writer: encodes Kafka primitives into a list of Buffers ready for socket.writev / cork+write.
// Small writes go into a current chunk (allocUnsafe, so small chunks come from Node's pool and
// nothing is zero-filled twice). When it is full the used part becomes a completed chunk and a
// bigger one is started — bytes are never copied a second time. Record data handed over as
// Buffer[] is appended as chunks of its own, without copying (Fetch responses carry megabytes).
//
// Zero-copy means the caller must not modify appended buffers until the chunks have been written.
import { ProtocolError } from './protocol-error.ts';

/** Default size of the first chunk. */
export const DEFAULT_INITIAL_CHUNK_BYTES = 256;
/** Chunks grow by doubling up to this size; bigger single writes get a chunk of their own size. */
export const MAX_CHUNK_BYTES = 1 << 20;
/** A single records Buffer smaller than this is copied (one syscall iovec less); larger ones are not. */
export const COPY_RECORDS_BELOW_BYTES = 512;

const TWO_POW_32 = 4294967296;
const INT64_MAX_AS_NUMBER = 2 ** 63; // 2^63-1 is not representable; anything ≥ 2^63 clamps.
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Record data accepted by the writers: one buffer, chunks emitted as they are, or null. */
export type RecordsData = Buffer | readonly Buffer[] | null;

export function encodeError(field: string, problem: string, cause?: unknown): ProtocolError {
  return new ProtocolError(`cannot encode ${field}: ${problem}`, { code: 'PROTOCOL_ENCODE', cause });
}

/** Bytes an unsigned varint takes. */
export function uvarintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

export class Writer {
  private readonly chunks: Buffer[] = [];
  private completedBytes = 0;
  private buf: Buffer;
  /** Start of the part of `buf` not yet moved to `chunks`. */
  private start = 0;
  private pos = 0;

  constructor(initialChunkBytes = DEFAULT_INITIAL_CHUNK_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialChunkBytes));
  }

  /** Total bytes written so far. */
  get byteLength(): number {
    return this.completedBytes + this.pos - this.start;
  }

  private completeCurrent(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.completedBytes += this.pos - this.start;
      this.start = this.pos;
    }
  }

  /** Makes room for `bytes` contiguous bytes in the current chunk and returns their offset. */
  private reserve(bytes: number): number {
    const p = this.pos;
    if (p + bytes <= this.buf.length) {
      this.pos = p + bytes;
      return p;
    }
    this.completeCurrent();
    const size = Math.max(bytes, Math.min(this.buf.length * 2, MAX_CHUNK_BYTES));
    this.buf = Buffer.allocUnsafe(size);
    this.start = 0;
    this.pos = bytes;
    return 0;
  }

  int8(value: number): void {
    const p = this.reserve(1);
    this.buf.writeInt8(value, p);
  }

  uint8(value: number): void {
    const p = this.reserve(1);
    this.buf.writeUInt8(value, p);
  }

  bool(value: boolean): void {
    const p = this.reserve(1);
    this.buf[p] = value ? 1 : 0;
  }

  int16(value: number): void {
    const p = this.reserve(2);
    this.buf.writeInt16BE(value, p);
  }

  uint16(value: number): void {
    const p = this.reserve(2);
    this.buf.writeUInt16BE(value, p);
  }

  int32(value: number): void {
    const p = this.reserve(4);
    this.buf.writeInt32BE(value, p);
  }

  uint32(value: number): void {
    const p = this.reserve(4);
    this.buf.writeUInt32BE(value, p);
  }

  /**
   * Signed int64 from a number. Exact for safe integers. Never throws for out-of-range values:
   * fractions are floored, values ≥ 2^63 write int64 max, values < -2^63 write int64 min, and
   * NaN writes 0.
   */
  int64(value: number): void {
    const p = this.reserve(8);
    let v = value;
    if (!(v === v)) v = 0;
    let hi: number;
    let lo: number;
    if (v >= INT64_MAX_AS_NUMBER) {
      hi = 0x7fffffff;
      lo = 0xffffffff;
    } else if (v < -INT64_MAX_AS_NUMBER) {
      hi = -0x80000000;
      lo = 0;
    } else {
      hi = Math.floor(v / TWO_POW_32);
      lo = Math.floor(v - hi * TWO_POW_32) >>> 0;
    }
    this.buf.writeInt32BE(hi | 0, p);
    this.buf.writeUInt32BE(lo, p + 4);
  }

  float64(value: number): void {
    const p = this.reserve(8);
    this.buf.writeDoubleBE(value, p);
  }

  /** A UUID given as 8-4-4-4-12 hex (either case). */
  uuid(value: string, field = 'uuid'): void {
    if (!UUID_RE.test(value)) throw encodeError(field, `"${value}" is not a UUID in 8-4-4-4-12 hex form`);
    const p = this.reserve(16);
    const b = this.buf;
    b.write(value.slice(0, 8), p, 'hex');
    b.write(value.slice(9, 13), p + 4, 'hex');
    b.write(value.slice(14, 18), p + 6, 'hex');
    b.write(value.slice(19, 23), p + 8, 'hex');
    b.write(value.slice(24, 36), p + 10, 'hex');
  }

  /** Unsigned varint (0 .. 2^32-1). */
  uvarint(value: number): void {
    let v = value >>> 0;
    const p = this.reserve(uvarintBytes(v));
    const b = this.buf;
    let i = p;
    while (v >= 0x80) {
      b[i++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[i] = v;
  }

  /** Zig-zag signed varint (int32). */
  varint(value: number): void {
    this.uvarint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  /** Unsigned varlong of the 64-bit value hi:lo (two uint32 halves). */
  private uvarlong64(hiIn: number, loIn: number): void {
    let hi = hiIn >>> 0;
    let lo = loIn >>> 0;
    while (hi !== 0 || lo >= 0x80) {
      const p = this.reserve(1);
      this.buf[p] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    const p = this.reserve(1);
    this.buf[p] = lo;
  }

  /** Unsigned varlong from a non-negative integer (exact up to 2^53). */
  uvarlong(value: number): void {
    const hi = Math.floor(value / TWO_POW_32);
    this.uvarlong64(hi, value - hi * TWO_POW_32);
  }

  /** Zig-zag signed varlong (int64) from an integer; exact for every safe integer. */
  varlong(value: number): void {
    const hi = Math.floor(value / TWO_POW_32) | 0;
    const lo = (value - Math.floor(value / TWO_POW_32) * TWO_POW_32) >>> 0;
    // zigzag: (v << 1) ^ (v >> 63), computed on the two halves.
    const sign = hi >> 31;
    const zHi = ((hi << 1) | (lo >>> 31)) ^ sign;
    const zLo = (lo << 1) ^ sign;
    this.uvarlong64(zHi, zLo);
  }

  // --- lengths -------------------------------------------------------------------------------

  arrayLength(count: number): void {
    this.int32(count);
  }

  /** Compact array count: N+1, or 0 for null (pass -1). */
  compactArrayLength(count: number): void {
    this.uvarint(count + 1);
  }

  // --- strings -------------------------------------------------------------------------------

  private utf8(value: string, length: number): void {
    const p = this.reserve(length);
    if (length > 0) this.buf.write(value, p, length, 'utf8');
  }

  string(value: string, field = 'string'): void {
    const length = Buffer.byteLength(value, 'utf8');
    if (length > 0x7fff) throw encodeError(field, `string of ${length} bytes exceeds the int16 limit of 32767`);
    this.int16(length);
    this.utf8(value, length);
  }

  nullableString(value: string | null, field = 'string'): void {
    if (value === null) this.int16(-1);
    else this.string(value, field);
  }

  compactString(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.uvarint(length + 1);
    this.utf8(value, length);
  }

  compactNullableString(value: string | null): void {
    if (value === null) this.uvarint(0);
    else this.compactString(value);
  }

  // --- bytes ---------------------------------------------------------------------------------

  /** Copies `data` into the output. */
  raw(data: Uint8Array): void {
    if (data.length === 0) return;
    const p = this.reserve(data.length);
    this.buf.set(data, p);
  }

  /** Appends buffers as chunks of their own, without copying. */
  appendChunks(chunks: readonly Buffer[]): void {
    this.completeCurrent();
    for (const c of chunks) {
      if (c.length === 0) continue;
      this.chunks.push(c);
      this.completedBytes += c.length;
    }
  }

  /** Appends everything written to `other` (which must not be used afterwards), without copying. */
  appendWriter(other: Writer): void {
    this.appendChunks(other.toChunks());
  }

  bytes(value: Uint8Array): void {
    this.int32(value.length);
    this.raw(value);
  }

  nullableBytes(value: Uint8Array | null): void {
    if (value === null) this.int32(-1);
    else this.bytes(value);
  }

  compactBytes(value: Uint8Array): void {
    this.uvarint(value.length + 1);
    this.raw(value);
  }

  compactNullableBytes(value: Uint8Array | null): void {
    if (value === null) this.uvarint(0);
    else this.compactBytes(value);
  }

  /** Record data without its length: Buffer[] chunks are never copied, a single large Buffer neither. */
  private recordsData(value: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(value)) {
      if (value.length < COPY_RECORDS_BELOW_BYTES) this.raw(value);
      else this.appendChunks([value]);
    } else {
      this.appendChunks(value);
    }
  }

  /** RECORDS: int32 length (-1 = null) and the data. */
  records(value: RecordsData, field = 'records', nullable = true): void {
    if (value === null) {
      if (!nullable) throw encodeError(field, 'null is not allowed in this version');
      this.int32(-1);
      return;
    }
    const length = recordsByteLength(value);
    if (length > 0x7fffffff) throw encodeError(field, `${length} bytes of records exceed the int32 limit`);
    this.int32(length);
    this.recordsData(value);
  }

  /** COMPACT_RECORDS: unsigned varint length+1 (0 = null) and the data. */
  compactRecords(value: RecordsData, field = 'records', nullable = true): void {
    if (value === null) {
      if (!nullable) throw encodeError(field, 'null is not allowed in this version');
      this.uvarint(0);
      return;
    }
    const length = recordsByteLength(value);
    if (length >= 0xffffffff) throw encodeError(field, `${length} bytes of records exceed the varint limit`);
    this.uvarint(length + 1);
    this.recordsData(value);
  }

  // --- patching and output -------------------------------------------------------------------

  /** Reserves 4 bytes (e.g. a size prefix) and returns their absolute position for patchInt32. */
  reserveInt32(): number {
    const position = this.byteLength;
    const p = this.reserve(4);
    this.buf.fill(0, p, p + 4);
    return position;
  }

  /** Writes an int32 at an absolute position returned by reserveInt32. */
  patchInt32(position: number, value: number): void {
    let base = 0;
    for (const c of this.chunks) {
      if (position < base + c.length) {
        c.writeInt32BE(value, position - base);
        return;
      }
      base += c.length;
    }
    this.buf.writeInt32BE(value, this.start + position - base);
  }

  /** The encoded bytes as chunks. Finishes the writer: call once, after the last write. */
  toChunks(): Buffer[] {
    this.completeCurrent();
    return this.chunks;
  }

  /** The encoded bytes as one Buffer (copies when there is more than one chunk). */
  toBuffer(): Buffer {
    const chunks = this.toChunks();
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.completedBytes);
  }
}

export function recordsByteLength(value: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(value)) return value.length;
  let total = 0;
  for (const c of value) total += c.length;
  return total;
}
