// Storage-specific errors. Corruption and fatal I/O use util's CorruptionError / FatalStorageError.
import { HoldfastError } from '../util/index.ts';

/** Fetch/ListOffsets outside [logStartOffset, logEndOffset]. */
export class OffsetOutOfRangeError extends HoldfastError {
  override name = 'OffsetOutOfRangeError';
  constructor(message: string) {
    super('OFFSET_OUT_OF_RANGE', message, { kafkaErrorCode: 1 });
  }
}

/** An operation on a log that is offline (corruption or I/O failure found) or closed. */
export class LogUnavailableError extends HoldfastError {
  override name = 'LogUnavailableError';
  constructor(message: string, cause?: unknown) {
    super('KAFKA_STORAGE_ERROR', message, { kafkaErrorCode: 56, cause });
  }
}

/** A batch handed to append() that is not one or more well-framed RecordBatch v2 (a caller bug). */
export class InvalidBatchError extends HoldfastError {
  override name = 'InvalidBatchError';
  constructor(message: string) {
    super('CORRUPT_MESSAGE', message, { kafkaErrorCode: 2 });
  }
}

/** A batch larger than the segment can ever hold. */
export class BatchTooLargeError extends HoldfastError {
  override name = 'BatchTooLargeError';
  constructor(message: string) {
    super('MESSAGE_TOO_LARGE', message, { kafkaErrorCode: 10 });
  }
}
