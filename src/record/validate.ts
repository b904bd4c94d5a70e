// Validation of a client's produced batch, in Apache Kafka's order (KAFKA-PROTOCOL.md §2.2): framing,
// magic, size, CRC, then the header rules, then (optionally) every record's framing. The broker stores
// the batch verbatim afterwards, so whatever passes here is what consumers will read.
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
  isControl,
  ATTR_TIMESTAMP_LOG_APPEND,
} from './batch-header.ts';
import { decompress, decompressAsync } from './codecs.ts';
import { RecordError, RecordErrorCode, corrupt, invalidRecord } from './errors.ts';
import { CURRENT_MAGIC, walkRecords, type TimestampBounds } from './records.ts';

export interface BatchLimits {
  /** The topic's max.message.bytes: the largest batch accepted, in bytes as sent. */
  maxBatchBytes: number;
  /** Bound on a compressed batch's records once decompressed (zip bombs). */
  maxDecompressedBytes: number;
  /** Walk every record (decompressing if needed) rather than trusting the header's count. */
  validateRecords: boolean;
  /** With validateRecords: the earliest and latest record timestamps accepted (INVALID_TIMESTAMP outside). */
  timestamps?: TimestampBounds;
}

export interface ValidBatch {
  header: BatchHeader;
  size: number;
}

/** Bytes needed to read the magic byte, which says how the rest is laid out. */
const MAGIC_END = OFFSET_MAGIC + 1;
/** Codec ids Kafka defines (0..4). */
const MAX_CODEC = 4;

/** Framing, magic, size limit and CRC: the checks before any header field is trusted. */
function checkFrame(buf: Buffer, pos: number, size: number, limits: BatchLimits): void {
  assert(Number.isSafeInteger(limits.maxBatchBytes) && limits.maxBatchBytes > 0, 'maxBatchBytes must be positive');
  if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(size) || pos < 0 || size < 0 || size > buf.length - pos) {
    throw corrupt(`record batch range ${pos}+${size} lies outside the ${buf.length} bytes received`);
  }
  if (size < MAGIC_END) throw corrupt(`record batch of ${size} bytes is shorter than a batch header (${BATCH_HEADER_BYTES})`);
  const length = buf.readInt32BE(pos + OFFSET_LENGTH);
  if (length !== size - BATCH_LOG_OVERHEAD) {
    throw corrupt(`record batch Length field says ${length} bytes but the batch occupies ${size - BATCH_LOG_OVERHEAD} after it`);
  }
  const magic = buf.readInt8(pos + OFFSET_MAGIC);
  if (magic !== CURRENT_MAGIC) {
    throw new RecordError(RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `record batch has magic ${magic}; only RecordBatch v2 (magic 2) is supported`);
  }
  if (size < BATCH_HEADER_BYTES) throw corrupt(`record batch of ${size} bytes is shorter than a batch header (${BATCH_HEADER_BYTES})`);
  if (size > limits.maxBatchBytes) {
    throw new RecordError(RecordErrorCode.MESSAGE_TOO_LARGE, `record batch of ${size} bytes exceeds max.message.bytes ${limits.maxBatchBytes}`);
  }
  if (!verifyBatchCrc(buf, pos, size)) throw corrupt(`record batch of ${size} bytes fails its CRC-32C check`);
}

/** Kafka's header rules for batches from clients. */
function checkHeader(header: BatchHeader): void {
  if (header.baseOffset !== 0) throw invalidRecord(`record batch from a client must have base offset 0, got ${header.baseOffset}`);
  if (header.recordsCount <= 0 || header.lastOffsetDelta + 1 !== header.recordsCount) {
    throw invalidRecord(`record batch has ${header.recordsCount} records but last offset delta ${header.lastOffsetDelta}`);
  }
  if (isControl(header.attributes)) throw invalidRecord('clients may not produce control batches');
  if (header.producerId >= 0 && header.baseSequence < 0) {
    throw invalidRecord(`idempotent batch of producer ${header.producerId} has invalid base sequence ${header.baseSequence}`);
  }
  const codec = compressionOf(header.attributes);
  if (codec > MAX_CODEC) throw corrupt(`record batch uses unknown compression codec ${codec}`);
  if ((header.attributes & ATTR_TIMESTAMP_LOG_APPEND) !== 0) {
    throw new RecordError(RecordErrorCode.INVALID_TIMESTAMP, 'producers may not set the LogAppendTime timestamp type');
  }
}

