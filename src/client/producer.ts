// Producer: the client's write path. Records accumulate in per-partition batches (lingerMs,
// batchBytes), each record written into its batch's bytes as it joins (record/BatchAppender, as
// Kafka's producer appends to its batch buffers); every ready partition of a leader goes out in
// one Produce request. With idempotence (the default) every batch carries producer id, epoch and
// sequence numbers, and a retry re-sends the exact same bytes: the broker recognises an exact retry
// and answers with the original offsets, so retries never duplicate (KAFKA-PROTOCOL.md §2.4,
// RELIABILITY.md §1). The sequence numbers also let a partition have up to maxInFlight full
// batches in flight, like Kafka's producer: the broker appends a batch only right after its
// predecessor, so a batch sent behind one that fails is refused (OUT_OF_ORDER_SEQUENCE_NUMBER) and
// re-sent after it, and batches reach the log in send order. Without idempotence nothing enforces
// that order, so a partition has one batch in flight.
//
// Every send() settles: it resolves with the offset the record was stored at, or rejects with a
// typed error (`code`, `retriable`) — at the latest when its delivery timeout has passed and the
// attempt in flight, if any, has ended.
import { assert, AssertionError, ConfigError, HoldfastError, sharedMonotonicMs, sharedWallMs } from '../util/index.ts';
import { BATCH_HEADER_BYTES, BatchAppender, ChunkPool, MAX_BATCH_BYTES, decodeBatch, NO_HEADER_KEYS, NO_HEADER_VALUES, compressionCodecOf, type CompressionName } from '../record/index.ts';
import { API_KEYS, ErrorCode, kafkaErrors, type InitProducerIdResponse, type ProduceResponse } from '../protocol/kafka/index.ts';
import { ClientCluster, type TopicMetadata } from './cluster.ts';
import { KafkaProtocolError } from './connection.ts';
import { defaultPartitionPicker, type Partitioner } from './partitioner.ts';

/** One record to send. Strings are encoded as UTF-8. */
export interface ProducerMessage {
  topic: string;
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  /**
   * Send to this partition instead of asking the partitioner. One beyond the partitions known
   * makes the producer fetch the topic's metadata again first (it may have been added); if it
   * still does not exist, the send fails with INVALID_PARTITION.
   */
  partition?: number;
  /** CreateTime in ms since the epoch. @default the time of the send() call (one clock reading serves up to 32 sends made in one synchronous run, so it may be a few µs early) */
  timestamp?: number;
}

/** Where an acknowledged record was stored. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** The record's offset; -1 when a legacy broker answered DUPLICATE_SEQUENCE_NUMBER without offsets. */
  offset: number;
}

export interface ProducerOptions {
  /** Bootstrap brokers, 'host:port'. */
  brokers: string[];
  /** Sent as client_id. @default 'holdfast-producer' */
  clientId?: string;
  /**
   * Acknowledgement required from the broker: -1 (all in-sync replicas, after the topic's flush
   * policy) or 1 (the leader only). Idempotence requires -1. For acks=0 use sendOneway().
   * @default -1
   */
  acks?: -1 | 1;
  /** Producer id + epoch + sequence numbers, so retries are written exactly once. @default true */
  idempotent?: boolean;
  /** Batch compression: 'none', 'gzip', 'snappy', 'lz4' or 'zstd'. @default 'none' */
  compression?: CompressionName;
  /** How long a batch waits for more records before it is sent. @default 5 */
  lingerMs?: number;
  /**
   * Largest batch (uncompressed, estimated from an upper bound per record). A batch is sent as soon
   * as it is full. A record larger than this travels in a batch of its own. Fits the broker's
   * default max.message.bytes (1048588). @default 1048576
   */
  batchBytes?: number;
  /**
   * Bytes of records accepted but not yet settled; beyond it send() waits. The chunks of
   * acknowledged batches kept for reuse come on top: at most a quarter of this, and 8 MiB.
   * @default 33554432
   */
  maxBufferedBytes?: number;
  /** How long send() waits for buffer space before it rejects with BUFFER_FULL. @default 60000 */
  maxBlockMs?: number;
  /**
   * Time from acceptance into the buffer until a record fails with DELIVERY_TIMEOUT (retries, metadata
   * and leader waits included). An attempt in flight at that moment is let finish first (it ends
   * within requestTimeoutMs). @default 120000
   */
  deliveryTimeoutMs?: number;
  /** How long a request may wait for its response (also the Produce timeout sent to the broker). @default 30000 */
  requestTimeoutMs?: number;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** First retry delay; it doubles per attempt, with jitter (between half and all of it). @default 100 */
  retryBackoffMs?: number;
  /** Cap on the retry delay. @default 1000 */
  retryBackoffMaxMs?: number;
  /** Ask the broker to create unknown topics (Metadata allow_auto_topic_creation). @default true */
  allowAutoTopicCreation?: boolean;
  /** Topic metadata older than this is refreshed, so added partitions are used. @default 300000 */
  metadataMaxAgeMs?: number;
  /** Chooses partitions for records without an explicit one. @default createDefaultPartitioner() */
  partitioner?: Partitioner;
  /**
   * Batches of one partition in flight at once (1 to 5; Kafka's max.in.flight.requests.per.connection).
   * A batch goes out behind ones in flight only when it is full (batchBytes) or on flush(); one
   * still filling collects records until they are done. So a partition sending more than a batch
   * per round trip overlaps them, and one sending less makes no more requests than with 1. Order
   * holds through retries because the broker checks sequence numbers; it remembers the last 5
   * batches of a producer, so more could not be retried safely. Only with idempotence: a producer
   * with `idempotent: false` has one (setting more is an error). @default 5
   */
  maxInFlight?: number;
}

/** Stable codes of the errors the producer itself raises (broker errors keep Kafka's names). */
export const ProducerErrorCode = {
  /** send() after close() began. Not retriable. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** No buffer space within maxBlockMs. Retriable. */
  BUFFER_FULL: 'BUFFER_FULL',
  /** Not acknowledged within deliveryTimeoutMs; `cause` is the last error. The record may or may not be in the log. Retriable. */
  DELIVERY_TIMEOUT: 'DELIVERY_TIMEOUT',
  /** The message is malformed (names the field). Not retriable. */
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  /** The record can never fit the buffer (maxBufferedBytes). Not retriable. */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** message.partition is not a partition of the topic. Not retriable. */
  INVALID_PARTITION: 'INVALID_PARTITION',
  /** The topic name is not a legal Kafka topic name. Not retriable. */
  INVALID_TOPIC_EXCEPTION: 'INVALID_TOPIC_EXCEPTION',
} as const;
export type ProducerErrorCodeValue = (typeof ProducerErrorCode)[keyof typeof ProducerErrorCode];

