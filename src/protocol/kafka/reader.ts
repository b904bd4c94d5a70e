// Reader: a cursor over one Buffer that decodes Kafka's primitive types. Every read checks the
// remaining bytes first and every length or count is bounded before anything is allocated, so
// hostile input can only produce a ProtocolError naming the field — never a RangeError, a
// TypeError or a huge allocation.
//
// int64 is read as a JavaScript number: hi * 2^32 + lo. It is exact for |v| < 2^53; larger
// magnitudes round to the nearest double (never throw). Int64 max (2^63-1) therefore reads as
// 2^63, which Writer.int64 clamps back to 2^63-1, so the common sentinel survives a round trip.
import { ProtocolError } from './protocol-error.ts';

/** Default cap on any array count read from the wire (in addition to the remaining-bytes bound). */
export const DEFAULT_MAX_ARRAY_LENGTH = 1_000_000;

export interface ReaderOptions {
  /**
   * Largest array count accepted, whatever the frame size.
   * @default DEFAULT_MAX_ARRAY_LENGTH (1,000,000)
   */
  maxArrayLength?: number;
}

const TWO_POW_32 = 4294967296;

export class Reader {
  readonly buf: Buffer;
  /** Absolute offset of the next byte to read. */
  pos: number;
  /** Absolute offset one past the last readable byte. */
  readonly end: number;
  readonly maxArrayLength: number;
  /** Result of the last uvarlong64: high and low uint32 halves. */
  private lastHi = 0;
  private lastLo = 0;

  constructor(buf: Buffer, start = 0, end = buf.length, options: ReaderOptions = {}) {
    if (!(start >= 0 && start <= end && end <= buf.length)) {
      throw new RangeError(`Reader range ${start}..${end} is outside a buffer of ${buf.length} bytes`);
    }
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.maxArrayLength = options.maxArrayLength ?? DEFAULT_MAX_ARRAY_LENGTH;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** The error for malformed input at `field`; the message names the field and the offset. */
  error(field: string, problem: string): ProtocolError {
    return new ProtocolError(`cannot decode ${field} at byte ${this.pos}: ${problem}`);
  }

  private need(bytes: number, field: string): number {
    const p = this.pos;
    if (bytes > this.end - p) {
      throw this.error(field, `needs ${bytes} bytes, only ${this.end - p} remain`);
    }
    this.pos = p + bytes;
    return p;
  }

  skip(bytes: number, field: string): void {
    if (!(bytes >= 0)) throw this.error(field, `cannot skip ${bytes} bytes`);
    this.need(bytes, field);
  }

  int8(field: string): number {
    const p = this.need(1, field);
    return (this.buf[p] << 24) >> 24;
  }

  uint8(field: string): number {
    return this.buf[this.need(1, field)];
  }

  bool(field: string): boolean {
    return this.buf[this.need(1, field)] !== 0;
  }

  int16(field: string): number {
    const p = this.need(2, field);
    const b = this.buf;
    return (((b[p] << 8) | b[p + 1]) << 16) >> 16;
  }

  uint16(field: string): number {
    const p = this.need(2, field);
    const b = this.buf;
    return (b[p] << 8) | b[p + 1];
  }

  int32(field: string): number {
    const p = this.need(4, field);
    const b = this.buf;
    return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  }

  uint32(field: string): number {
    return this.int32(field) >>> 0;
  }

  /** Signed int64 as a number; exact below 2^53, rounded (never an error) above. */
  int64(field: string): number {
    const p = this.need(8, field);
    const b = this.buf;
    const hi = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
    const lo = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0;
    return hi * TWO_POW_32 + lo;
  }

  float64(field: string): number {
    return this.buf.readDoubleBE(this.need(8, field));
  }

  /** A UUID as canonical lower-case 8-4-4-4-12 hex. */
  uuid(field: string): string {
    const p = this.need(16, field);
    const h = this.buf.toString('hex', p, p + 16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** Unsigned LEB128 varint of at most 5 bytes (a uint32). */
  uvarint(field: string): number {
    // Fast path: lengths and tag counts are almost always a single byte.
    const p = this.pos;
    if (p < this.end) {
      const first = this.buf[p];
      if (first < 0x80) {
        this.pos = p + 1;
        return first;
      }
    }
    return this.uvarintSlow(field);
  }

  private uvarintSlow(field: string): number {
    const b = this.buf;
    const end = this.end;
    let p = this.pos;
    let value = 0;
    // The first four bytes carry 28 bits: int32 shifts are exact.
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= end) throw this.error(field, 'varint runs past the end of the data');
      const byte = b[p++];
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = p;
        return value;
      }
    }
    if (p >= end) throw this.error(field, 'varint runs past the end of the data');
    const last = b[p++];
    if (last > 0x0f) throw this.error(field, last >= 0x80 ? 'varint longer than 5 bytes' : 'varint does not fit in 32 bits');
    this.pos = p;
    return value + last * 268435456; // 2^28
  }

