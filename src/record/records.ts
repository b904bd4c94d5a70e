// Records inside a RecordBatch v2 (Kafka DefaultRecord), and whole-batch decoding:
//   Length varint | Attributes int8 | TimestampDelta varlong | OffsetDelta varint |
//   KeyLength varint (-1 = null) | Key | ValueLength varint (-1 = null) | Value |
//   HeadersCount varint | [HeaderKeyLength varint | HeaderKey utf8 | HeaderValueLength varint (-1 = null) | HeaderValue]
// Record-level damage inside a batch whose CRC is good is a producer bug, not transit damage, so it is
// INVALID_RECORD (as Kafka's DefaultRecord/InvalidRecordException); framing and codec damage is
// CORRUPT_MESSAGE.
import { assert } from '../util/index.ts';
import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD,
  OFFSET_LENGTH,
  OFFSET_MAGIC,
  type BatchHeader,
  readBatchHeader,
  verifyBatchCrc,
  compressionOf,
  ATTR_TIMESTAMP_LOG_APPEND,
} from './batch-header.ts';
import { decompress, decompressAsync } from './codecs.ts';
import { RecordError, RecordErrorCode, corrupt, invalidRecord } from './errors.ts';
import { ByteReader } from './varint.ts';

export const CURRENT_MAGIC = 2;
/** The smallest possible record: six one-byte fields after a one-byte length. */
export const MIN_RECORD_BYTES = 7;
/** Default bound on a batch's decompressed records when the caller gives none. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** One record. `key`, `value` and header values are views into the batch (or its decompressed records). */
export interface KafkaRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  header: BatchHeader;
  records: KafkaRecord[];
}

export interface DecodeOptions {
  /** Bound on the decompressed records of one batch. @default 64 MiB */
  maxDecompressedBytes?: number;
  /** Check the CRC-32C before trusting anything after the header. @default true */
  verifyCrc?: boolean;
  /**
   * Keys, values and header values are copies, not views of the batch's buffer: for callers that
   * reuse that memory once the batch is decoded. (Records of a compressed batch are views of the
   * decompressed bytes, which nothing else holds, so they are never copied.) @default false
   */
  copyBytes?: boolean;
}

/**
 * Checks the framing of the batch at `pos` (enough bytes for a header, a Length that fits `buf`, magic 2,
 * optionally the CRC) and returns its header and total size. Throws RecordError only.
 */
export function checkBatchFrame(buf: Buffer, pos: number, verifyCrc: boolean): { header: BatchHeader; size: number } {
  if (!Number.isSafeInteger(pos) || pos < 0 || buf.length - pos < BATCH_HEADER_BYTES) {
    throw corrupt(`record batch at byte ${pos} needs ${BATCH_HEADER_BYTES} header bytes, ${Math.max(0, buf.length - pos)} available`);
  }
  const size = BATCH_LOG_OVERHEAD + buf.readInt32BE(pos + OFFSET_LENGTH);
  if (size < BATCH_HEADER_BYTES || size > buf.length - pos) {
    throw corrupt(`record batch at byte ${pos} declares ${size} bytes, ${buf.length - pos} available`);
  }
  const magic = buf.readInt8(pos + OFFSET_MAGIC);
  if (magic !== CURRENT_MAGIC) {
    throw new RecordError(RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `record batch at byte ${pos} has magic ${magic}, only 2 is supported`);
  }
  if (verifyCrc && !verifyBatchCrc(buf, pos, size)) {
    throw corrupt(`record batch at byte ${pos} fails its CRC-32C check`);
  }
  return { header: readBatchHeader(buf, pos), size };
}

/**
 * Builds the caller's object for one record straight from its fields, so that a reader wanting its
 * own shape (the consumer's messages) makes one object per record instead of two.
 */
export type RecordFactory<T> = (offset: number, timestamp: number, key: Buffer | null, value: Buffer | null, headers: RecordHeader[]) => T;

const makeKafkaRecord: RecordFactory<KafkaRecord> = (offset, timestamp, key, value, headers) => ({ offset, timestamp, key, value, headers });