/** An error raised by the producer itself; broker answers surface as KafkaProtocolError. */
export class ProducerError extends HoldfastError {
  override name = 'ProducerError';
  constructor(code: ProducerErrorCodeValue, message: string, options: { retriable?: boolean; kafkaErrorCode?: number; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The broker keeps the last 5 batches of each producer per partition for duplicate detection (KAFKA-PROTOCOL.md §2.4). */
const MAX_IN_FLIGHT_LIMIT = 5;
/** Largest Produce request assembled from several partitions' batches (one batch may exceed it alone). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const INT32_MAX = 0x7fffffff;
const SEQUENCE_MODULUS = 2 ** 31;
/** Upper bound of a record's framing: length, attributes, timestamp and offset deltas, key/value lengths, header count. */
const RECORD_OVERHEAD_MAX_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/** The least batchBytes: a batch header and one record's framing. */
export const MIN_BATCH_BYTES = BATCH_HEADER_BYTES + RECORD_OVERHEAD_MAX_BYTES;
const HEADER_OVERHEAD_MAX_BYTES = 10;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
/** Errors after which the partition's leader or the topic may have changed: refresh metadata. */
const METADATA_ERRORS = new Set<number>([
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
]);
/**
 * Errors that mean the broker refused the batch before appending it. After any other error the
 * batch may be in the log (e.g. NOT_ENOUGH_REPLICAS_AFTER_APPEND, KAFKA_STORAGE_ERROR after a failed
 * fsync), so its sequence numbers must never be reused.
 */
const REFUSED_BEFORE_APPEND = new Set<number>([
  ErrorCode.CORRUPT_MESSAGE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.MESSAGE_TOO_LARGE,
  ErrorCode.INVALID_TOPIC_EXCEPTION,
  ErrorCode.RECORD_LIST_TOO_LARGE,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.INVALID_REQUIRED_ACKS,
  ErrorCode.TOPIC_AUTHORIZATION_FAILED,
  ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
  ErrorCode.INVALID_TIMESTAMP,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
  ErrorCode.INVALID_TXN_STATE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.INVALID_RECORD,
]);
/** Errors that mean the broker's idempotence state and ours disagree: fail the batch, new producer id. */
const SEQUENCE_ERRORS = new Set<number>([ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.UNKNOWN_PRODUCER_ID]);

interface ResolvedOptions {
  clientId: string;
  acks: -1 | 1;
  idempotent: boolean;
  compression: CompressionName;
  lingerMs: number;
  batchBytes: number;
  maxBufferedBytes: number;
  maxBlockMs: number;
  deliveryTimeoutMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
  allowAutoTopicCreation: boolean;
  metadataMaxAgeMs: number;
  maxInFlight: number;
}

/** Records sent between two flush() calls; counted so a flush knows when those before it settled. */
interface Generation {
  readonly id: number;
  unsettled: number;
}

/**
 * A record accepted by send(), validated and converted to bytes, until it settles. Its key, value
 * and headers are written into its partition's batch when it is placed there (most often within
 * send()), and dropped then; a record that must wait first holds copies of them (see ownBytes).
 */
interface PendingRecord {
  readonly topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headerKeys: readonly Buffer[];
  headerValues: ReadonlyArray<Buffer | null>;
  readonly timestamp: number;
  readonly partition: number | undefined;
  /** Upper bound of its bytes in a batch: what it takes of the buffer (maxBufferedBytes) and of batchBytes. */
  readonly bytes: number;
  /** The flush() generation this record belongs to, with its count of unsettled records. */
  generation: Generation;
  deadlineMs: number;
  settled: boolean;
  /** Told the outcome once: sendAsync()'s callback, or send()'s promise behind one. */
  done: SendCallback;
}

/** sendAsync()'s callback: called once, with the error or with where the record was stored. */
export type SendCallback = (err: Error | null, metadata?: RecordMetadata) => void;

interface Batch {
  readonly records: PendingRecord[];
  /** The records' bytes, written as they were placed. */
  readonly appender: BatchAppender;
  /** Upper bound of the batch's size (header and the records' `bytes`): for request sizes and splits. Fullness uses the appender's exact size. */
  bytes: number;
  readonly createdMs: number;
  /** Deadline of the oldest record (records are appended in acceptance order). */
  readonly deadlineMs: number;
  /** No more records may join: it is full, or it has been sent. */
  sealed: boolean;
  /** Bytes of the first attempt, as chunks; every retry sends exactly these. */
  encoded: readonly Buffer[] | null;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  attempts: number;
  retryAtMs: number;
  lastError: Error | null;
  /** An attempt ended without a broker answer: the batch may be in the log. */
  ambiguous: boolean;
  /** An attempt is in flight. */
  inFlight: boolean;
  /** Acknowledged; it settles once every earlier batch of its partition has. */
  acked: boolean;
  /** Where it was stored, once acked (-1: unknown). */
  baseOffset: number;
}

interface PartitionState {
  readonly topic: TopicState;
  readonly partition: number;
  /** Unsettled batches in send order (so sequence order); in flight ones are never behind unsent ones. */
  readonly queue: Batch[];
  /** Batches of `queue` in flight. */
  inFlight: number;
  /** Sequence numbering of this partition, valid for one producer id and epoch. */
  sequenceProducerId: number;
  sequenceEpoch: number;
  nextSequence: number;
  /** Size of the partition's last batch sent: its next batch's first chunk is sized by it. */
  lastBatchBytes: number;
}

/** A batch going out in a Produce request, with its partition. */
interface Outgoing {
  readonly tp: PartitionState;
  readonly batch: Batch;
}

/** Whether a partition's next batch can go: `batch` and its `leader`, or null and when to look again. */
interface Readiness {
  leader: number;
  wakeMs: number;
  batch: Batch | null;
}

interface TopicState {
  readonly name: string;
  /** -1 until metadata is known. */
  numPartitions: number;
  /** Leader node per partition; null while unknown (never fetched, or invalidated after an error). */
  leaders: number[] | null;
  readonly partitions: PartitionState[];
  /** Records waiting for the topic's metadata, in acceptance order. */
  readonly waiting: PendingRecord[];
  loading: boolean;
  fetchedAtMs: number;
  /** A waiting record needs metadata newer than what is held (it names a partition beyond it). */
  refreshWanted: boolean;
  /**
   * Largest batch this topic has not refused: batchBytes, halved each time the broker refuses a
   * batch of several records as too large (its max.message.bytes is smaller), so later batches fit.
   */
  batchBytesLimit: number;
  retryAtMs: number;
  attempts: number;
  lastError: Error | null;
}

interface BufferWaiter {
  readonly record: PendingRecord;
  readonly timer: NodeJS.Timeout;
}

function nowMs(): number {
  return performance.now();
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(`producer option ${name} must be an integer >= ${min}, got ${String(value)}`);
  return v;
}

function resolveOptions(o: ProducerOptions): ResolvedOptions {
  if (!Array.isArray(o.brokers) || o.brokers.length === 0) throw new ConfigError('producer option brokers needs at least one host:port');
  const acks = o.acks ?? -1;
  if (acks !== -1 && acks !== 1) throw new ConfigError(`producer option acks must be -1 or 1 (use sendOneway() for acks=0), got ${String(acks)}`);
  const idempotent = o.idempotent ?? true;
  if (idempotent && acks !== -1) throw new ConfigError('producer option acks must be -1 when idempotent is true');
  const compression = o.compression ?? 'none';
  try {
    compressionCodecOf(compression);
  } catch (err) {
    throw new ConfigError(`producer option compression: ${(err as Error).message}`);
  }
  const resolved: ResolvedOptions = {
    clientId: o.clientId ?? 'holdfast-producer',
    acks,
    idempotent,
    compression,
    lingerMs: positiveInt('lingerMs', o.lingerMs, 5, 0),
    batchBytes: positiveInt('batchBytes', o.batchBytes, 1048576, MIN_BATCH_BYTES),
    maxBufferedBytes: positiveInt('maxBufferedBytes', o.maxBufferedBytes, 33554432),
    maxBlockMs: positiveInt('maxBlockMs', o.maxBlockMs, 60000, 0),
    deliveryTimeoutMs: positiveInt('deliveryTimeoutMs', o.deliveryTimeoutMs, 120000),
    requestTimeoutMs: positiveInt('requestTimeoutMs', o.requestTimeoutMs, 30000),
    connectTimeoutMs: positiveInt('connectTimeoutMs', o.connectTimeoutMs, 10000),
    retryBackoffMs: positiveInt('retryBackoffMs', o.retryBackoffMs, 100),
    retryBackoffMaxMs: positiveInt('retryBackoffMaxMs', o.retryBackoffMaxMs, 1000),
    allowAutoTopicCreation: o.allowAutoTopicCreation ?? true,
    metadataMaxAgeMs: positiveInt('metadataMaxAgeMs', o.metadataMaxAgeMs, 300000),
    maxInFlight: positiveInt('maxInFlight', o.maxInFlight, MAX_IN_FLIGHT_LIMIT),
  };
  if (resolved.maxInFlight > MAX_IN_FLIGHT_LIMIT) {
    throw new ConfigError(`producer option maxInFlight ${resolved.maxInFlight} exceeds ${MAX_IN_FLIGHT_LIMIT}: the broker remembers only the last ${MAX_IN_FLIGHT_LIMIT} batches of a producer, so a retry of an older one could be written twice`);
  }
  if (!idempotent) {
    if (o.maxInFlight !== undefined && o.maxInFlight > 1) {
      throw new ConfigError(`producer option maxInFlight ${o.maxInFlight} needs idempotent: true (without sequence numbers a retried batch could be written after a later one)`);
    }
    resolved.maxInFlight = 1;
  }
  if (resolved.batchBytes > MAX_BATCH_BYTES) throw new ConfigError(`producer option batchBytes ${resolved.batchBytes} exceeds the largest batch of ${MAX_BATCH_BYTES} bytes`);
  if (resolved.requestTimeoutMs > INT32_MAX) throw new ConfigError(`producer option requestTimeoutMs ${resolved.requestTimeoutMs} exceeds ${INT32_MAX}`);
  if (resolved.retryBackoffMaxMs < resolved.retryBackoffMs) throw new ConfigError(`producer option retryBackoffMaxMs ${resolved.retryBackoffMaxMs} is below retryBackoffMs ${resolved.retryBackoffMs}`);
  return resolved;
}

function invalidMessage(what: string): ProducerError {
  return new ProducerError(ProducerErrorCode.INVALID_MESSAGE, `invalid message: ${what}`);
}

function toBytes(field: string, value: unknown, nullable: boolean): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (nullable && (value === null || value === undefined)) return null;
  throw invalidMessage(`${field} must be a Buffer or a string${nullable ? ' or null' : ''}, got ${value === null ? 'null' : typeof value}`);
}

/** Free chunks a producer keeps for its next batches: a few, as one batch per partition is open at a time. */
const CHUNK_POOL_CHUNKS = 4;
const CHUNK_POOL_MAX_BYTES = 8 * 1048576;

const NOT_TOLD: SendCallback = () => undefined;
const NO_GENERATION: Generation = { id: -1, unsettled: 0 };

/**
 * Validates a message and converts it to bytes; throws a typed error naming the bad field.
 * `isKnown`: true for names already validated (the name check is skipped for them). The record's
 * generation and callback are set when it is enqueued.
 */
function prepareMessage(message: ProducerMessage, isKnown?: (topic: string) => boolean): PendingRecord {
  if (message === null || typeof message !== 'object') throw invalidMessage('a message must be an object');
  const { topic, partition, timestamp } = message;
  if (typeof topic !== 'string' || (isKnown?.(topic) !== true && (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..'))) {
    throw new ProducerError(ProducerErrorCode.INVALID_TOPIC_EXCEPTION, `topic ${JSON.stringify(topic)} is not a legal topic name (1-249 of [a-zA-Z0-9._-])`, { kafkaErrorCode: ErrorCode.INVALID_TOPIC_EXCEPTION });
  }
  if (!('value' in message)) throw invalidMessage('value is required (use null for a tombstone)');
  const key = toBytes('key', message.key, true);
  const value = toBytes('value', message.value, true);
  if (partition !== undefined && (!Number.isSafeInteger(partition) || partition < 0 || partition > INT32_MAX)) throw invalidMessage(`partition ${String(partition)} is not a non-negative int32`);
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) throw invalidMessage(`timestamp ${String(timestamp)} is not a non-negative integer of ms`);
  let bytes = RECORD_OVERHEAD_MAX_BYTES + (key?.length ?? 0) + (value?.length ?? 0);
  let headerKeys = NO_HEADER_KEYS;
  let headerValues = NO_HEADER_VALUES;
  if (message.headers !== undefined) {
    if (message.headers === null || typeof message.headers !== 'object') throw invalidMessage('headers must be an object of Buffer or string values');
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (const [name, raw] of Object.entries(message.headers)) {
      const headerValue = toBytes(`headers[${JSON.stringify(name)}]`, raw, false) as Buffer;
      const headerKey = Buffer.from(name, 'utf8');
      keys.push(headerKey);
      values.push(headerValue);
      bytes += HEADER_OVERHEAD_MAX_BYTES + headerKey.length + headerValue.length;
    }
    headerKeys = keys;
    headerValues = values;
  }
  return {
    topic,
    key,
    value,
    headerKeys,
    headerValues,
    timestamp: timestamp ?? sharedWallMs(),
    partition,
    bytes,
    generation: NO_GENERATION,
    deadlineMs: Infinity,
    settled: false,
    done: NOT_TOLD,
  };
}

/** A record that waits before it is placed keeps copies: the caller may reuse its buffers once send() returns. */
function ownBytes(record: PendingRecord): void {
  if (record.key !== null) record.key = Buffer.from(record.key);
  if (record.value !== null) record.value = Buffer.from(record.value);
  if (record.headerValues.length > 0) record.headerValues = record.headerValues.map((v) => (v === null ? null : Buffer.from(v)));
}

/**
 * A Kafka producer. `send()` resolves once the broker has acknowledged the record (acks=-1 by
 * default), `sendAsync()` reports through a callback, `sendOneway()` writes with acks=0.
 *
 * Idempotence (on by default): the producer gets a producer id with InitProducerId and numbers
 * every partition's records. A batch is retried with the same bytes (same sequence numbers) on
 * retriable errors, connection loss and timeouts, so the broker writes it once. When a batch fails
 * for good after an attempt whose outcome is unknown, or the broker answers
 * OUT_OF_ORDER_SEQUENCE_NUMBER / INVALID_PRODUCER_EPOCH / UNKNOWN_PRODUCER_ID, the batch's records
 * reject and the producer takes a new producer id for later batches, so the gap can never make
 * later records fail or be mistaken for duplicates. A batch the broker refused before appending it
 * on every attempt (e.g. INVALID_TIMESTAMP) just gives its sequence numbers back. A batch of
 * several records refused as too large (MESSAGE_TOO_LARGE: the topic's max.message.bytes is below
 * batchBytes) is split into batches of half its size and sent again, in order; the topic's later
 * batches keep to that size. A single record too large fails alone.
 *
 * Ordering: per partition, records are written in the order send() was called. With idempotence a
 * partition has up to maxInFlight batches in flight and the broker's sequence check keeps their
 * order through failures and retries; without it, one. Callbacks of one partition run in send
 * order, except that a batch refused for good may report before an earlier one that is still
 * being retried.
 */
export class Producer {
  private readonly options: ResolvedOptions;
  private readonly cluster: ClientCluster;
  /** The partitioner (options.partitioner, or the default one called without an input object). */
  private readonly pickPartition: (topic: string, key: Buffer | null, numPartitions: number, recordBytes: number) => number;
  private readonly topics = new Map<string, TopicState>();
  /** Chunks of acknowledged batches, for the next ones (no page faults on fresh memory per batch). */
  private readonly chunkPool: ChunkPool;
  /** The TopicState topicState() returned last (topics are never removed from the map). */
  private lastTopic: TopicState | null = null;
  /** Names in `topics` were validated when their first record was; the last one needs no lookup. */
  private readonly isKnownTopic = (name: string): boolean => this.lastTopic?.name === name || this.topics.has(name);
  /** Partitions with queued batches. */
  private readonly active = new Set<PartitionState>();
  private readonly bufferWaiters: BufferWaiter[] = [];
  private bufferedBytes = 0;
  /**
   * Bytes of the chunks of unsettled batches. A partition's next batch starts with a chunk the size
   * of its last one only while this stays within maxBufferedBytes: else many partitions that once
   * sent large batches would each hold one for a record or two.
   */
  private batchCapacity = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | null = null;
  // flush(): records count per generation; a flush waits until no generation <= its own remains.
  // Each record points at its generation's counter, so a send or settle touches the map only
  // when a generation's count goes from 0 to 1 or back.
  private generation: Generation = { id: 0, unsettled: 0 };
  /** Generations with unsettled records, by id; insertion order is ascending. */
  private readonly unsettled = new Map<number, Generation>();
  private readonly flushWaiters: Array<{ generation: number; resolve: () => void }> = [];
  /** True while sendAsync() runs: a record settled then has its callback deferred. */
  private insideSendAsync = false;
  // Idempotence.
  private producerId = -1;
  private producerEpoch = -1;
  private producerIdLoading = false;
  private producerIdRetryAtMs = 0;
  private producerIdAttempts = 0;
  private producerIdError: Error | null = null;
  // Scheduling.
  private drainScheduled = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAtMs = Infinity;
  /** Per leader, the last request made: the next one is written after it. */
  private readonly writeOrder = new Map<number, Promise<void>>();

  constructor(options: ProducerOptions) {
    this.options = resolveOptions(options);
    this.chunkPool = new ChunkPool(CHUNK_POOL_CHUNKS, Math.min(CHUNK_POOL_MAX_BYTES, Math.floor(this.options.maxBufferedBytes / 4)));
    this.cluster = new ClientCluster({
      brokers: options.brokers,
      clientId: this.options.clientId,
      connectTimeoutMs: this.options.connectTimeoutMs,
      requestTimeoutMs: this.options.requestTimeoutMs,
    });
    const custom = options.partitioner;
    this.pickPartition = custom === undefined
      ? defaultPartitionPicker({ stickyBytes: this.options.batchBytes, hasRoom: (topic, partition, bytes) => this.openBatchHasRoom(topic, partition, bytes) })
      : (topic, key, numPartitions, recordBytes) => custom({ topic, key, numPartitions, recordBytes });
  }

  /** Bytes of records accepted and not yet settled (for monitoring backpressure). */
  get bufferedByteCount(): number {
    return this.bufferedBytes;
  }

  /** The producer id batches are numbered under now, or -1 (not idempotent, or not known yet). */
  get currentProducerId(): number {
    return this.producerId;
  }

  /**
   * Sends one record; resolves once the broker acknowledged it, with where it was stored. The
   * record's bytes are copied before send() returns: the caller may reuse its key, value and
   * header buffers at once.
   */
  send(message: ProducerMessage): Promise<RecordMetadata> {
    let prepared: PendingRecord;
    try {
      prepared = this.prepare(message);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<RecordMetadata>((resolve, reject) => this.enqueue(prepared, (err, metadata) => (err === null ? resolve(metadata as RecordMetadata) : reject(err))));
  }

  /**
   * Like send(), reporting to `callback(err, metadata)` exactly once, always after sendAsync()
   * returned, instead of returning a promise: no promise per record, for high message rates. A
   * callback that throws does not disturb the producer; its error is rethrown on its own. As with
   * send(), the record's bytes are copied before it returns.
   */
  sendAsync(message: ProducerMessage, callback: SendCallback): void {
    let prepared: PendingRecord;
    try {
      prepared = this.prepare(message);
    } catch (err) {
      queueMicrotask(() => callback(err as Error));
      return;
    }
    const outer = this.insideSendAsync;
    this.insideSendAsync = true;
    try {
      this.enqueue(prepared, callback);
    } finally {
      this.insideSendAsync = outer;
    }
  }

  /** Checks the producer is open and the message valid and within the buffer; throws otherwise. */
  private prepare(message: ProducerMessage): PendingRecord {
    if (this.state !== 'open') throw closedError();
    const prepared = prepareMessage(message, this.isKnownTopic);
    const limit = Math.min(this.options.maxBufferedBytes, MAX_BATCH_BYTES - BATCH_HEADER_BYTES);
    if (prepared.bytes > limit) {
      const what = limit === this.options.maxBufferedBytes ? `maxBufferedBytes ${limit}` : `the largest batch's ${limit} bytes of records`;
      throw new ProducerError(ProducerErrorCode.MESSAGE_TOO_LARGE, `record of ~${prepared.bytes} bytes for topic ${prepared.topic} exceeds ${what}`, { kafkaErrorCode: ErrorCode.MESSAGE_TOO_LARGE });
    }
    return prepared;
  }

  private enqueue(record: PendingRecord, done: SendCallback): void {
    record.done = done;
    record.generation = this.generation;
    if (record.generation.unsettled++ === 0) this.unsettled.set(record.generation.id, record.generation);
    this.admit(record);
  }

  /**
   * Writes one record with acks=0 and no idempotence: resolves once the request is written to the
   * socket. The broker sends no answer, so a record refused or lost on the way is lost silently,
   * and there is no ordering guarantee relative to send(). Only for callers who accept loss. The
   * record's bytes are copied before it returns, as with send().
   */
  async sendOneway(message: ProducerMessage): Promise<{ topic: string; partition: number }> {
    if (this.state !== 'open') throw closedError();
    const prepared = prepareMessage(message);
    // Built before the first wait, so the caller may reuse its buffers once this returns.
    const appender = new BatchAppender(BATCH_HEADER_BYTES + prepared.bytes);
    appender.append(prepared.key, prepared.value, prepared.headerKeys, prepared.headerValues, prepared.timestamp);
    const records = appender.build({ compression: this.options.compression });
    let metadata = await this.cluster.topic(prepared.topic, this.options.allowAutoTopicCreation);
    if (prepared.partition !== undefined && prepared.partition >= metadata.partitions.length) {
      this.cluster.invalidate(prepared.topic); // the partition may have been added since: ask again once
      metadata = await this.cluster.topic(prepared.topic, this.options.allowAutoTopicCreation);
    }
    const numPartitions = metadata.partitions.length;
    const partition = prepared.partition ?? this.pickPartition(prepared.topic, prepared.key, numPartitions, prepared.bytes);
    if (!Number.isSafeInteger(partition) || partition < 0 || partition >= numPartitions) throw invalidPartition(prepared.topic, partition, numPartitions);
    const leader = metadata.partitions[partition].leader;
    if (leader < 0) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `sendOneway ${prepared.topic}-${partition}`);
    const conn = await this.cluster.connectionTo(leader);
    const version = conn.version(API_KEYS.Produce, 3, 9);
    const body = { transactionalId: null, acks: 0, timeoutMs: this.options.requestTimeoutMs, topicData: [{ name: prepared.topic, partitionData: [{ index: partition, records }] }] };
    await conn.send(API_KEYS.Produce, version, body);
    return { topic: prepared.topic, partition };
  }

  /** Sends every lingering batch now; resolves when every record sent before the call has settled. */
  flush(): Promise<void> {
    const generation = this.generation.id;
    this.generation = { id: generation + 1, unsettled: 0 };
    if (this.oldestUnsettledGeneration() > generation) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.flushWaiters.push({ generation, resolve });
      this.scheduleDrain();
    });
  }

  /**
   * Stops accepting records (send() rejects with CLIENT_CLOSED from now on), sends what is pending
   * and waits until every record settled — at most about deliveryTimeoutMs + requestTimeoutMs —
   * then closes the connections. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.state = 'closing';
    this.closing = (async () => {
      await this.flush();
      this.state = 'closed';
      if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
      this.wakeTimer = null;
      await this.cluster.close();
    })();
    return this.closing;
  }

  // ---- buffer and backpressure ----

  /** Accepts a record into the buffer, or queues it (FIFO, so send order holds) until space frees. */
  private admit(record: PendingRecord): void {
    if (this.bufferWaiters.length === 0 && this.bufferedBytes + record.bytes <= this.options.maxBufferedBytes) {
      this.accept(record, false);
      return;
    }
    const timer = setTimeout(() => {
      const at = this.bufferWaiters.findIndex((w) => w.record === record);
      if (at < 0) return;
      this.bufferWaiters.splice(at, 1);
      this.settle(record, new ProducerError(ProducerErrorCode.BUFFER_FULL, `no buffer space for a ~${record.bytes}-byte record to ${record.topic} within maxBlockMs ${this.options.maxBlockMs} (maxBufferedBytes ${this.options.maxBufferedBytes})`, { retriable: true }));
      this.admitWaiters();
    }, this.options.maxBlockMs);
    ownBytes(record);
    this.bufferWaiters.push({ record, timer });
  }

  private admitWaiters(): void {
    while (this.bufferWaiters.length > 0) {
      const head = this.bufferWaiters[0];
      if (this.bufferedBytes + head.record.bytes > this.options.maxBufferedBytes) return;
      this.bufferWaiters.shift();
      clearTimeout(head.timer);
      this.accept(head.record, true);
    }
  }

  /** `owned`: the record holds copies of its buffers already (it waited for buffer space). */
  private accept(record: PendingRecord, owned: boolean): void {
    this.bufferedBytes += record.bytes;
    // Per record, so the shared reading (at most a few µs old within a burst of sends).
    record.deadlineMs = sharedMonotonicMs() + this.options.deliveryTimeoutMs;
    const topic = this.topicState(record.topic);
    if (topic.waiting.length > 0 || topic.numPartitions < 0) {
      if (!owned) ownBytes(record);
      topic.waiting.push(record);
      this.scheduleDrain();
      return;
    }
    this.place(topic, record);
  }

  /** Settles a record once: resolves with `result` or rejects with it; frees its buffer space. */
  private settle(record: PendingRecord, result: RecordMetadata | Error, buffered = false): void {
    assert(!record.settled, 'a record settles once');
    record.settled = true;
    if (buffered) this.freeBuffer(record.bytes);
    this.tell(record.done, result);
    const generation = record.generation;
    if (--generation.unsettled === 0) {
      this.unsettled.delete(generation.id);
      this.notifyFlushWaiters();
    } else if (generation.unsettled < 0) {
      throw new AssertionError(`generation ${generation.id} settled more records than it had`);
    }
    if (buffered) this.admitWaiters();
  }

  /** Gives back buffer space (maxBufferedBytes) held by settled records. */
  private freeBuffer(bytes: number): void {
    this.bufferedBytes -= bytes;
    if (this.bufferedBytes < 0) throw new AssertionError(`buffered bytes went negative: ${this.bufferedBytes}`);
  }

  /** Reports an outcome: never inside sendAsync() itself, and a callback's throw stays the caller's. */
  private tell(callback: SendCallback, result: RecordMetadata | Error): void {
    if (this.insideSendAsync) {
      queueMicrotask(() => this.tell(callback, result));
      return;
    }
    try {
      if (result instanceof Error) callback(result);
      else callback(null, result);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private oldestUnsettledGeneration(): number {
    for (const generation of this.unsettled.keys()) return generation; // insertion order = ascending
    return Infinity;
  }

  private notifyFlushWaiters(): void {
    const oldest = this.oldestUnsettledGeneration();
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      if (this.flushWaiters[i].generation < oldest) this.flushWaiters.splice(i, 1)[0].resolve();
    }
  }

  // ---- topics, partitions, batches ----

  private topicState(name: string): TopicState {
    // Records of one topic in a row (the usual case) skip the map.
    if (this.lastTopic !== null && this.lastTopic.name === name) return this.lastTopic;
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = { name, numPartitions: -1, leaders: null, partitions: [], waiting: [], loading: false, fetchedAtMs: -Infinity, refreshWanted: false, batchBytesLimit: Infinity, retryAtMs: 0, attempts: 0, lastError: null };
      this.topics.set(name, topic);
    }
    this.lastTopic = topic;
    return topic;
  }

  /** Whether the partition's open batch (not yet sent) can take a record of `recordBytes` (the default partitioner asks). */
  private openBatchHasRoom(topicName: string, partition: number, recordBytes: number): boolean {
    const topic = this.topics.get(topicName);
    const batch = topic?.partitions[partition]?.queue.at(-1);
    return topic !== undefined && batch !== undefined && this.canTake(topic, batch, recordBytes);
  }

  /**
   * Whether `batch` is open and a record of upper bound `recordBytes` still fits beside its exact
   * bytes so far: a batch of 1 KiB records is not cut ~2.5% short by summing upper bounds.
   */
  private canTake(topic: TopicState, batch: Batch, recordBytes: number): boolean {
    return !batch.sealed && batch.appender.byteLength + recordBytes <= this.batchLimit(topic);
  }

  /** A batch's size limit for `topic`: batchBytes, or the smaller limit the topic's refusals left (batchBytesLimit). */
  private batchLimit(topic: TopicState): number {
    return Math.min(this.options.batchBytes, topic.batchBytesLimit);
  }

  /** Puts an accepted record into its partition's open batch (metadata is known). */
  private place(topic: TopicState, record: PendingRecord): void {
    if (topic.numPartitions <= 0) throw new AssertionError(`topic ${topic.name} has no known partitions`);
    const partition = record.partition ?? this.pickPartition(topic.name, record.key, topic.numPartitions, record.bytes);
    if (!Number.isSafeInteger(partition) || partition < 0 || partition >= topic.numPartitions) {
      // A partition named beyond the count known may have been added since (CreatePartitions):
      // wait for metadata asked for after the record came, as Kafka's producer does, and refuse
      // it only if that has too few partitions too. Waiting records expire with deliveryTimeoutMs.
      const acceptedMs = record.deadlineMs - this.options.deliveryTimeoutMs;
      if (record.partition !== undefined && partition >= topic.numPartitions && topic.fetchedAtMs < acceptedMs) {
        ownBytes(record);
        topic.waiting.push(record);
        topic.refreshWanted = true;
        this.scheduleDrain();
        return;
      }
      this.settle(record, invalidPartition(topic.name, partition, topic.numPartitions), true);
      return;
    }
    const tp = topic.partitions[partition];
    const open = tp.queue.at(-1);
    let batch: Batch;
    if (open !== undefined && this.canTake(topic, open, record.bytes)) {
      batch = open;
    } else {
      if (open !== undefined) open.sealed = true;
      const created = sharedMonotonicMs();
      // Sized like the partition's last batch, so a steady flow fills one chunk (see batchCapacity).
      const hint = this.batchCapacity + tp.lastBatchBytes <= this.options.maxBufferedBytes ? tp.lastBatchBytes : 0;
      batch = {
        records: [],
        appender: new BatchAppender(Math.max(hint, BATCH_HEADER_BYTES + record.bytes), this.chunkPool),
        bytes: BATCH_HEADER_BYTES,
        createdMs: created,
        deadlineMs: record.deadlineMs,
        sealed: false,
        encoded: null,
        producerId: -1,
        producerEpoch: -1,
        baseSequence: -1,
        attempts: 0,
        retryAtMs: 0,
        lastError: null,
        ambiguous: false,
        inFlight: false,
        acked: false,
        baseOffset: -1,
      };
      tp.queue.push(batch);
      this.batchCapacity += batch.appender.capacity;
      this.active.add(tp);
      // lingerMs 0 sends on the next turn of the event loop: a timer would wait at least 1 ms
      // (Node's shortest), which doubled a lone record's round trip. Here and not in wakeAt: drain
      // can pass it a batch's deadline that is already past while the partition has a batch in
      // flight (expireHead waits until none is); a 1 ms timer, not a setImmediate loop, waits there.
      if (this.options.lingerMs === 0) this.scheduleDrain();
      else this.wakeAt(created + this.options.lingerMs);
    }
    const capacity = batch.appender.capacity;
    batch.appender.append(record.key, record.value, record.headerKeys, record.headerValues, record.timestamp);
    this.batchCapacity += batch.appender.capacity - capacity;
    record.key = record.value = null; // written: the caller's buffers are free
    record.headerKeys = NO_HEADER_KEYS;
    record.headerValues = NO_HEADER_VALUES;
    batch.records.push(record);
    batch.bytes += record.bytes;
    if (batch.appender.byteLength >= this.batchLimit(topic)) batch.sealed = true; // nothing more can fit
    if (batch.sealed || tp.queue.length > 1) this.scheduleDrain();
  }

  /** `askedAtMs`: when the fetch of `metadata` started, so no later change to the topic is in it. */
  private applyMetadata(topic: TopicState, metadata: TopicMetadata, askedAtMs: number): void {
    const count = metadata.partitions.length;
    if (count === 0) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `topic ${topic.name} has no partitions`);
    for (let i = 0; i < count; i++) assert(metadata.partitions[i].partition === i, `metadata of ${topic.name} lists partition ${metadata.partitions[i].partition} at index ${i}`);
    while (topic.partitions.length < count) {
      topic.partitions.push({ topic, partition: topic.partitions.length, queue: [], inFlight: 0, sequenceProducerId: -1, sequenceEpoch: -1, nextSequence: 0, lastBatchBytes: 0 });
    }
    topic.numPartitions = count;
    topic.leaders = metadata.partitions.map((p) => p.leader);
    topic.fetchedAtMs = askedAtMs;
    topic.refreshWanted = false;
    topic.attempts = 0;
    topic.lastError = null;
    // The records waiting now, once each: one naming a partition beyond this metadata, accepted
    // after it was asked for, goes back to wait for the next (place()).
    for (const record of topic.waiting.splice(0)) this.place(topic, record);
  }

