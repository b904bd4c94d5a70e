// Builds RecordBatch v2 bytes from plain records: the client side of produce, control markers, tests.
import { assert, assertSafeInteger, AssertionError } from '../util/index.ts';
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

interface PreparedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headerKeys: Buffer[];
  headerValues: Array<Buffer | null>;
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

/** Shared by every record without headers (never written to). */
const NO_HEADER_KEYS: Buffer[] = [];
const NO_HEADER_VALUES: Array<Buffer | null> = [];

function prepareRecord(input: RecordInput, nowMs: number): PreparedRecord {
  let headerKeys = NO_HEADER_KEYS;
  let headerValues = NO_HEADER_VALUES;
  const headers = input.headers;
  const entries = headers === undefined ? [] : Array.isArray(headers) ? headers : Object.entries(headers).map(([key, value]) => ({ key, value }));
  if (entries.length > 0) {
    headerKeys = [];
    headerValues = [];
    for (const header of entries) {
      headerKeys.push(Buffer.from(header.key, 'utf8'));
      headerValues.push(toBytes(header.value));
    }
  }
  const timestampMs = input.timestamp ?? nowMs;
  if (!Number.isSafeInteger(timestampMs)) {
    throw new RecordError(RecordErrorCode.INVALID_TIMESTAMP, `record timestamp ${timestampMs} is not an integer number of ms`);
  }
  return { key: toBytes(input.key), value: toBytes(input.value), headerKeys, headerValues, timestampMs, bodyBytes: 0 };
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
    let body = 1 + varlongSize(r.timestampMs - baseTimestamp) + varintSize(i);
    body += bytesFieldSize(r.key) + bytesFieldSize(r.value) + varintSize(r.headerKeys.length);
    for (let h = 0; h < r.headerKeys.length; h++) body += bytesFieldSize(r.headerKeys[h]) + bytesFieldSize(r.headerValues[h]);
    r.bodyBytes = body;
    recordsBytes += varintSize(body) + body;
    if (recordsBytes > MAX_BATCH_BYTES - BATCH_HEADER_BYTES) {
      throw new RecordError(RecordErrorCode.MESSAGE_TOO_LARGE, `records exceed the largest batch of ${MAX_BATCH_BYTES} bytes`);
    }
  }
  return { records, recordsBytes, baseTimestamp, maxTimestamp };
}

function writeBytesField(buf: Buffer, pos: number, value: Buffer | null): number {
  if (value === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, value.length);
  return pos + value.copy(buf, pos);
}

function writeRecords(buf: Buffer, start: number, prepared: Prepared): void {
  let pos = start;
  for (let i = 0; i < prepared.records.length; i++) {
    const r = prepared.records[i];
    pos = writeVarint(buf, pos, r.bodyBytes);
    const bodyStart = pos;
    buf[pos++] = 0; // record attributes: unused
    pos = writeVarlong(buf, pos, r.timestampMs - prepared.baseTimestamp);
    pos = writeVarint(buf, pos, i);
    pos = writeBytesField(buf, pos, r.key);
    pos = writeBytesField(buf, pos, r.value);
    pos = writeVarint(buf, pos, r.headerKeys.length);
    for (let h = 0; h < r.headerKeys.length; h++) {
      pos = writeBytesField(buf, pos, r.headerKeys[h]);
      pos = writeBytesField(buf, pos, r.headerValues[h]);
    }
    if (pos - bodyStart !== r.bodyBytes) throw new AssertionError(`record ${i} wrote ${pos - bodyStart} bytes, sized ${r.bodyBytes}`);
  }
  assert(pos - start === prepared.recordsBytes, 'records fill their space exactly');
}

function attributesOf(input: BatchInput, codec: CompressionCodec): number {
  let attributes: number = codec;
  if (input.timestampType === 'log-append') attributes |= ATTR_TIMESTAMP_LOG_APPEND;
  if (input.transactional === true) attributes |= ATTR_TRANSACTIONAL;
  if (input.control === true) attributes |= ATTR_CONTROL;
  return attributes;
}

/** Fills the 61-byte header of a batch whose records are already in place, CRC last. */
function writeHeader(buf: Buffer, input: BatchInput, codec: CompressionCodec, prepared: Prepared): void {
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
  buf.writeInt32BE(buf.length - BATCH_LOG_OVERHEAD, OFFSET_LENGTH);
  buf.writeInt32BE(leaderEpoch, OFFSET_LEADER_EPOCH);
  buf.writeInt8(CURRENT_MAGIC, OFFSET_MAGIC);
  buf.writeInt16BE(attributesOf(input, codec), OFFSET_ATTRIBUTES);
  buf.writeInt32BE(prepared.records.length - 1, OFFSET_LAST_OFFSET_DELTA);
  writeInt64(buf, OFFSET_BASE_TIMESTAMP, prepared.baseTimestamp);
  writeInt64(buf, OFFSET_MAX_TIMESTAMP, prepared.maxTimestamp);
  writeInt64(buf, OFFSET_PRODUCER_ID, producerId);
  buf.writeInt16BE(producerEpoch, OFFSET_PRODUCER_EPOCH);
  buf.writeInt32BE(baseSequence, OFFSET_BASE_SEQUENCE);
  buf.writeInt32BE(prepared.records.length, OFFSET_RECORDS_COUNT);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), OFFSET_CRC);
}

function assemble(input: BatchInput, codec: CompressionCodec, prepared: Prepared, payload: Buffer): Buffer {
  if (payload.length > MAX_BATCH_BYTES - BATCH_HEADER_BYTES) {
    throw new RecordError(RecordErrorCode.MESSAGE_TOO_LARGE, `compressed records exceed the largest batch of ${MAX_BATCH_BYTES} bytes`);
  }
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + payload.length);
  payload.copy(buf, BATCH_HEADER_BYTES);
  writeHeader(buf, input, codec, prepared);
  return buf;
}

/** Builds one batch. Throws INVALID_RECORD for an empty record list. */
export function buildBatch(input: BatchInput): Buffer {
  const prepared = prepare(input);
  const codec = compressionCodecOf(input.compression ?? 'none');
  if (codec === Compression.none) {
    const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + prepared.recordsBytes);
    writeRecords(buf, BATCH_HEADER_BYTES, prepared);
    writeHeader(buf, input, codec, prepared);
    return buf;
  }
  const records = Buffer.allocUnsafe(prepared.recordsBytes);
  writeRecords(records, 0, prepared);
  return assemble(input, codec, prepared, compress(codec, records));
}

/** `buildBatch` with compression on the thread pool. */
export async function buildBatchAsync(input: BatchInput): Promise<Buffer> {
  const codec = compressionCodecOf(input.compression ?? 'none');
  if (codec === Compression.none) return buildBatch(input);
  const prepared = prepare(input);
  const records = Buffer.allocUnsafe(prepared.recordsBytes);
  writeRecords(records, 0, prepared);
  return assemble(input, codec, prepared, await compressAsync(codec, records));
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
