// Builds RecordBatch v2 bytes: buildBatch from a list of records (control markers, the offset store,
// tests), BatchAppender record by record as they come (the producer).
import { assert, assertSafeInteger, AssertionError, crc32c } from '../util/index.ts';
import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD,
  OFFSET_ATTRIBUTES,
  OFFSET_CRC,
  OFFSET_LEADER_EPOCH,
  OFFSET_LENGTH,
  OFFSET_MAGIC,
  OFFSET_LAST_OFFSET_DELTA,
  OFFSET_BASE_TIMESTAMP,
  OFFSET_MAX_TIMESTAMP,
  OFFSET_PRODUCER_ID,
  OFFSET_PRODUCER_EPOCH,
  OFFSET_BASE_SEQUENCE,
  OFFSET_RECORDS_COUNT,
  ATTR_TIMESTAMP_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  ATTR_CONTROL,
  Compression,
  type CompressionCodec,
  type CompressionName,
  writeInt64,
  computeBatchCrc,
} from './batch-header.ts';
import { compress, compressAsync, compressionCodecOf } from './codecs.ts';
import { RecordError, RecordErrorCode, invalidRecord } from './errors.ts';
import { CURRENT_MAGIC, ControlRecordType } from './records.ts';
import { varintSize, varlongSize, writeVarint, writeVarlong } from './varint.ts';

/** Largest batch the Length field (int32) can describe. */
export const MAX_BATCH_BYTES = BATCH_LOG_OVERHEAD + 0x7fffffff;

export interface RecordInput {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Array<{ key: string; value: Buffer | string | null }> | Record<string, Buffer | string | null>;
  /** Milliseconds since the epoch. @default BatchInput.nowMs */
  timestamp?: number;
}

export interface BatchInput {
  records: RecordInput[];
  /** @default 0 */
  baseOffset?: number;
  /** @default 'none' */
  compression?: CompressionName | CompressionCodec;
  /** @default -1 (not idempotent) */
  producerId?: number;
  /** @default -1 */
  producerEpoch?: number;
  /** @default -1 */
  baseSequence?: number;
  /** @default false */
  transactional?: boolean;
  /** @default false */
  control?: boolean;
  /** @default -1 */
  partitionLeaderEpoch?: number;
  /** 'log-append' sets the LogAppendTime bit; maxTimestamp stays the largest record timestamp. @default 'create' */
  timestampType?: 'create' | 'log-append';
  /** Timestamp for records that have none. @default Date.now() */
  nowMs?: number;
}

/** A batch's header fields, as BatchInput has them. */
export type BatchHeaderInput = Omit<BatchInput, 'records' | 'nowMs'>;

interface PreparedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headerKeys: readonly Buffer[];
  headerValues: ReadonlyArray<Buffer | null>;
  timestampMs: number;
  bodyBytes: number;
}

interface Prepared {
  records: PreparedRecord[];
  recordsBytes: number;
  baseTimestamp: number;
  maxTimestamp: number;
}

function toBytes(value: Buffer | string | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

function bytesFieldSize(value: Buffer | null): number {
  return value === null ? 1 : varintSize(value.length) + value.length;
}

/** Header names and values of every record without headers: shared, frozen. */
export const NO_HEADER_KEYS: readonly Buffer[] = Object.freeze([]);
export const NO_HEADER_VALUES: ReadonlyArray<Buffer | null> = Object.freeze([]);

function prepareRecord(input: RecordInput, nowMs: number): PreparedRecord {
  let headerKeys = NO_HEADER_KEYS;
  let headerValues = NO_HEADER_VALUES;
  const headers = input.headers;
  const entries = headers === undefined ? [] : Array.isArray(headers) ? headers : Object.entries(headers).map(([key, value]) => ({ key, value }));
  if (entries.length > 0) {
    headerKeys = entries.map((header) => Buffer.from(header.key, 'utf8'));
    headerValues = entries.map((header) => toBytes(header.value));
  }
  const timestampMs = input.timestamp ?? nowMs;
  if (!Number.isSafeInteger(timestampMs)) {
    throw new RecordError(RecordErrorCode.INVALID_TIMESTAMP, `record timestamp ${timestampMs} is not an integer number of ms`);
  }
  return { key: toBytes(input.key), value: toBytes(input.value), headerKeys, headerValues, timestampMs, bodyBytes: 0 };
}

/** Bytes of a record's body (everything after its length varint). */
function recordBodyBytes(timestampDelta: number, offsetDelta: number, key: Buffer | null, value: Buffer | null, headerKeys: readonly Buffer[], headerValues: ReadonlyArray<Buffer | null>): number {
  let body = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta);
  body += bytesFieldSize(key) + bytesFieldSize(value) + varintSize(headerKeys.length);
  for (let h = 0; h < headerKeys.length; h++) body += bytesFieldSize(headerKeys[h]) + bytesFieldSize(headerValues[h]);
  return body;
}