  /** Fetches a topic's metadata in the background; retries with backoff when it fails. */
  private loadMetadata(topic: TopicState): void {
    if (topic.loading || this.state === 'closed') return;
    topic.loading = true;
    void (async () => {
      try {
        this.cluster.invalidate(topic.name);
        const askedAtMs = nowMs();
        this.applyMetadata(topic, await this.cluster.topic(topic.name, this.options.allowAutoTopicCreation), askedAtMs);
      } catch (err) {
        topic.lastError = err as Error;
        topic.attempts++;
        topic.retryAtMs = nowMs() + this.backoffMs(topic.attempts);
      } finally {
        topic.loading = false;
        this.scheduleDrain();
      }
    })();
  }

  // ---- idempotence ----

  private loadProducerId(): void {
    if (this.producerIdLoading || this.state === 'closed') return;
    this.producerIdLoading = true;
    void (async () => {
      try {
        const conn = await this.cluster.anyConnection();
        const version = conn.version(API_KEYS.InitProducerId, 0, 4);
        const res = await conn.request<InitProducerIdResponse>(API_KEYS.InitProducerId, version, { transactionalId: null, transactionTimeoutMs: INT32_MAX, producerId: -1, producerEpoch: -1 });
        if (res.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(res.errorCode, 'InitProducerId');
        assert(res.producerId >= 0 && res.producerEpoch >= 0, `InitProducerId returned producer id ${res.producerId} epoch ${res.producerEpoch}`);
        this.producerId = res.producerId;
        this.producerEpoch = res.producerEpoch;
        this.producerIdAttempts = 0;
        this.producerIdError = null;
      } catch (err) {
        this.producerIdError = err as Error;
        this.producerIdAttempts++;
        this.producerIdRetryAtMs = nowMs() + this.backoffMs(this.producerIdAttempts);
      } finally {
        this.producerIdLoading = false;
        this.scheduleDrain();
      }
    })();
  }

  /** Later batches get a new producer id (their sequences restart at 0) — after a batch with a doubtful fate. */
  private resetProducerId(failedProducerId: number): void {
    if (!this.options.idempotent || failedProducerId !== this.producerId) return;
    this.producerId = -1;
    this.producerEpoch = -1;
  }

  /** Numbers a batch the first time it goes out: its sequence range is fixed from then on. */
  private assignSequence(tp: PartitionState, batch: Batch): void {
    if (!this.options.idempotent) return;
    assert(this.producerId >= 0, 'a producer id is known before batches are numbered');
    if (tp.sequenceProducerId !== this.producerId || tp.sequenceEpoch !== this.producerEpoch) {
      tp.sequenceProducerId = this.producerId;
      tp.sequenceEpoch = this.producerEpoch;
      tp.nextSequence = 0;
    }
    batch.producerId = this.producerId;
    batch.producerEpoch = this.producerEpoch;
    batch.baseSequence = tp.nextSequence;
    tp.nextSequence = (tp.nextSequence + batch.records.length) % SEQUENCE_MODULUS;
  }

  // ---- sending ----

  private scheduleDrain(): void {
    if (this.drainScheduled || this.state === 'closed') return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private wakeAt(atMs: number): void {
    if (atMs >= this.wakeAtMs || this.state === 'closed') return;
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeAtMs = atMs;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeAtMs = Infinity;
      this.drain();
    }, Math.max(0, Math.ceil(atMs - nowMs())));
  }