/** Reads one record, materialising key, value and headers. */
function readRecord<T>(reader: ByteReader, header: BatchHeader, index: number, logAppendTime: boolean, copy: boolean, make: RecordFactory<T>): T {
  const length = reader.readVarint();
  if (length < MIN_RECORD_BYTES - 1 || length > reader.remaining()) {
    throw invalidRecord(`record ${index} declares ${length} bytes, ${reader.remaining()} remain in the batch`);
  }
  const recordEnd = reader.pos + length;
  const batchEnd = reader.end;
  reader.end = recordEnd;
  reader.readInt8(); // attributes: unused
  const timestampDelta = reader.readVarlong();
  const offsetDelta = reader.readVarint();
  const key = readNullableBytes(reader, index, 'key', copy);
  const value = readNullableBytes(reader, index, 'value', copy);
  const headers = readHeaders(reader, index, copy);
  if (reader.pos !== recordEnd) throw invalidRecord(`record ${index} has ${recordEnd - reader.pos} bytes after its last header`);
  reader.end = batchEnd;
  const timestamp = logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta;
  if (!Number.isSafeInteger(timestamp)) throw invalidRecord(`record ${index} timestamp ${timestamp} is out of range`);
  return make(header.baseOffset + offsetDelta, timestamp, key, value, headers);
}

function readNullableBytes(reader: ByteReader, index: number, what: string, copy: boolean): Buffer | null {
  const length = reader.readVarint();
  if (length === -1) return null;
  if (length < -1) throw invalidRecord(`record ${index} ${what} length ${length} is negative`);
  if (!copy) return reader.readBytes(length);
  // Out of Node's shared pool for small values, as Buffer.from would (arenas of our own were no
  // faster in a decode loop timed by hand, docs/performance.md), copied straight from the batch:
  // a view made only to copy from added ~9 ns a field (a one-off microbenchmark, not in the repo).
  const start = reader.pos;
  reader.skip(length);
  const out = Buffer.allocUnsafe(length);
  reader.buf.copy(out, 0, start, start + length);
  return out;
}

function readHeaders(reader: ByteReader, index: number, copy: boolean): RecordHeader[] {
  const count = reader.readVarint();
  // Each header takes at least two bytes, which bounds the array before it is built.
  if (count < 0 || count * 2 > reader.remaining()) {
    throw invalidRecord(`record ${index} declares ${count} headers in ${reader.remaining()} bytes`);
  }
  const headers: RecordHeader[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const keyLength = reader.readVarint();
    if (keyLength < 0) throw invalidRecord(`record ${index} header ${i} key length ${keyLength} is negative`);
    const key = reader.readUtf8(keyLength);
    headers[i] = { key, value: readNullableBytes(reader, index, `header ${i} value`, copy) };
  }
  return headers;
}