/** Converts inputs to bytes once, then sizes every record (timestamp deltas need the minimum first). */
function prepare(input: BatchInput): Prepared {
  if (input.records.length === 0) throw invalidRecord('a record batch needs at least one record');
  const nowMs = input.nowMs ?? Date.now();
  const records = input.records.map((r) => prepareRecord(r, nowMs));
  let baseTimestamp = records[0].timestampMs;
  let maxTimestamp = baseTimestamp;
  for (const r of records) {
    if (r.timestampMs < baseTimestamp) baseTimestamp = r.timestampMs;
    if (r.timestampMs > maxTimestamp) maxTimestamp = r.timestampMs;
  }
  let recordsBytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const body = recordBodyBytes(r.timestampMs - baseTimestamp, i, r.key, r.value, r.headerKeys, r.headerValues);
    r.bodyBytes = body;
    recordsBytes += varintSize(body) + body;
    if (recordsBytes > MAX_BATCH_BYTES - BATCH_HEADER_BYTES) throw tooLarge();
  }
  return { records, recordsBytes, baseTimestamp, maxTimestamp };
}

function tooLarge(): RecordError {
  return new RecordError(RecordErrorCode.MESSAGE_TOO_LARGE, `records exceed the largest batch of ${MAX_BATCH_BYTES} bytes`);
}

function writeBytesField(buf: Buffer, pos: number, value: Buffer | null): number {
  if (value === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, value.length);
  // TypedArray set, not Buffer#copy: no argument checks, which cost more than copying a small value.
  buf.set(value, pos);
  return pos + value.length;
}

/** Writes one record (length varint, then `body` bytes as sized by recordBodyBytes); returns the position after it. */
function writeRecord(buf: Buffer, pos: number, body: number, timestampDelta: number, offsetDelta: number, key: Buffer | null, value: Buffer | null, headerKeys: readonly Buffer[], headerValues: ReadonlyArray<Buffer | null>): number {
  pos = writeVarint(buf, pos, body);
  const bodyStart = pos;
  buf[pos++] = 0; // record attributes: unused
  pos = writeVarlong(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeBytesField(buf, pos, key);
  pos = writeBytesField(buf, pos, value);
  pos = writeVarint(buf, pos, headerKeys.length);
  for (let h = 0; h < headerKeys.length; h++) {
    pos = writeBytesField(buf, pos, headerKeys[h]);
    pos = writeBytesField(buf, pos, headerValues[h]);
  }
  if (pos - bodyStart !== body) throw new AssertionError(`record ${offsetDelta} wrote ${pos - bodyStart} bytes, sized ${body}`);
  return pos;
}

function writeRecords(buf: Buffer, start: number, prepared: Prepared): void {
  let pos = start;
  for (let i = 0; i < prepared.records.length; i++) {
    const r = prepared.records[i];
    pos = writeRecord(buf, pos, r.bodyBytes, r.timestampMs - prepared.baseTimestamp, i, r.key, r.value, r.headerKeys, r.headerValues);
  }
  assert(pos - start === prepared.recordsBytes, 'records fill their space exactly');
}

function attributesOf(input: BatchHeaderInput, codec: CompressionCodec): number {
  let attributes: number = codec;
  if (input.timestampType === 'log-append') attributes |= ATTR_TIMESTAMP_LOG_APPEND;
  if (input.transactional === true) attributes |= ATTR_TRANSACTIONAL;
  if (input.control === true) attributes |= ATTR_CONTROL;
  return attributes;
}

/** Fills the 61-byte header at the start of `buf` except its CRC; the batch is `batchBytes` long in all. */
function writeHeaderFields(buf: Buffer, batchBytes: number, input: BatchHeaderInput, codec: CompressionCodec, count: number, baseTimestamp: number, maxTimestamp: number): void {
  const baseOffset = input.baseOffset ?? 0;
  const producerId = input.producerId ?? -1;
  const producerEpoch = input.producerEpoch ?? -1;
  const baseSequence = input.baseSequence ?? -1;
  const leaderEpoch = input.partitionLeaderEpoch ?? -1;
  assertSafeInteger(baseOffset, 'baseOffset');
  assertSafeInteger(producerId, 'producerId');
  assert((producerEpoch << 16) >> 16 === producerEpoch, `producerEpoch ${producerEpoch} is not an int16`);
  assert((baseSequence | 0) === baseSequence, `baseSequence ${baseSequence} is not an int32`);
  assert((leaderEpoch | 0) === leaderEpoch, `partitionLeaderEpoch ${leaderEpoch} is not an int32`);
  writeInt64(buf, 0, baseOffset);
  buf.writeInt32BE(batchBytes - BATCH_LOG_OVERHEAD, OFFSET_LENGTH);
  buf.writeInt32BE(leaderEpoch, OFFSET_LEADER_EPOCH);
  buf.writeInt8(CURRENT_MAGIC, OFFSET_MAGIC);
  buf.writeInt16BE(attributesOf(input, codec), OFFSET_ATTRIBUTES);
  buf.writeInt32BE(count - 1, OFFSET_LAST_OFFSET_DELTA);
  writeInt64(buf, OFFSET_BASE_TIMESTAMP, baseTimestamp);
  writeInt64(buf, OFFSET_MAX_TIMESTAMP, maxTimestamp);
  writeInt64(buf, OFFSET_PRODUCER_ID, producerId);
  buf.writeInt16BE(producerEpoch, OFFSET_PRODUCER_EPOCH);
  buf.writeInt32BE(baseSequence, OFFSET_BASE_SEQUENCE);
  buf.writeInt32BE(count, OFFSET_RECORDS_COUNT);
}

/** Fills the 61-byte header of the batch `buf`, whose records are already in place, CRC last. */
function writeHeader(buf: Buffer, input: BatchHeaderInput, codec: CompressionCodec, count: number, baseTimestamp: number, maxTimestamp: number): void {
  writeHeaderFields(buf, buf.length, input, codec, count, baseTimestamp, maxTimestamp);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), OFFSET_CRC);
}