  /**
   * One pass: expire what is overdue, fetch missing metadata / producer id, send every ready
   * partition's next batch; repeated while batches went out, so a partition can fill its
   * maxInFlight slots at once.
   */
  private drain(): void {
    if (this.state === 'closed') return;
    const now = nowMs();
    let nextWakeMs = Infinity;
    for (const topic of this.topics.values()) nextWakeMs = Math.min(nextWakeMs, this.tendTopic(topic, now));
    // Later rounds look only at the partitions that sent in the one before.
    let candidates: Iterable<PartitionState> = this.active;
    for (let round = 0; round < this.options.maxInFlight; round++) {
      const byLeader = new Map<number, Outgoing[]>();
      const sent: PartitionState[] = [];
      for (const tp of candidates) {
        const { wakeMs, leader, batch } = this.readiness(tp, now);
        nextWakeMs = Math.min(nextWakeMs, wakeMs);
        if (batch === null) continue;
        sent.push(tp);
        const group = byLeader.get(leader);
        if (group === undefined) byLeader.set(leader, [{ tp, batch }]);
        else group.push({ tp, batch });
      }
      if (sent.length === 0) break;
      for (const [leader, group] of byLeader) {
        for (const chunk of requestChunks(group)) this.sendRequest(leader, chunk);
      }
      candidates = sent;
    }
    if (nextWakeMs < Infinity) this.wakeAt(nextWakeMs);
  }

