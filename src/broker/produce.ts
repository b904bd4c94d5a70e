// Produce: validate each partition's single RecordBatch, apply idempotence, append, and answer once
// the appends are durable (flush.mode=sync: fsynced). Everything up to the append runs
// synchronously, so appends keep the order in which requests arrived on the connection.
import { HoldfastError, ownedCopy } from '../util/index.ts';
import { splitBatches, validateProducedBatch, RecordError, isTransactional, type TimestampBounds } from '../record/index.ts';
import { ErrorCode, type ProduceRequest, type ProduceResponse } from '../protocol/kafka/index.ts';
import type { BrokerContext } from './context.ts';
import type { EffectiveTopicConfig } from './topic-config.ts';
import type { RequestContext } from './kafka-server.ts';
import { PRODUCE_MIN_SERVED } from './versions.ts';

type PartitionResponse = ProduceResponse['responses'][number]['partitionResponses'][number];

/** Decompressed bytes one produced batch may inflate to while validating. */
const MAX_DECOMPRESSED_FACTOR = 16;
const MAX_DECOMPRESSED_FLOOR_BYTES = 64 * 1024 * 1024;

function partitionError(index: number, errorCode: number, errorMessage: string | null): PartitionResponse {
  return { index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, recordErrors: [], errorMessage };
}

/**
 * The log keeps the appended buffer (write queue, tail cache; the tail cache bounds the memory its
 * entries pin, whole underlying buffers counted). A batch is kept as a view of the request frame;
 * a small one is copied, so that it does not pin a receive buffer many times its size, into memory
 * of its own, not a slice of Node's 64 KiB pool (ownedCopy).
 */
const COPY_BELOW_BYTES = 4096;
function ownedBatch(records: Buffer, pos: number, size: number): Buffer {
  if (size >= COPY_BELOW_BYTES || records.buffer.byteLength <= size * 2 + 4096) return records.subarray(pos, pos + size);
  return ownedCopy(records.subarray(pos, pos + size));
}

interface Pending {
  response: PartitionResponse;
  durable: Promise<void> | null;
}

/** The record timestamps a CreateTime topic accepts now (message.timestamp.*.max.ms), or undefined when unbounded. */
function timestampBounds(b: BrokerContext, cfg: EffectiveTopicConfig): TimestampBounds | undefined {
  if (cfg.logAppendTime || (cfg.timestampBeforeMaxMs === Infinity && cfg.timestampAfterMaxMs === Infinity)) return undefined;
  const now = b.clock.nowMs();
  return { min: now - cfg.timestampBeforeMaxMs, max: now + cfg.timestampAfterMaxMs };
}

/** A single node: each partition has exactly one replica, always in sync. */
const IN_SYNC_REPLICAS = 1;