function assemble(input: BatchHeaderInput, codec: CompressionCodec, count: number, baseTimestamp: number, maxTimestamp: number, payload: Buffer): Buffer {
  if (payload.length > MAX_BATCH_BYTES - BATCH_HEADER_BYTES) {
    throw new RecordError(RecordErrorCode.MESSAGE_TOO_LARGE, `compressed records exceed the largest batch of ${MAX_BATCH_BYTES} bytes`);
  }
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + payload.length);
  payload.copy(buf, BATCH_HEADER_BYTES);
  writeHeader(buf, input, codec, count, baseTimestamp, maxTimestamp);
  return buf;
}

/** Builds one batch. Throws INVALID_RECORD for an empty record list. */
export function buildBatch(input: BatchInput): Buffer {
  const prepared = prepare(input);
  const codec = compressionCodecOf(input.compression ?? 'none');
  if (codec === Compression.none) {
    const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + prepared.recordsBytes);
    writeRecords(buf, BATCH_HEADER_BYTES, prepared);
    writeHeader(buf, input, codec, prepared.records.length, prepared.baseTimestamp, prepared.maxTimestamp);
    return buf;
  }
  const records = Buffer.allocUnsafe(prepared.recordsBytes);
  writeRecords(records, 0, prepared);
  return assemble(input, codec, prepared.records.length, prepared.baseTimestamp, prepared.maxTimestamp, compress(codec, records));
}

/** `buildBatch` with compression on the thread pool. */
export async function buildBatchAsync(input: BatchInput): Promise<Buffer> {
  const codec = compressionCodecOf(input.compression ?? 'none');
  if (codec === Compression.none) return buildBatch(input);
  const prepared = prepare(input);
  const records = Buffer.allocUnsafe(prepared.recordsBytes);
  writeRecords(records, 0, prepared);
  return assemble(input, codec, prepared.records.length, prepared.baseTimestamp, prepared.maxTimestamp, await compressAsync(codec, records));
}

/** The appender's smallest and largest chunks (a record larger than the largest gets a chunk of its own size). */
const MIN_CHUNK_BYTES = 256;
const MAX_CHUNK_BYTES = 1048576;