function checkDecompressed(header: BatchHeader, records: Buffer, limits: BatchLimits): void {
  walkRecords(records, 0, records.length, header.recordsCount, header.baseTimestamp, limits.timestamps);
}

/**
 * Validates the single batch occupying buf[pos, pos+size). Throws RecordError with the Kafka code:
 * CORRUPT_MESSAGE (framing, CRC, codec data), UNSUPPORTED_FOR_MESSAGE_FORMAT (magic != 2),
 * MESSAGE_TOO_LARGE (size, or decompressed size), INVALID_RECORD (header rules, record framing),
 * INVALID_TIMESTAMP (LogAppendTime set by the producer, or a record outside `limits.timestamps`).
 */
export function validateProducedBatch(buf: Buffer, pos: number, size: number, limits: BatchLimits): ValidBatch {
  checkFrame(buf, pos, size, limits);
  const header = readBatchHeader(buf, pos);
  checkHeader(header);
  if (limits.validateRecords) {
    const start = pos + BATCH_HEADER_BYTES;
    const codec = compressionOf(header.attributes);
    if (codec === 0) walkRecords(buf, start, pos + size, header.recordsCount, header.baseTimestamp, limits.timestamps);
    else checkDecompressed(header, decompress(codec, buf.subarray(start, pos + size), limits.maxDecompressedBytes), limits);
  }
  return { header, size };
}

/** `validateProducedBatch` with decompression on the thread pool (uncompressed batches stay sync). */
export async function validateProducedBatchAsync(buf: Buffer, pos: number, size: number, limits: BatchLimits): Promise<ValidBatch> {
  checkFrame(buf, pos, size, limits);
  const header = readBatchHeader(buf, pos);
  checkHeader(header);
  const codec = compressionOf(header.attributes);
  if (limits.validateRecords && codec !== 0) {
    const payload = buf.subarray(pos + BATCH_HEADER_BYTES, pos + size);
    checkDecompressed(header, await decompressAsync(codec, payload, limits.maxDecompressedBytes), limits);
  } else if (limits.validateRecords) {
    walkRecords(buf, pos + BATCH_HEADER_BYTES, pos + size, header.recordsCount, header.baseTimestamp, limits.timestamps);
  }
  return { header, size };
}

/**
 * Splits a Produce request's `records` bytes into batches by their Length fields. Throws CORRUPT_MESSAGE
 * when a Length runs past the end, is too small for a batch, or bytes trail that cannot hold one;
 * INVALID_RECORD when there are more than `maxBatches` batches. Empty input yields no batches.
 * Everything else about each batch is left to validateProducedBatch.
 */
export function splitBatches(buf: Buffer, maxBatches: number): Array<{ pos: number; size: number }> {
  assert(Number.isSafeInteger(maxBatches) && maxBatches >= 1, `maxBatches ${maxBatches} must be >= 1`);
  const out: Array<{ pos: number; size: number }> = [];
  let pos = 0;
  while (pos < buf.length) {
    const remaining = buf.length - pos;
    if (remaining < MAGIC_END) throw corrupt(`${remaining} bytes at byte ${pos} are too few for a record batch`);
    const size = BATCH_LOG_OVERHEAD + buf.readInt32BE(pos + OFFSET_LENGTH);
    // Magic 0/1 message sets are smaller; let validation answer those with UNSUPPORTED_FOR_MESSAGE_FORMAT.
    const minimum = buf.readInt8(pos + OFFSET_MAGIC) === CURRENT_MAGIC ? BATCH_HEADER_BYTES : MAGIC_END;
    if (size < minimum || size > remaining) {
      throw corrupt(`record batch at byte ${pos} declares ${size} bytes; ${remaining} remain and a batch needs ${minimum}`);
    }
    if (out.length === maxBatches) throw invalidRecord(`a produce request may carry at most ${maxBatches} record batches per partition`);
    out.push({ pos, size });
    pos += size;
  }
  return out;
}

