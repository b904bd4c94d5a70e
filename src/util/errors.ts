/**
 * One error type for every Holdfast failure: a stable string `code` that callers can switch on,
 * whether retrying may help, and the Kafka error code when the failure has one.
 */
export class HoldfastError extends Error {
  override name = 'HoldfastError';
  readonly code: string;
  readonly retriable: boolean;
  /** The Kafka protocol error code that represents this failure on the wire, if any. */
  readonly kafkaErrorCode: number | undefined;

  constructor(code: string, message: string, options: { retriable?: boolean; kafkaErrorCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.kafkaErrorCode = options.kafkaErrorCode;
  }
}

/** Bad configuration: names the key and what is wrong with it. */
export class ConfigError extends HoldfastError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('INVALID_CONFIG', message, { kafkaErrorCode: 40 });
  }
}

/** The data on disk is not what was written: the partition goes offline, nothing is deleted. */
export class CorruptionError extends HoldfastError {
  override name = 'CorruptionError';
  constructor(message: string, cause?: unknown) {
    super('CORRUPT_LOG', message, { kafkaErrorCode: 56, cause });
  }
}

/** An I/O failure that the process cannot recover from safely (failed fsync, failed write). */
export class FatalStorageError extends HoldfastError {
  override name = 'FatalStorageError';
  constructor(message: string, cause?: unknown) {
    super('KAFKA_STORAGE_ERROR', message, { kafkaErrorCode: 56, cause });
  }
}