/** Chunks a ChunkPool keeps are at least this large, and sized in multiples of it. */
const POOLED_CHUNK_GRAIN = 16384;

/**
 * Chunks of acknowledged batches, kept for the next batches: a new buffer of a megabyte costs its
 * pages' first-touch faults, which here took several times as long as writing the records into it
 * (`npm run bench:producer-paths`: ~0.065 faults per 1 KiB record without the pool). Holds at most `maxChunks` free chunks
 * and `maxBytes` in all; chunks below POOLED_CHUNK_GRAIN are plain allocations and never kept. A
 * chunk may be given back only when nothing will read it again (see BatchAppender.recycle).
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  private readonly maxChunks: number;
  private readonly maxBytes: number;

  constructor(maxChunks = 4, maxBytes = 8 * 1048576) {
    assert(Number.isSafeInteger(maxChunks) && maxChunks >= 1, `maxChunks ${maxChunks} must be a positive integer`);
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, `maxBytes ${maxBytes} must be a non-negative integer`);
    this.maxChunks = maxChunks;
    this.maxBytes = maxBytes;
  }

  /** Free chunks and their bytes (for tests and monitoring). */
  get size(): { chunks: number; bytes: number } {
    return { chunks: this.free.length, bytes: this.freeBytes };
  }

  /**
   * A chunk of at least `bytes`: a free one at most an eighth (or one grain) larger, else a new
   * one rounded up to the grain, so that batches of about one size share chunks.
   */
  take(bytes: number): Buffer {
    if (bytes < POOLED_CHUNK_GRAIN) return Buffer.allocUnsafe(bytes);
    const size = Math.ceil(bytes / POOLED_CHUNK_GRAIN) * POOLED_CHUNK_GRAIN;
    const most = size + Math.max(POOLED_CHUNK_GRAIN, Math.floor(size / 8));
    for (let i = this.free.length - 1; i >= 0; i--) {
      const chunk = this.free[i];
      if (chunk.length >= size && chunk.length <= most) {
        this.free.splice(i, 1);
        this.freeBytes -= chunk.length;
        return chunk;
      }
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Keeps `chunk` for reuse if it is a whole buffer of a pooled size, dropping the oldest free ones to make room. */
  give(chunk: Buffer): void {
    if (chunk.length < POOLED_CHUNK_GRAIN || chunk.length % POOLED_CHUNK_GRAIN !== 0 || chunk.length > this.maxBytes) return;
    if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== chunk.length) return;
    if (this.free.includes(chunk)) throw new AssertionError('a chunk given back to its pool twice');
    while (this.free.length >= this.maxChunks || this.freeBytes + chunk.length > this.maxBytes) {
      this.freeBytes -= (this.free.shift() as Buffer).length;
    }
    this.free.push(chunk);
    this.freeBytes += chunk.length;
  }
}

/**
 * Builds one batch a record at a time, the way Kafka's producer fills its batch buffers: append()
 * writes the record's bytes at once, so the caller may reuse its buffers as soon as it returns.
 * Records go into chunks that double in size (the first also holds the header), so nothing is
 * copied to grow. As in Kafka's producer, the base timestamp is the first record's, and a later
 * record with an earlier timestamp has a negative delta. build() writes the header and CRC and
 * returns the batch as chunks, which a request carries without copying them.
 */
export class BatchAppender {
  /** Filled chunks; the first starts with the header's space. */
  private readonly chunks: Buffer[] = [];
  private chunk: Buffer;
  private pos = BATCH_HEADER_BYTES;
  private count = 0;
  private baseTimestamp = 0;
  private maxTimestamp = 0;
  private bytes = BATCH_HEADER_BYTES;
  private allocated: number;
  /** The records' chunks once built (no more appends); the first is replaced by a copy on a rebuild. */
  private parts: Buffer[] | null = null;
  /** Where chunks come from (null: plain allocations). */
  private readonly pool: ChunkPool | null;
  /** The whole chunks taken, for recycle(); null once recycled. The first is dropped on a rebuild. */
  private taken: Buffer[] | null;

  /**
   * `firstChunkBytes`: the first chunk's size, header included (e.g. the size of the batch before).
   * `pool`: chunks come from it, and recycle() gives them back.
   */
  constructor(firstChunkBytes: number, pool: ChunkPool | null = null) {
    this.pool = pool;
    this.chunk = this.allocate(Math.max(MIN_CHUNK_BYTES, Math.min(firstChunkBytes, MAX_BATCH_BYTES)));
    this.taken = [this.chunk];
    this.allocated = this.chunk.length;
  }

