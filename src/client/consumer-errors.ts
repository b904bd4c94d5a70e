// Typed errors of the Consumer. Each has a stable `code` (ConsumerErrorCode) to switch on; Kafka
// errors from the broker stay KafkaProtocolError (code = the Kafka error name).
import { HoldfastError } from '../util/index.ts';

export const ConsumerErrorCode = {
  /** A handler kept failing after every retry; `cause` is its last error. */
  HANDLER_FAILED: 'HANDLER_FAILED',
  /** The consumer is closed (or closing): no more run/commit/seek. */
  CONSUMER_CLOSED: 'CONSUMER_CLOSED',
  /** run() was called twice. */
  ALREADY_RUNNING: 'CONSUMER_ALREADY_RUNNING',
  /** A commit could not be made because the member lost its generation (rebalance or expiry). */
  COMMIT_FAILED: 'COMMIT_FAILED',
  /** A fetched batch failed its checks (CRC, framing, records). */
  CORRUPT_MESSAGE: 'CORRUPT_MESSAGE',
} as const;
export type ConsumerErrorCodeValue = (typeof ConsumerErrorCode)[keyof typeof ConsumerErrorCode];

export class ConsumerError extends HoldfastError {
  override name = 'ConsumerError';
  constructor(code: ConsumerErrorCodeValue, message: string, options: { retriable?: boolean; kafkaErrorCode?: number; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The handler of one message failed `attempts` times; the consumer stopped and run() rejected with this. */
export class HandlerError extends ConsumerError {
  override name = 'HandlerError';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly attempts: number;
  constructor(topic: string, partition: number, offset: number, attempts: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(ConsumerErrorCode.HANDLER_FAILED, `handler failed ${attempts} time(s) on ${topic}-${partition} offset ${offset}: ${why}`, { cause });
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.attempts = attempts;
  }
}
