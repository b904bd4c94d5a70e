// RecordError: every failure of the record codec carries the Kafka error code the broker answers with.
import { HoldfastError } from '../util/index.ts';

/** The Kafka error codes a record failure maps to (errors.tsv). */
export const RecordErrorCode = {
  CORRUPT_MESSAGE: 2,
  MESSAGE_TOO_LARGE: 10,
  INVALID_TIMESTAMP: 32,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  INVALID_RECORD: 87,
} as const;
export type RecordErrorCodeValue = (typeof RecordErrorCode)[keyof typeof RecordErrorCode];

const NAMES: { [code: number]: string } = {
  [RecordErrorCode.CORRUPT_MESSAGE]: 'CORRUPT_MESSAGE',
  [RecordErrorCode.MESSAGE_TOO_LARGE]: 'MESSAGE_TOO_LARGE',
  [RecordErrorCode.INVALID_TIMESTAMP]: 'INVALID_TIMESTAMP',
  [RecordErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT]: 'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  [RecordErrorCode.INVALID_RECORD]: 'INVALID_RECORD',
};

/**
 * A batch or record that cannot be accepted or read. `code` is the Kafka error name
 * ('CORRUPT_MESSAGE', ...) and `kafkaErrorCode` its number. Only CORRUPT_MESSAGE is retriable, as in
 * Kafka: a batch damaged in transit may arrive intact when the client sends it again.
 */
export class RecordError extends HoldfastError {
  override name = 'RecordError';
  declare readonly kafkaErrorCode: RecordErrorCodeValue;
  /** The index in its batch of the record at fault, when one record is (Produce's record_errors). */
  readonly recordIndex: number | undefined;

  constructor(kafkaErrorCode: RecordErrorCodeValue, message: string, cause?: unknown, recordIndex?: number) {
    super(NAMES[kafkaErrorCode], message, {
      kafkaErrorCode,
      retriable: kafkaErrorCode === RecordErrorCode.CORRUPT_MESSAGE,
      cause,
    });
    this.recordIndex = recordIndex;
  }
}

export function corrupt(message: string, cause?: unknown): RecordError {
  return new RecordError(RecordErrorCode.CORRUPT_MESSAGE, message, cause);
}

export function invalidRecord(message: string): RecordError {
  return new RecordError(RecordErrorCode.INVALID_RECORD, message);
}