  private allocate(bytes: number): Buffer {
    return this.pool === null ? Buffer.allocUnsafe(bytes) : this.pool.take(bytes);
  }

  /**
   * Gives the chunks back to the pool. Only once nothing will read the built batch again: the
   * producer calls it when the broker acknowledged the batch (the broker had every byte of the
   * request, so the socket holds none of them). The appender is unusable afterwards.
   */
  recycle(): void {
    const taken = this.taken;
    if (taken === null) throw new AssertionError('a batch appender recycled twice');
    this.taken = null;
    if (this.pool !== null) for (const chunk of taken) this.pool.give(chunk);
  }

  get recordCount(): number {
    return this.count;
  }

  /** Bytes of the batch so far, header included, before compression. */
  get byteLength(): number {
    return this.bytes;
  }

  /** Bytes of the chunks allocated so far: what the batch holds in memory, used or not. */
  get capacity(): number {
    return this.allocated;
  }

  /** Adds a record. Throws INVALID_TIMESTAMP or MESSAGE_TOO_LARGE (the batch is unchanged then). */
  append(key: Buffer | null, value: Buffer | null, headerKeys: readonly Buffer[], headerValues: ReadonlyArray<Buffer | null>, timestampMs: number): void {
    if (this.parts !== null || this.taken === null) throw new AssertionError('a record appended to a batch already built');
    const delta = this.count === 0 ? 0 : timestampMs - this.baseTimestamp;
    if (!Number.isSafeInteger(timestampMs) || !Number.isSafeInteger(delta)) {
      throw new RecordError(RecordErrorCode.INVALID_TIMESTAMP, `record timestamp ${timestampMs} is not an integer number of ms within 2^53 of the batch's first`);
    }
    if (headerKeys.length === 0 && delta >= -64 && delta < 64 && this.count < 8192 && (key === null || key.length < 64) && (value === null || value.length < 8192)) {
      if (this.appendUsual(key, value, delta, timestampMs)) return;
    }
    const body = recordBodyBytes(delta, this.count, key, value, headerKeys, headerValues);
    const size = varintSize(body) + body;
    if (this.bytes + size > MAX_BATCH_BYTES) throw tooLarge();
    if (this.pos + size > this.chunk.length) {
      this.chunks.push(this.chunk.subarray(0, this.pos));
      this.chunk = this.allocate(Math.max(size, Math.min(this.chunk.length * 2, MAX_CHUNK_BYTES)));
      this.taken.push(this.chunk);
      this.allocated += this.chunk.length;
      this.pos = 0;
    }
    this.pos = writeRecord(this.chunk, this.pos, body, delta, this.count, key, value, headerKeys, headerValues);
    if (this.count === 0) this.baseTimestamp = this.maxTimestamp = timestampMs;
    else if (timestampMs > this.maxTimestamp) this.maxTimestamp = timestampMs;
    this.count++;
    this.bytes += size;
  }

  /**
   * The usual record, written without sizing and writing each field through the general varint
   * code (28–29 against 40–44 ns per 100-byte record in a one-off microbenchmark, not in the repo;
   * `npm run bench:producer-paths -- --against DIR` shows it in sendAsync): no headers, a key
   * under 64 bytes, a value under 8 KiB, a timestamp within 63 ms of the batch's first, one of
   * its first 8,192 records. Each of its varints but the length then takes one byte, or two for
   * the offset delta and value length. False, with nothing written, when the record does not fit
   * the current chunk (append() then takes the general path, which grows the chunks).
   */
  private appendUsual(key: Buffer | null, value: Buffer | null, delta: number, timestampMs: number): boolean {
    const count = this.count;
    const valueBytes = value === null ? 0 : value.length;
    // attributes, timestamp delta, offset delta, key, value, header count
    const body = 4 + (count < 64 ? 0 : 1) + (key === null ? 1 : 1 + key.length) + (value === null ? 1 : valueBytes < 64 ? 1 + valueBytes : 2 + valueBytes);
    const size = varintSize(body) + body;
    if (this.pos + size > this.chunk.length || this.bytes + size > MAX_BATCH_BYTES) return false;
    const buf = this.chunk;
    let pos = writeVarint(buf, this.pos, body);
    buf[pos++] = 0; // record attributes: unused
    buf[pos++] = delta >= 0 ? delta << 1 : (-delta << 1) - 1; // zigzag, one byte
    pos = writeVarint(buf, pos, count);
    if (key === null) {
      buf[pos++] = 1; // zigzag(-1)
    } else {
      buf[pos++] = key.length << 1;
      buf.set(key, pos);
      pos += key.length;
    }
    if (value === null) {
      buf[pos++] = 1;
    } else {
      pos = writeVarint(buf, pos, valueBytes);
      buf.set(value, pos);
      pos += valueBytes;
    }
    buf[pos++] = 0; // no headers
    this.pos = pos;
    if (count === 0) this.baseTimestamp = this.maxTimestamp = timestampMs;
    else if (timestampMs > this.maxTimestamp) this.maxTimestamp = timestampMs;
    this.count = count + 1;
    this.bytes += size;
    return true;
  }