  /** Expires overdue records waiting for metadata and starts metadata fetches; returns when to look again. */
  private tendTopic(topic: TopicState, now: number): number {
    while (topic.waiting.length > 0 && topic.waiting[0].deadlineMs <= now) {
      const record = topic.waiting.shift() as PendingRecord;
      this.settle(record, deliveryTimeout(`metadata of topic ${topic.name}`, record.topic, this.options.deliveryTimeoutMs, topic.lastError), true);
    }
    const waitingDeadlineMs = topic.waiting[0]?.deadlineMs ?? Infinity;
    const hasWork = topic.waiting.length > 0 || topic.partitions.some((tp) => tp.queue.length > 0);
    const stale = topic.leaders === null || topic.refreshWanted || now - topic.fetchedAtMs > this.options.metadataMaxAgeMs;
    if (!hasWork || !stale) return waitingDeadlineMs;
    return Math.min(waitingDeadlineMs, this.ensureMetadata(topic, now));
  }

  /** Starts a metadata fetch unless one runs or the backoff holds; returns when to look again. */
  private ensureMetadata(topic: TopicState, now: number): number {
    if (topic.loading) return Infinity; // its end schedules a drain
    if (now < topic.retryAtMs) return topic.retryAtMs;
    this.loadMetadata(topic);
    return Infinity;
  }