/** Decodes `recordsCount` records from records[start, end), which must be consumed exactly. */
function decodeRecords<T>(header: BatchHeader, records: Buffer, start: number, copy: boolean, make: RecordFactory<T>): T[] {
  const count = header.recordsCount;
  const available = records.length - start;
  if (count < 0 || count * MIN_RECORD_BYTES > available) {
    throw invalidRecord(`batch declares ${count} records but only ${available} bytes of records`);
  }
  const reader = new ByteReader(records, start, records.length, RecordErrorCode.INVALID_RECORD);
  const logAppendTime = (header.attributes & ATTR_TIMESTAMP_LOG_APPEND) !== 0;
  const out: T[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = readRecord(reader, header, i, logAppendTime, copy, make);
  if (reader.pos !== records.length) {
    throw invalidRecord(`batch has ${records.length - reader.pos} bytes after its ${count} records`);
  }
  return out;
}

function resolveOptions(options: DecodeOptions | undefined): { maxDecompressedBytes: number; verifyCrc: boolean; copyBytes: boolean } {
  const maxDecompressedBytes = options?.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  assert(Number.isSafeInteger(maxDecompressedBytes) && maxDecompressedBytes >= 0, `maxDecompressedBytes ${maxDecompressedBytes} must be >= 0`);
  return { maxDecompressedBytes, verifyCrc: options?.verifyCrc ?? true, copyBytes: options?.copyBytes ?? false };
}

/**
 * Decodes the batch at `pos`: header, CRC, decompression (bounded), every record. For LogAppendTime
 * batches every record's timestamp is the batch's maxTimestamp. Throws RecordError only.
 */
export function decodeBatch(buf: Buffer, pos = 0, options?: DecodeOptions): DecodedBatch {
  return decodeBatchWith(buf, pos, options, makeKafkaRecord);
}

/** `decodeBatch` with each record built by `make` (see RecordFactory). */
export function decodeBatchWith<T>(buf: Buffer, pos: number, options: DecodeOptions | undefined, make: RecordFactory<T>): { header: BatchHeader; records: T[] } {
  const { maxDecompressedBytes, verifyCrc, copyBytes } = resolveOptions(options);
  const { header, size } = checkBatchFrame(buf, pos, verifyCrc);
  const payload = buf.subarray(pos + BATCH_HEADER_BYTES, pos + size);
  const codec = compressionOf(header.attributes);
  const records = codec === 0 || payload.length === 0 ? payload : decompress(codec, payload, maxDecompressedBytes);
  return { header, records: decodeRecords(header, records, 0, copyBytes && records === payload, make) };
}

/** `decodeBatch` with decompression on the thread pool. */
export async function decodeBatchAsync(buf: Buffer, pos = 0, options?: DecodeOptions): Promise<DecodedBatch> {
  const { maxDecompressedBytes, verifyCrc, copyBytes } = resolveOptions(options);
  const { header, size } = checkBatchFrame(buf, pos, verifyCrc);
  const payload = buf.subarray(pos + BATCH_HEADER_BYTES, pos + size);
  const codec = compressionOf(header.attributes);
  const records = codec === 0 || payload.length === 0 ? payload : await decompressAsync(codec, payload, maxDecompressedBytes);
  return { header, records: decodeRecords(header, records, 0, copyBytes && records === payload, makeKafkaRecord) };
}

/**
 * The complete batches of `buf`, in order, framing checked (and the CRC with `verifyCrc`), each
 * when it is reached. A trailing partial batch — fewer bytes than its header or its Length
 * declares, as Fetch responses may end — is left out; a complete but malformed one throws.
 */
export function* completeBatches(buf: Buffer, verifyCrc: boolean): Generator<{ header: BatchHeader; pos: number; size: number }> {
  let pos = 0;
  while (buf.length - pos >= BATCH_LOG_OVERHEAD) {
    const size = BATCH_LOG_OVERHEAD + buf.readInt32BE(pos + OFFSET_LENGTH);
    if (size < BATCH_HEADER_BYTES) throw corrupt(`record batch at byte ${pos} declares ${size} bytes, less than a header`);
    if (size > buf.length - pos) return;
    const { header } = checkBatchFrame(buf, pos, verifyCrc);
    yield { header, pos, size };
    pos += size;
  }
}

/** Decodes consecutive batches (see completeBatches for a trailing partial one). */
export function decodeBatches(buf: Buffer, options?: DecodeOptions): DecodedBatch[] {
  const { maxDecompressedBytes, verifyCrc } = resolveOptions(options);
  const out: DecodedBatch[] = [];
  for (const { pos } of completeBatches(buf, verifyCrc)) out.push(decodeBatch(buf, pos, { maxDecompressedBytes, verifyCrc: false }));
  return out;
}

export const ControlRecordType = { abort: 0, commit: 1 } as const;

export interface ControlRecord {
  type: 'abort' | 'commit' | 'unknown';
  /** The control record key's type field (0 abort, 1 commit). */
  typeId: number;
  /** From the EndTransactionMarker value; -1 when the value is absent. */
  coordinatorEpoch: number;
}

/**
 * Parses a control record: key = version int16 | type int16; value (transaction markers) =
 * version int16 | coordinatorEpoch int32. Throws INVALID_RECORD when too short.
 */
export function decodeControlRecord(record: KafkaRecord): ControlRecord {
  const key = record.key;
  if (key === null || key.length < 4) throw invalidRecord(`control record key must be at least 4 bytes, got ${key?.length ?? 'null'}`);
  const typeId = key.readInt16BE(2);
  const type = typeId === ControlRecordType.abort ? 'abort' : typeId === ControlRecordType.commit ? 'commit' : 'unknown';
  const value = record.value;
  const coordinatorEpoch = value !== null && value.length >= 6 ? value.readInt32BE(2) : -1;
  return { type, typeId, coordinatorEpoch };
}

function skipNullableBytes(reader: ByteReader, index: number): void {
  const length = reader.readVarint();
  if (length < -1) throw invalidRecord(`record ${index} has negative length ${length}`);
  if (length > 0) reader.skip(length);
}

/** The record timestamps a batch may carry: Kafka's message.timestamp.*.max.ms around the broker's time. */
export interface TimestampBounds {
  min: number;
  max: number;
}

/**
 * Checks the framing of `count` records in records[start, end) without materialising keys, values or
 * headers: each record's Length covers exactly its fields, offsetDelta equals the record's index, the
 * count is exact and nothing trails. One reader, no per-record allocation. Throws INVALID_RECORD, or
 * INVALID_TIMESTAMP (with the record's index) for a timestamp (baseTimestamp + delta) outside `bounds`.
 */
export function walkRecords(records: Buffer, start: number, end: number, count: number, baseTimestamp = 0, bounds?: TimestampBounds): void {
  // Bounds on each record's timestamp delta; none unless asked (always true comparisons).
  const minDelta = bounds === undefined ? -Infinity : bounds.min - baseTimestamp;
  const maxDelta = bounds === undefined ? Infinity : bounds.max - baseTimestamp;
  if (count < 0 || count * MIN_RECORD_BYTES > end - start) {
    throw invalidRecord(`batch declares ${count} records but only ${end - start} bytes of records`);
  }
  const reader = new ByteReader(records, start, end, RecordErrorCode.INVALID_RECORD);
  for (let i = 0; i < count; i++) {
    const length = reader.readVarint();
    if (length < MIN_RECORD_BYTES - 1 || length > end - reader.pos) {
      throw invalidRecord(`record ${i} declares ${length} bytes, ${end - reader.pos} remain in the batch`);
    }
    const recordEnd = reader.pos + length;
    reader.end = recordEnd;
    reader.skip(1); // attributes
    const timestampDelta = reader.readVarlong();
    if (timestampDelta < minDelta || timestampDelta > maxDelta) {
      const b = bounds as TimestampBounds;
      throw new RecordError(RecordErrorCode.INVALID_TIMESTAMP, `record ${i} has timestamp ${baseTimestamp + timestampDelta}, outside [${b.min}, ${b.max}]`, undefined, i);
    }
    const offsetDelta = reader.readVarint();
    if (offsetDelta !== i) throw invalidRecord(`record ${i} has offset delta ${offsetDelta}, expected ${i}`);
    skipNullableBytes(reader, i); // key
    skipNullableBytes(reader, i); // value
    const headerCount = reader.readVarint();
    if (headerCount < 0 || headerCount * 2 > recordEnd - reader.pos) {
      throw invalidRecord(`record ${i} declares ${headerCount} headers in ${recordEnd - reader.pos} bytes`);
    }
    for (let h = 0; h < headerCount; h++) {
      const keyLength = reader.readVarint();
      if (keyLength < 0) throw invalidRecord(`record ${i} header ${h} key length ${keyLength} is negative`);
      reader.skip(keyLength);
      skipNullableBytes(reader, i);
    }
    if (reader.pos !== recordEnd) throw invalidRecord(`record ${i} has ${recordEnd - reader.pos} bytes after its last header`);
    reader.end = end;
  }
  if (reader.pos !== end) throw invalidRecord(`batch has ${end - reader.pos} bytes after its ${count} records`);
}