  /**
   * The batch's bytes as chunks, with `header`'s fields; with compression, one buffer compressed
   * here (buildAsync() compresses on the thread pool). No record may be appended after it. Building
   * again (e.g. with other sequence numbers) leaves the chunks returned before untouched.
   */
  build(header: BatchHeaderInput): readonly Buffer[] {
    const codec = compressionCodecOf(header.compression ?? 'none');
    const parts = this.finish();
    if (codec !== Compression.none) return [assemble(header, codec, this.count, this.baseTimestamp, this.maxTimestamp, compress(codec, this.payload(parts)))];
    const first = parts[0];
    writeHeaderFields(first, this.bytes, header, codec, this.count, this.baseTimestamp, this.maxTimestamp);
    let crc = crc32c(first, OFFSET_ATTRIBUTES, first.length);
    for (let i = 1; i < parts.length; i++) crc = crc32c(parts[i], 0, parts[i].length, crc);
    first.writeUInt32BE(crc, OFFSET_CRC);
    return parts.slice();
  }

  /** build() with the compression on the thread pool. */
  async buildAsync(header: BatchHeaderInput): Promise<readonly Buffer[]> {
    const codec = compressionCodecOf(header.compression ?? 'none');
    if (codec === Compression.none) return this.build(header);
    const parts = this.finish();
    return [assemble(header, codec, this.count, this.baseTimestamp, this.maxTimestamp, await compressAsync(codec, this.payload(parts)))];
  }

  private finish(): Buffer[] {
    if (this.count === 0) throw invalidRecord('a record batch needs at least one record');
    if (this.taken === null) throw new AssertionError('a batch built after its chunks were recycled');
    if (this.parts === null) {
      this.chunks.push(this.chunk.subarray(0, this.pos));
      this.parts = this.chunks;
    } else {
      // The bytes built before may still be on their way: the first chunk is not reused either.
      if (this.parts[0].buffer === this.taken[0]?.buffer) this.taken.shift();
      this.parts[0] = Buffer.from(this.parts[0]);
    }
    return this.parts;
  }

  /** The records' bytes in one buffer, for a codec. */
  private payload(parts: readonly Buffer[]): Buffer {
    return Buffer.concat([parts[0].subarray(BATCH_HEADER_BYTES), ...parts.slice(1)], this.bytes - BATCH_HEADER_BYTES);
  }
}

export interface ControlBatchInput {
  producerId: number;
  producerEpoch: number;
  /** true writes a COMMIT marker, false an ABORT marker. */
  commit: boolean;
  coordinatorEpoch: number;
  timestampMs: number;
  /** @default 0 */
  baseOffset?: number;
  /** @default -1 */
  partitionLeaderEpoch?: number;
}

/**
 * Builds a transaction marker: a transactional control batch holding one control record,
 * key = version 0 | type (0 abort, 1 commit), value = version 0 | coordinatorEpoch.
 */
export function buildControlBatch(input: ControlBatchInput): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(input.commit ? ControlRecordType.commit : ControlRecordType.abort, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(input.coordinatorEpoch, 2);
  return buildBatch({
    records: [{ key, value, timestamp: input.timestampMs }],
    baseOffset: input.baseOffset ?? 0,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? -1,
    producerId: input.producerId,
    producerEpoch: input.producerEpoch,
    baseSequence: -1,
    transactional: true,
    control: true,
    nowMs: input.timestampMs,
  });
}