  /** Starts InitProducerId unless it runs or the backoff holds; returns when to look again. */
  private ensureProducerId(now: number): number {
    if (this.producerIdLoading) return Infinity; // its end schedules a drain
    if (now < this.producerIdRetryAtMs) return this.producerIdRetryAtMs;
    this.loadProducerId();
    return Infinity;
  }

  /** Whether a partition's next batch can go now: the batch (or null), its leader and when to look again. */
  private readiness(tp: PartitionState, now: number): Readiness {
    const notNow = (wakeMs: number): Readiness => ({ leader: -1, wakeMs, batch: null });
    if (tp.inFlight >= this.options.maxInFlight) return notNow(Infinity);
    if (tp.inFlight === 0) this.expireHead(tp, now);
    if (tp.queue.length === 0) {
      this.active.delete(tp);
      return notNow(Infinity);
    }
    // The next batch to send: the first neither in flight nor acknowledged (held behind an earlier one).
    let index = 0;
    while (index < tp.queue.length && (tp.queue[index].inFlight || tp.queue[index].acked)) index++;
    const next = tp.queue[index];
    if (next === undefined) return notNow(Infinity); // everything is in flight: their ends schedule a drain
    const flushing = this.flushWaiters.length > 0 || this.state !== 'open';
    if (tp.inFlight > 0 && (next.attempts > 0 || (!next.sealed && !flushing) || !this.canFollowInFlight(tp, next))) {
      // Behind batches in flight goes only a full batch (or any, on flush()), on its first attempt,
      // when the broker's sequence check orders it after them (see canFollowInFlight). A batch
      // still filling collects records until they are done: as many requests as with one in flight
      // at low rates (a rejected version that sent every tick's records at once raised the broker's
      // CPU per message in `holdfast bench --workload L` by a fifth; README, L row). A retry waits
      // until none is in flight.
      return notNow(Infinity);
    }
    const lingerUntilMs = next.createdMs + this.options.lingerMs;
    if (!next.sealed && index === tp.queue.length - 1 && !flushing && now < lingerUntilMs) return notNow(Math.min(lingerUntilMs, next.deadlineMs));
    if (now < next.retryAtMs) return notNow(Math.min(next.retryAtMs, next.deadlineMs));
    if (this.options.idempotent && next.encoded === null && this.producerId < 0) {
      return notNow(Math.min(this.ensureProducerId(now), next.deadlineMs));
    }
    const leader = tp.topic.leaders?.[tp.partition] ?? -1;
    if (leader < 0) {
      tp.topic.leaders = null; // unknown, or a partition without a leader: refresh
      return notNow(Math.min(this.ensureMetadata(tp.topic, now), next.deadlineMs));
    }
    return { leader, wakeMs: Infinity, batch: next };
  }