  /** Zig-zag signed varint (int32). */
  varint(field: string): number {
    const u = this.uvarint(field);
    return (u >>> 1) ^ -(u & 1);
  }

  /** Unsigned varlong of at most 10 bytes into the two uint32 halves `lastHi`:`lastLo`. */
  private uvarlong64(field: string): void {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (p >= this.end) throw this.error(field, 'varlong runs past the end of the data');
      const byte = b[p++];
      const bits = byte & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else {
        if (shift === 63 && bits > 1) throw this.error(field, 'varlong does not fit in 64 bits');
        hi |= bits << (shift - 32);
      }
      if (byte < 0x80) {
        this.pos = p;
        this.lastHi = hi >>> 0;
        this.lastLo = lo >>> 0;
        return;
      }
    }
    throw this.error(field, 'varlong longer than 10 bytes');
  }

  /** Unsigned varlong as a number (exact below 2^53). */
  uvarlong(field: string): number {
    this.uvarlong64(field);
    return this.lastHi * TWO_POW_32 + this.lastLo;
  }

  /** Zig-zag signed varlong (int64) as a number; exact for every safe integer. */
  varlong(field: string): number {
    this.uvarlong64(field);
    const hi = this.lastHi;
    const lo = this.lastLo;
    // unzigzag: (u >>> 1) ^ -(u & 1) on the two halves.
    const mask = -(lo & 1);
    const vHi = (hi >>> 1) ^ mask;
    const vLo = ((lo >>> 1) | ((hi & 1) << 31)) ^ mask;
    return vHi * TWO_POW_32 + (vLo >>> 0);
  }

  // --- lengths -------------------------------------------------------------------------------

  /** A classic length (int16 or int32 already read): -1 is null when allowed, other negatives fail. */
  private checkLength(length: number, nullable: boolean, field: string): number {
    if (length < 0) {
      if (length === -1 && nullable) return -1;
      throw this.error(field, length === -1 ? 'null is not allowed here' : `negative length ${length}`);
    }
    if (length > this.end - this.pos) {
      throw this.error(field, `length ${length} exceeds the ${this.end - this.pos} remaining bytes`);
    }
    return length;
  }

  /** Compact length: unsigned varint N, N = 0 means null, else length N - 1. */
  private compactLength(nullable: boolean, field: string): number {
    const n = this.uvarint(field);
    if (n === 0) {
      if (nullable) return -1;
      throw this.error(field, 'null is not allowed here');
    }
    const length = n - 1;
    if (length > this.end - this.pos) {
      throw this.error(field, `length ${length} exceeds the ${this.end - this.pos} remaining bytes`);
    }
    return length;
  }

  /**
   * Bounds an array count: at most `maxArrayLength`, and each element needs at least
   * `minElementBytes` of the remaining data (0 for elements that can be empty).
   */
  private checkCount(count: number, minElementBytes: number, field: string): number {
    if (count > this.maxArrayLength) {
      throw this.error(field, `array of ${count} elements exceeds the limit of ${this.maxArrayLength}`);
    }
    if (minElementBytes > 0 && count * minElementBytes > this.end - this.pos) {
      throw this.error(
        field,
        `array of ${count} elements needs at least ${count * minElementBytes} bytes, only ${this.end - this.pos} remain`,
      );
    }
    return count;
  }

  /** int32 array count; returns -1 for null (only when `nullable`). */
  arrayLength(field: string, minElementBytes: number, nullable: boolean): number {
    const count = this.int32(field);
    if (count < 0) {
      if (count === -1 && nullable) return -1;
      throw this.error(field, count === -1 ? 'null array is not allowed here' : `negative array length ${count}`);
    }
    return this.checkCount(count, minElementBytes, field);
  }

  /** Compact array count (unsigned varint N+1); returns -1 for null (only when `nullable`). */
  compactArrayLength(field: string, minElementBytes: number, nullable: boolean): number {
    const n = this.uvarint(field);
    if (n === 0) {
      if (nullable) return -1;
      throw this.error(field, 'null array is not allowed here');
    }
    return this.checkCount(n - 1, minElementBytes, field);
  }

  // --- strings -------------------------------------------------------------------------------

  private utf8(length: number): string {
    const p = this.pos;
    this.pos = p + length;
    return this.buf.toString('utf8', p, p + length);
  }

  string(field: string): string {
    return this.utf8(this.checkLength(this.int16(field), false, field));
  }

  nullableString(field: string): string | null {
    const length = this.checkLength(this.int16(field), true, field);
    return length < 0 ? null : this.utf8(length);
  }

  compactString(field: string): string {
    return this.utf8(this.compactLength(false, field));
  }

  compactNullableString(field: string): string | null {
    const length = this.compactLength(true, field);
    return length < 0 ? null : this.utf8(length);
  }

  // --- bytes ---------------------------------------------------------------------------------

  /** `length` bytes: a copy, or with `zeroCopy` a slice sharing memory with the input. */
  private take(length: number, zeroCopy: boolean): Buffer {
    const p = this.pos;
    this.pos = p + length;
    const slice = this.buf.subarray(p, p + length);
    return zeroCopy ? slice : Buffer.from(slice);
  }

  bytes(field: string, zeroCopy = false): Buffer {
    return this.take(this.checkLength(this.int32(field), false, field), zeroCopy);
  }

  nullableBytes(field: string, zeroCopy = false): Buffer | null {
    const length = this.checkLength(this.int32(field), true, field);
    return length < 0 ? null : this.take(length, zeroCopy);
  }

  compactBytes(field: string, zeroCopy = false): Buffer {
    return this.take(this.compactLength(false, field), zeroCopy);
  }

  compactNullableBytes(field: string, zeroCopy = false): Buffer | null {
    const length = this.compactLength(true, field);
    return length < 0 ? null : this.take(length, zeroCopy);
  }

  /** RECORDS (int32 length, -1 = null): a zero-copy slice of the input. */
  records(field: string, nullable = true): Buffer | null {
    const length = this.checkLength(this.int32(field), nullable, field);
    return length < 0 ? null : this.take(length, true);
  }

  /** COMPACT_RECORDS (unsigned varint length+1, 0 = null): a zero-copy slice of the input. */
  compactRecords(field: string, nullable = true): Buffer | null {
    const length = this.compactLength(nullable, field);
    return length < 0 ? null : this.take(length, true);
  }

  // --- tagged fields -------------------------------------------------------------------------

  /** Size of one tagged field's value, bounded by the remaining bytes. */
  taggedFieldSize(field: string): number {
    const size = this.uvarint(field);
    if (size > this.end - this.pos) {
      throw this.error(field, `tagged field of ${size} bytes exceeds the ${this.end - this.pos} remaining bytes`);
    }
    return size;
  }

  /** Reads and discards a whole tagged-field section (for structures whose tags we do not parse). */
  skipTaggedFields(field: string): void {
    const count = this.uvarint(field);
    if (count === 0) return;
    for (let i = 0; i < count; i++) {
      this.uvarint(field);
      const size = this.taggedFieldSize(field);
      this.pos += size;
    }
  }

  /** After parsing a known tagged field: it must have used exactly its declared size. */
  endTaggedField(field: string, expectedEnd: number): void {
    if (this.pos !== expectedEnd) {
      throw this.error(field, `tagged field value ends at byte ${this.pos}, its declared size ends at byte ${expectedEnd}`);
    }
  }
}
