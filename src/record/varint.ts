// Zigzag varints as used inside Kafka records (protobuf encoding: 7 bits a byte, low group first).
// varint = zigzag int32 (at most 5 bytes); varlong = zigzag int64 (at most 10 bytes), read and written
// here as JavaScript numbers, so only |value| <= 2^53 - 1 is representable: a varlong outside that
// range is rejected rather than rounded.
import { assert, assertSafeInteger, AssertionError } from '../util/index.ts';
import { RecordErrorCode, RecordError, type RecordErrorCodeValue } from './errors.ts';

export const VARINT_MAX_BYTES = 5;
export const VARLONG_MAX_BYTES = 10;

const TWO_POW_27 = 134217728;
const TWO_POW_32 = 4294967296;
/** raw zigzag values at or above 2^54 decode outside the safe integer range. */
const VARLONG_HIGH_LIMIT = 67108864; // 2^26: bound on the bits above the low 28

/** Bytes needed to encode `value` (an int32) as a zigzag varint. */
export function varintSize(value: number): number {
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (raw >= 0x80) {
    raw >>>= 7;
    bytes++;
  }
  return bytes;
}

/** Writes `value` (an int32) as a zigzag varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  if ((value | 0) !== value) throw new AssertionError(`varint value ${value} is not an int32`);
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  while (raw >= 0x80) {
    buf[pos++] = (raw & 0x7f) | 0x80;
    raw >>>= 7;
  }
  buf[pos++] = raw;
  return pos;
}

/** Splits zigzag(value) of a safe integer into its low 32 and high bits without losing precision. */
function zigzag64(value: number): { lo: number; hi: number } {
  assertSafeInteger(value, 'varlong value');
  const negative = value < 0;
  const magnitude = negative ? -value - 1 : value; // zigzag(v) = 2 * magnitude + sign
  const magnitudeLo = magnitude >>> 0;
  const magnitudeHi = Math.floor(magnitude / TWO_POW_32);
  const lo = ((magnitudeLo << 1) | (negative ? 1 : 0)) >>> 0;
  const hi = magnitudeHi * 2 + (magnitudeLo >>> 31);
  return { lo, hi };
}

/** Bytes needed to encode the safe integer `value` as a zigzag varlong. */
export function varlongSize(value: number): number {
  if (value >= -64 && value < 64 && Number.isInteger(value)) return 1; // hot path: small deltas
  let { lo, hi } = zigzag64(value);
  let bytes = 1;
  while (hi !== 0 || lo >= 0x80) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    bytes++;
  }
  return bytes;
}

/** Writes the safe integer `value` as a zigzag varlong at `pos`; returns the position after it. */
export function writeVarlong(buf: Buffer, pos: number, value: number): number {
  if (value >= -64 && value < 64 && Number.isInteger(value)) {
    buf[pos] = value >= 0 ? value << 1 : (-value << 1) - 1;
    return pos + 1;
  }
  let { lo, hi } = zigzag64(value);
  while (hi !== 0 || lo >= 0x80) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/**
 * A bounds-checked cursor over buf[pos, end). Every read past `end`, every over-long varint and every
 * varlong beyond the safe integer range throws a RecordError with `errorCode` — never a RangeError.
 * One reader serves a whole batch, so walking records allocates nothing per field.
 */
export class ByteReader {
  buf: Buffer;
  pos: number;
  end: number;
  readonly errorCode: RecordErrorCodeValue;

  constructor(buf: Buffer, pos: number, end: number, errorCode: RecordErrorCodeValue = RecordErrorCode.INVALID_RECORD) {
    if (!(pos >= 0 && pos <= end && end <= buf.length)) throw new AssertionError(`reader range ${pos}..${end} outside buffer of ${buf.length}`);
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.errorCode = errorCode;
  }

  fail(message: string): RecordError {
    return new RecordError(this.errorCode, message);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  readInt8(): number {
    if (this.pos >= this.end) throw this.fail(`int8 at byte ${this.pos} is past the end (${this.end})`);
    const b = this.buf[this.pos++];
    return b > 127 ? b - 256 : b;
  }

  /** Reads a zigzag varint (int32). */
  readVarint(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos + 1 < end) {
      // Hot path: one- and two-byte varints (lengths below 8 KiB, offset deltas below 8192).
      const b0 = buf[pos];
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      const b1 = buf[pos + 1];
      if (b1 < 0x80) {
        const raw = (b0 & 0x7f) | (b1 << 7);
        this.pos = pos + 2;
        return (raw >>> 1) ^ -(raw & 1);
      }
    }
    let raw = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) throw this.fail(`varint at byte ${this.pos} runs past the end (${end})`);
      const b = buf[pos++];
      if (shift === 28 && b > 0x0f) throw this.fail(`varint at byte ${this.pos} does not fit in 32 bits`);
      raw |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return (raw >>> 1) ^ -(raw & 1);
      }
    }
    throw this.fail(`varint at byte ${this.pos} is longer than ${VARINT_MAX_BYTES} bytes`);
  }

  /** Reads a zigzag varlong (int64); values beyond ±(2^53 - 1) are rejected. */
  readVarlong(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos < end && buf[pos] < 0x80) {
      const b = buf[pos];
      this.pos = pos + 1;
      return b & 1 ? -((b >>> 1) + 1) : b >>> 1;
    }
    let low28 = 0; // bits 0..27, exact in int32 arithmetic
    let high = 0; // bits 28.., kept below 2^26 so the total stays below 2^54
    for (let i = 0; i < VARLONG_MAX_BYTES; i++) {
      if (pos >= end) throw this.fail(`varlong at byte ${this.pos} runs past the end (${end})`);
      const b = buf[pos++];
      if (i < 4) low28 |= (b & 0x7f) << (7 * i);
      else {
        high += (b & 0x7f) * 2 ** (7 * (i - 4));
        if (high >= VARLONG_HIGH_LIMIT) throw this.fail(`varlong at byte ${this.pos} is outside ±2^53`);
      }
      if (b < 0x80) {
        this.pos = pos;
        const magnitude = (low28 >>> 1) + high * TWO_POW_27;
        const value = low28 & 1 ? -magnitude - 1 : magnitude;
        if (!Number.isSafeInteger(value)) throw this.fail(`varlong at byte ${this.pos} is outside ±2^53`);
        return value;
      }
    }
    throw this.fail(`varlong at byte ${this.pos} is longer than ${VARLONG_MAX_BYTES} bytes`);
  }

  /** Advances over `length` bytes. */
  skip(length: number): void {
    if (length < 0 || length > this.end - this.pos) {
      throw this.fail(`${length} bytes at byte ${this.pos} run past the end (${this.end})`);
    }
    this.pos += length;
  }

  /** Returns a view (no copy) of the next `length` bytes. */
  readBytes(length: number): Buffer {
    const start = this.pos;
    this.skip(length);
    return this.buf.subarray(start, start + length);
  }

  readUtf8(length: number): string {
    const start = this.pos;
    this.skip(length);
    return this.buf.toString('utf8', start, start + length);
  }
}