  /**
   * Whether the broker will refuse `batch` if a batch of `tp` in flight is not written: it goes out
   * under their producer id and epoch, and none of them is the first of that producer on the
   * partition (sequence 0), since the broker accepts any sequence from a producer it does not know.
   */
  private canFollowInFlight(tp: PartitionState, batch: Batch): boolean {
    const producerId = batch.encoded === null ? this.producerId : batch.producerId;
    const producerEpoch = batch.encoded === null ? this.producerEpoch : batch.producerEpoch;
    for (const b of tp.queue) {
      if (b.inFlight && (b.producerId !== producerId || b.producerEpoch !== producerEpoch || b.baseSequence === 0)) return false;
    }
    return true;
  }

  /** Fails head batches whose delivery timeout passed; only while none of the partition is in flight. */
  private expireHead(tp: PartitionState, now: number): void {
    while (tp.queue.length > 0 && tp.queue[0].deadlineMs <= now) {
      const head = tp.queue[0];
      const cause = head.lastError ?? tp.topic.lastError ?? (head.encoded === null ? this.producerIdError : null);
      this.failBatch(tp, head, deliveryTimeout(`${tp.topic.name}-${tp.partition}`, tp.topic.name, this.options.deliveryTimeoutMs, cause), head.ambiguous);
    }
  }

  /** Sends one batch of every partition in `group` to `leader` in one Produce request. */
  private sendRequest(leader: number, group: Outgoing[]): void {
    for (const { tp, batch } of group) {
      batch.inFlight = true;
      tp.inFlight++;
      batch.sealed = true;
      batch.attempts++;
      tp.lastBatchBytes = batch.appender.byteLength;
      if (batch.encoded === null) this.assignSequence(tp, batch);
    }
    // Requests to one leader are written in the order they were made (a compressed batch takes a
    // while to build), so a partition's batches reach the broker in sequence order.
    const previous = this.writeOrder.get(leader);
    let written = (): void => {};
    const mine = new Promise<void>((resolve) => (written = resolve));
    this.writeOrder.set(leader, mine);
    void (async () => {
      let sent = false;
      try {
        await this.encodeAll(group);
        if (previous !== undefined) await previous;
        if (!group.some((o) => o.batch.inFlight)) return; // every batch failed to build
        const conn = await this.cluster.connectionTo(leader);
        const version = conn.version(API_KEYS.Produce, 3, 9);
        sent = true;
        const response = conn.request<ProduceResponse>(API_KEYS.Produce, version, this.produceBody(group));
        written();
        this.handleResponse(group, await response);
      } catch (err) {
        for (const { tp, batch } of group) if (batch.inFlight) this.attemptFailed(tp, batch, err as Error, sent);
      } finally {
        written();
        if (this.writeOrder.get(leader) === mine) this.writeOrder.delete(leader);
        this.scheduleDrain();
      }
    })();
  }

  /** Builds the bytes of batches sent for the first time; a batch that cannot be built fails alone. */
  private async encodeAll(group: Outgoing[]): Promise<void> {
    for (const { tp, batch } of group) {
      if (batch.encoded !== null) continue;
      try {
        const header = { compression: this.options.compression, producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence };
        batch.encoded = this.options.compression === 'none' ? batch.appender.build(header) : await batch.appender.buildAsync(header);
      } catch (err) {
        this.failBatch(tp, batch, err as Error, false); // never sent: nothing is doubtful
      }
    }
  }

  private produceBody(group: Outgoing[]): object {
    const topics = new Map<string, Array<{ index: number; records: readonly Buffer[] }>>();
    for (const { tp, batch } of group) {
      if (!batch.inFlight) continue;
      const name = tp.topic.name;
      const partitionData = topics.get(name) ?? [];
      partitionData.push({ index: tp.partition, records: batch.encoded as readonly Buffer[] });
      topics.set(name, partitionData);
    }
    return {
      transactionalId: null,
      acks: this.options.acks,
      timeoutMs: this.options.requestTimeoutMs,
      topicData: [...topics].map(([name, partitionData]) => ({ name, partitionData })),
    };
  }

  private handleResponse(group: Outgoing[], res: ProduceResponse): void {
    for (const { tp, batch } of group) {
      if (!batch.inFlight) continue;
      const p = res.responses.find((t) => t.name === tp.topic.name)?.partitionResponses.find((x) => x.index === tp.partition);
      if (p === undefined) {
        this.attemptFailed(tp, batch, new HoldfastError('INVALID_RESPONSE', `Produce response lacks ${tp.topic.name}-${tp.partition}`, { retriable: true }), true);
      } else if (p.errorCode === ErrorCode.NONE || p.errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
        this.completeBatch(tp, batch, p.baseOffset);
      } else {
        const detail = p.errorMessage ? ` — ${p.errorMessage}` : '';
        this.brokerRefused(tp, batch, p.errorCode, new KafkaProtocolError(p.errorCode, `produce to ${tp.topic.name}-${tp.partition}${detail}`));
      }
    }
  }

  /** The broker answered with an error for this partition: retry, refresh metadata, or fail. */
  private brokerRefused(tp: PartitionState, batch: Batch, errorCode: number, err: KafkaProtocolError): void {
    // A sequence error is a refusal too; whether the batch may be in the log from an earlier attempt stays as it was.
    if (!REFUSED_BEFORE_APPEND.has(errorCode) && !SEQUENCE_ERRORS.has(errorCode)) batch.ambiguous = true;
    if (METADATA_ERRORS.has(errorCode)) tp.topic.leaders = null;
    if (errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER && tp.queue[0] !== batch) {
      // An earlier batch is not acknowledged yet (acknowledged ones at the head settle at once):
      // this one reached the broker before it was written, and goes again after it.
      this.retryLater(tp, batch, err);
      return;
    }
    if (errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER && !batch.ambiguous && this.retired(batch)) {
      // Numbered under a producer id given up after an earlier batch failed, and never possibly
      // written: it is numbered again under the new one.
      this.unnumber(batch);
      this.retryLater(tp, batch, err);
      return;
    }
    if (SEQUENCE_ERRORS.has(errorCode)) {
      this.failBatch(tp, batch, err, true);
      return;
    }
    if (kafkaErrors[errorCode]?.retriable === true) {
      this.retryLater(tp, batch, err);
      return;
    }
    if ((errorCode === ErrorCode.MESSAGE_TOO_LARGE || errorCode === ErrorCode.RECORD_LIST_TOO_LARGE) && batch.records.length > 1 && !batch.ambiguous) {
      this.splitBatch(tp, batch, err);
      return;
    }
    this.failBatch(tp, batch, err, batch.ambiguous);
  }