function appendOne(b: BrokerContext, topic: string, index: number, records: Buffer | null, acks: number): Pending {
  if (topic.startsWith('__')) return { response: partitionError(index, ErrorCode.INVALID_TOPIC_EXCEPTION, `topic ${topic} is internal: clients may not produce to it`), durable: null };
  const log = b.partitionLog(topic, index);
  if (log === undefined) return { response: partitionError(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic-partition ${topic}-${index}`), durable: null };
  if (log.state !== 'online') return { response: partitionError(index, ErrorCode.KAFKA_STORAGE_ERROR, `partition ${topic}-${index} is ${log.state}: ${log.offlineReason ?? ''}`), durable: null };
  if (records === null || records.length === 0) return { response: partitionError(index, ErrorCode.CORRUPT_MESSAGE, 'no records'), durable: null };
  const cfg = b.topicConfig(topic);
  // As Kafka's leader does, before looking at the records: acks=all cannot be met.
  if (acks === -1 && cfg.minInsyncReplicas > IN_SYNC_REPLICAS) {
    return { response: partitionError(index, ErrorCode.NOT_ENOUGH_REPLICAS, `topic ${topic} has min.insync.replicas=${cfg.minInsyncReplicas} but partition ${index} has ${IN_SYNC_REPLICAS} in-sync replica (a single node): acks=all cannot be satisfied`), durable: null };
  }
  try {
    const batches = splitBatches(records, 2);
    if (batches.length !== 1) {
      return { response: partitionError(index, ErrorCode.INVALID_RECORD, `a produce request must carry exactly one record batch per partition, got ${batches.length}`), durable: null };
    }
    const { pos, size } = batches[0];
    const { header } = validateProducedBatch(records, pos, size, {
      maxBatchBytes: cfg.maxMessageBytes,
      maxDecompressedBytes: Math.max(MAX_DECOMPRESSED_FLOOR_BYTES, cfg.maxMessageBytes * MAX_DECOMPRESSED_FACTOR),
      validateRecords: true,
      timestamps: timestampBounds(b, cfg),
    });
    if (isTransactional(header.attributes)) {
      return { response: partitionError(index, ErrorCode.INVALID_TXN_STATE, 'transactional batches are not supported yet'), durable: null };
    }
    const check = log.producers.check(header);
    if (check.kind === 'duplicate') {
      // An exact retry: success with the offsets the original append got (Kafka's rule) — once the
      // original is durable: it may still be waiting for its fsync.
      return { response: { ...partitionError(index, ErrorCode.NONE, null), baseOffset: check.baseOffset, logStartOffset: log.logStartOffset }, durable: check.lastOffset < log.highWatermark ? null : log.flush() };
    }
    if (check.kind === 'error') return { response: partitionError(index, check.errorCode, check.message), durable: null };
    const refused = b.disk.admit(size);
    if (refused !== null) return { response: partitionError(index, ErrorCode.KAFKA_STORAGE_ERROR, refused), durable: null };
    const batch = ownedBatch(records, pos, size);
    const appendTimeMs = cfg.logAppendTime ? b.clock.nowMs() : undefined;
    // validateProducedBatch verified the CRC of these bytes.
    const appended = log.append(batch, { leaderEpoch: 0, logAppendTimeMs: appendTimeMs, crcVerified: true });
    return {
      response: { ...partitionError(index, ErrorCode.NONE, null), baseOffset: appended.baseOffset, logAppendTimeMs: appendTimeMs ?? -1, logStartOffset: log.logStartOffset },
      durable: appended.durable,
    };
  } catch (err) {
    if (err instanceof RecordError && err.kafkaErrorCode === ErrorCode.INVALID_TIMESTAMP && err.recordIndex !== undefined) {
      // As Kafka: the batch is refused, and record_errors name the record at fault.
      const message = `topic ${topic}: ${err.message}: message.timestamp.before.max.ms is ${cfg.timestampBeforeMaxMs} and message.timestamp.after.max.ms ${cfg.timestampAfterMaxMs} around the broker's time`;
      return { response: { ...partitionError(index, ErrorCode.INVALID_TIMESTAMP, message), recordErrors: [{ batchIndex: err.recordIndex, batchIndexErrorMessage: message }] }, durable: null };
    }
    if (err instanceof RecordError) return { response: partitionError(index, err.kafkaErrorCode ?? ErrorCode.CORRUPT_MESSAGE, err.message), durable: null };
    if (err instanceof HoldfastError && err.kafkaErrorCode !== undefined) return { response: partitionError(index, err.kafkaErrorCode, err.message), durable: null };
    throw err;
  }
}

export function handleProduce(b: BrokerContext, ctx: RequestContext, req: ProduceRequest): ProduceResponse | Promise<ProduceResponse | null> | null {
  const tooOld = ctx.apiVersion < PRODUCE_MIN_SERVED;
  const badAcks = req.acks !== 0 && req.acks !== 1 && req.acks !== -1;
  const pending: Pending[] = [];
  const responses = req.topicData.map((t) => ({
    name: t.name,
    partitionResponses: t.partitionData.map((p) => {
      let one: Pending;
      if (tooOld) one = { response: partitionError(p.index, ErrorCode.UNSUPPORTED_VERSION, 'produce v0-2 (message format v0/v1) is not supported'), durable: null };
      else if (badAcks) one = { response: partitionError(p.index, ErrorCode.INVALID_REQUIRED_ACKS, `acks must be -1, 0 or 1, got ${req.acks}`), durable: null };
      else if (req.transactionalId) one = { response: partitionError(p.index, ErrorCode.INVALID_TXN_STATE, 'transactions are not supported yet'), durable: null };
      else one = appendOne(b, t.name, p.index, p.records, req.acks);
      pending.push(one);
      return one.response;
    }),
  }));
  const response: ProduceResponse = { responses, throttleTimeMs: 0 };
  // acks=0 gets no answer, but the request keeps its place on the connection until its appends are
  // written, as Kafka handles it until appended: a client sending faster than the disk writes is then
  // held by max.inflight.requests.per.connection instead of queueing writes in the broker's memory.
  const answer = req.acks === 0 && !badAcks ? null : response;
  const waits = pending.filter((p) => p.durable !== null);
  if (waits.length === 0) return answer;
  return Promise.all(
    waits.map((p) =>
      (p.durable as Promise<void>).catch((err: unknown) => {
        // The append is not durable: report failure; the broker is stopping (a failed fsync is fatal).
        p.response.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        p.response.baseOffset = -1;
        p.response.errorMessage = err instanceof Error ? err.message : String(err);
      }),
    ),
  ).then(() => answer);
}
