// RecordBatch v2 header: the 61 bytes before the records. Layout (Kafka DefaultRecordBatch):
//   BaseOffset int64 | Length int32 | PartitionLeaderEpoch int32 | Magic int8 (=2) | CRC uint32 |
//   Attributes int16 | LastOffsetDelta int32 | BaseTimestamp int64 | MaxTimestamp int64 |
//   ProducerId int64 | ProducerEpoch int16 | BaseSequence int32 | RecordsCount int32 | Records...
// CRC-32C covers Attributes..end, so BaseOffset and PartitionLeaderEpoch can be patched in place.
import { crc32c } from '../util/index.ts';

export const BATCH_HEADER_BYTES = 61;
/** Bytes before the Length field's coverage starts: BaseOffset (8) + Length (4). */
export const BATCH_LOG_OVERHEAD = 12;
export const OFFSET_BASE_OFFSET = 0;
export const OFFSET_LENGTH = 8;
export const OFFSET_LEADER_EPOCH = 12;
export const OFFSET_MAGIC = 16;
export const OFFSET_CRC = 17;
export const OFFSET_ATTRIBUTES = 21;
export const OFFSET_LAST_OFFSET_DELTA = 23;
export const OFFSET_BASE_TIMESTAMP = 27;
export const OFFSET_MAX_TIMESTAMP = 35;
export const OFFSET_PRODUCER_ID = 43;
export const OFFSET_PRODUCER_EPOCH = 51;
export const OFFSET_BASE_SEQUENCE = 53;
export const OFFSET_RECORDS_COUNT = 57;

export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionCodec = (typeof Compression)[keyof typeof Compression];
export type CompressionName = keyof typeof Compression;

export const ATTR_COMPRESSION_MASK = 0x07;
export const ATTR_TIMESTAMP_LOG_APPEND = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;

/** Decoded batch header. int64 fields are JavaScript numbers (exact below 2^53). */
export interface BatchHeader {
  baseOffset: number;
  /** The Length field: bytes after it, i.e. total batch size minus 12. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** Reads a signed int64 as a number (exact for |v| < 2^53). */
export function readInt64(buf: Buffer, pos: number): number {
  const hi = buf.readInt32BE(pos);
  const lo = buf.readUInt32BE(pos + 4);
  return hi * 4294967296 + lo;
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const hi = Math.floor(value / 4294967296);
  buf.writeInt32BE(hi | 0, pos);
  buf.writeUInt32BE((value - hi * 4294967296) >>> 0, pos + 4);
}

/** Decodes the header at `pos`. The caller guarantees BATCH_HEADER_BYTES are available. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + OFFSET_BASE_OFFSET),
    batchLength: buf.readInt32BE(pos + OFFSET_LENGTH),
    partitionLeaderEpoch: buf.readInt32BE(pos + OFFSET_LEADER_EPOCH),
    magic: buf.readInt8(pos + OFFSET_MAGIC),
    crc: buf.readUInt32BE(pos + OFFSET_CRC),
    attributes: buf.readInt16BE(pos + OFFSET_ATTRIBUTES),
    lastOffsetDelta: buf.readInt32BE(pos + OFFSET_LAST_OFFSET_DELTA),
    baseTimestamp: readInt64(buf, pos + OFFSET_BASE_TIMESTAMP),
    maxTimestamp: readInt64(buf, pos + OFFSET_MAX_TIMESTAMP),
    producerId: readInt64(buf, pos + OFFSET_PRODUCER_ID),
    producerEpoch: buf.readInt16BE(pos + OFFSET_PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(pos + OFFSET_BASE_SEQUENCE),
    recordsCount: buf.readInt32BE(pos + OFFSET_RECORDS_COUNT),
  };
}

/** Total bytes of the batch starting at `pos` per its Length field (may be garbage: bound it). */
export function batchSizeAt(buf: Buffer, pos = 0): number {
  return BATCH_LOG_OVERHEAD + buf.readInt32BE(pos + OFFSET_LENGTH);
}

/** Computes the CRC-32C of the batch at `pos` whose total size is `size`. */
export function computeBatchCrc(buf: Buffer, pos: number, size: number): number {
  return crc32c(buf, pos + OFFSET_ATTRIBUTES, pos + size);
}

/** True when the stored CRC matches the bytes from Attributes to the end of the batch. */
export function verifyBatchCrc(buf: Buffer, pos: number, size: number): boolean {
  return buf.readUInt32BE(pos + OFFSET_CRC) === computeBatchCrc(buf, pos, size);
}

/** Patches BaseOffset in place (not covered by the CRC). */
export function patchBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  writeInt64(buf, pos + OFFSET_BASE_OFFSET, baseOffset);
}

/** Patches PartitionLeaderEpoch in place (not covered by the CRC). */
export function patchLeaderEpoch(buf: Buffer, pos: number, epoch: number): void {
  buf.writeInt32BE(epoch, pos + OFFSET_LEADER_EPOCH);
}

/** Sets MaxTimestamp and the LogAppendTime bit, and recomputes the CRC (LogAppendTime topics). */
export function patchLogAppendTime(buf: Buffer, pos: number, size: number, timestampMs: number): void {
  writeInt64(buf, pos + OFFSET_MAX_TIMESTAMP, timestampMs);
  const attrs = buf.readInt16BE(pos + OFFSET_ATTRIBUTES) | ATTR_TIMESTAMP_LOG_APPEND;
  buf.writeInt16BE(attrs, pos + OFFSET_ATTRIBUTES);
  buf.writeUInt32BE(computeBatchCrc(buf, pos, size), pos + OFFSET_CRC);
}

export function compressionOf(attributes: number): number {
  return attributes & ATTR_COMPRESSION_MASK;
}
export function isTransactional(attributes: number): boolean {
  return (attributes & ATTR_TRANSACTIONAL) !== 0;
}
export function isControl(attributes: number): boolean {
  return (attributes & ATTR_CONTROL) !== 0;
}