  /**
   * The broker refused a batch of several records as too large (the topic's max.message.bytes is
   * below batchBytes), before appending it: its records go again, in order and ahead of later
   * batches, in batches of at most half its size, as Kafka's producer splits them; the topic's
   * later batches are held to that size too. A single record too large fails alone.
   */
  private splitBatch(tp: PartitionState, batch: Batch, err: Error): void {
    assert(batch.encoded !== null, 'a refused batch was sent');
    const limit = Math.max(BATCH_HEADER_BYTES + 1, Math.floor(batch.bytes / 2));
    tp.topic.batchBytesLimit = Math.min(tp.topic.batchBytesLimit, limit);
    const index = tp.queue.indexOf(batch);
    assert(index >= 0 && !batch.acked, `a refused batch of ${tp.topic.name}-${tp.partition} is unsettled`);
    this.endAttempt(tp, batch);
    this.releaseNumbers(tp, index, batch, false);
    // The records' own bytes were written into the batch (and the caller's buffers let go): read them back.
    const decoded = decodeBatch(batch.encoded.length === 1 ? batch.encoded[0] : Buffer.concat(batch.encoded), 0, { verifyCrc: false }).records;
    assert(decoded.length === batch.records.length, `batch of ${batch.records.length} records decodes to ${decoded.length}`);
    const parts: Batch[] = [];
    let part: Batch | null = null;
    for (let i = 0; i < decoded.length; i++) {
      const record = batch.records[i];
      if (part === null || part.bytes + record.bytes > limit) {
        part = { ...batch, records: [], appender: new BatchAppender(Math.min(limit, BATCH_HEADER_BYTES + record.bytes), this.chunkPool), bytes: BATCH_HEADER_BYTES, deadlineMs: record.deadlineMs, sealed: true, encoded: null, producerId: -1, producerEpoch: -1, baseSequence: -1, retryAtMs: 0, lastError: err, inFlight: false, acked: false, baseOffset: -1 };
        parts.push(part);
      }
      const r = decoded[i];
      part.appender.append(r.key, r.value, r.headers.map((h) => Buffer.from(h.key)), r.headers.map((h) => h.value), r.timestamp);
      part.records.push(record);
      part.bytes += record.bytes;
    }
    tp.queue.splice(index, 1, ...parts);
    this.releaseCapacity(batch);
    for (const p of parts) this.batchCapacity += p.appender.capacity;
    this.scheduleDrain();
  }

  /** An attempt ended without a usable answer (connection lost, timeout, no connection). */
  private attemptFailed(tp: PartitionState, batch: Batch, err: Error, written: boolean): void {
    if (written) batch.ambiguous = true;
    if (err instanceof HoldfastError && err.retriable) {
      if (written) tp.topic.leaders = null; // the leader may have moved; cheap to ask
      this.retryLater(tp, batch, err);
    } else {
      this.failBatch(tp, batch, err, batch.ambiguous);
    }
  }

  /** The attempt ended: the batch goes again after a backoff (or fails once its delivery timeout passed, see expireHead). */
  private retryLater(tp: PartitionState, batch: Batch, err: Error): void {
    this.endAttempt(tp, batch);
    batch.lastError = err;
    batch.retryAtMs = nowMs() + this.backoffMs(batch.attempts);
  }

  private endAttempt(tp: PartitionState, batch: Batch): void {
    assert(batch.inFlight && tp.inFlight > 0, `an attempt of a batch of ${tp.topic.name}-${tp.partition} ends once`);
    batch.inFlight = false;
    tp.inFlight--;
  }

  private completeBatch(tp: PartitionState, batch: Batch, baseOffset: number): void {
    this.endAttempt(tp, batch);
    batch.acked = true;
    batch.baseOffset = baseOffset;
    this.settleAcked(tp);
  }

  /** Settles the acknowledged batches at the head of the partition's queue, in order. */
  private settleAcked(tp: PartitionState): void {
    while (tp.queue.length > 0 && tp.queue[0].acked) {
      const batch = tp.queue.shift() as Batch;
      this.releaseCapacity(batch);
      // Acknowledged: the broker had every byte of the request, so nothing reads the chunks again.
      batch.encoded = null;
      batch.appender.recycle();
      // The batch's buffer space (its records' `bytes`, summed in batch.bytes after the header) goes
      // back before its callbacks run, and records waiting for space are admitted then, in their
      // order: a callback's own send queues behind any still waiting. Once per batch, not per
      // record as settle(…, true) does.
      this.freeBuffer(batch.bytes - BATCH_HEADER_BYTES);
      this.admitWaiters();
      const records = batch.records;
      const topic = tp.topic.name;
      const partition = tp.partition;
      const baseOffset = batch.baseOffset;
      for (let i = 0; i < records.length; i++) this.settle(records[i], { topic, partition, offset: baseOffset >= 0 ? baseOffset + i : -1 });
    }
  }

  /**
   * Rejects every record of a batch. `doubtful`: it may be in the log (an attempt's answer was
   * lost), so the partition's sequence numbering cannot continue: take a new producer id. So too
   * when later batches of the partition are numbered already: they cannot follow a gap. Those of
   * them never possibly written are numbered again under the new id. Otherwise a numbered batch
   * gives its sequence numbers back.
   */
  private failBatch(tp: PartitionState, batch: Batch, err: Error, doubtful: boolean): void {
    const index = tp.queue.indexOf(batch);
    assert(index >= 0 && !batch.acked, `a failing batch of ${tp.topic.name}-${tp.partition} is unsettled`);
    if (batch.inFlight) this.endAttempt(tp, batch);
    tp.queue.splice(index, 1);
    this.releaseCapacity(batch);
    this.releaseNumbers(tp, index, batch, doubtful);
    for (const record of batch.records) this.settle(record, err, true);
    this.settleAcked(tp);
  }

  /**
   * A numbered batch leaves the sequence (failed, or split into new batches): its numbers are
   * given back, unless it may be in the log (`doubtful`) or batches after it (from `index` in the
   * queue) are numbered already; then later batches take a new producer id, and those of them
   * never possibly written are numbered again.
   */
  private releaseNumbers(tp: PartitionState, index: number, batch: Batch, doubtful: boolean): void {
    if (!this.options.idempotent || batch.baseSequence < 0) return;
    const later = tp.queue.slice(index).filter((b) => b !== batch && !b.acked && b.baseSequence >= 0 && b.producerId === batch.producerId && b.producerEpoch === batch.producerEpoch);
    if (doubtful || later.length > 0) {
      this.resetProducerId(batch.producerId);
      for (const b of later) if (!b.inFlight && !b.ambiguous) this.unnumber(b);
    } else if (tp.sequenceProducerId === batch.producerId && tp.sequenceEpoch === batch.producerEpoch) {
      tp.nextSequence = batch.baseSequence;
    }
  }

  /** A batch left its partition's queue: its chunks no longer count against batchCapacity. */
  private releaseCapacity(batch: Batch): void {
    this.batchCapacity -= batch.appender.capacity;
    if (this.batchCapacity < 0) throw new AssertionError(`batch capacity went negative: ${this.batchCapacity}`);
  }

  /** Whether the producer id a batch was numbered under has been given up. */
  private retired(batch: Batch): boolean {
    return batch.baseSequence >= 0 && (batch.producerId !== this.producerId || batch.producerEpoch !== this.producerEpoch);
  }

  /** Forgets a batch's numbering (it was never possibly written): its next attempt numbers it afresh. */
  private unnumber(batch: Batch): void {
    batch.encoded = null;
    batch.producerId = -1;
    batch.producerEpoch = -1;
    batch.baseSequence = -1;
  }

  /** Exponential backoff with jitter: between half and all of min(max, initial * 2^(attempt-1)). */
  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.options.retryBackoffMaxMs, this.options.retryBackoffMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

/** Splits one leader's outgoing batches into requests of at most MAX_REQUEST_BYTES (at least one batch each). */
function requestChunks(group: Outgoing[]): Outgoing[][] {
  const chunks: Outgoing[][] = [];
  let current: Outgoing[] = [];
  let bytes = 0;
  for (const o of group) {
    const size = o.batch.bytes; // an upper bound of the encoded size (compression aside)
    if (current.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(o);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function closedError(): ProducerError {
  return new ProducerError(ProducerErrorCode.CLIENT_CLOSED, 'the producer is closed (close() was called)');
}

function invalidPartition(topic: string, partition: number, numPartitions: number): ProducerError {
  return new ProducerError(ProducerErrorCode.INVALID_PARTITION, `partition ${partition} is not a partition of topic ${topic} (it has ${numPartitions})`);
}

function deliveryTimeout(what: string, topic: string, deliveryTimeoutMs: number, cause: Error | null): ProducerError {
  const why = cause === null ? 'no attempt finished' : `last error: ${cause.message}`;
  return new ProducerError(ProducerErrorCode.DELIVERY_TIMEOUT, `record to ${topic} not acknowledged within deliveryTimeoutMs ${deliveryTimeoutMs} (waiting for ${what}; ${why})`, {
    retriable: true,
    kafkaErrorCode: ErrorCode.REQUEST_TIMED_OUT,
    cause: cause ?? undefined,
  });
}

/**
 * acks=0 writes: a request with acks=0 gets no response, which KafkaConnection (one pending response
 * per request) cannot express, so these go over their own plain sockets, one per broker.
 */
