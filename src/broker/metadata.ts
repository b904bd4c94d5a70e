// Metadata, ApiVersions and ListOffsets: how clients discover this broker and positions in logs.
import { receiveSlabs } from '../util/index.ts';
import { ErrorCode, type MetadataRequest, type MetadataResponse, type ApiVersionsResponse, type ListOffsetsRequest, type ListOffsetsResponse } from '../protocol/kafka/index.ts';
import { decodeBatch } from '../record/index.ts';
import type { PartitionLog } from '../storage/index.ts';
import type { BrokerContext } from './context.ts';
import type { RequestContext } from './kafka-server.ts';
import { invalidTopicNameReason, type TopicRecord } from './topics.ts';
import { SUPPORTED_VERSIONS } from './versions.ts';

type MetadataTopic = MetadataResponse['topics'][number];

export function handleApiVersions(): ApiVersionsResponse {
  return {
    errorCode: ErrorCode.NONE,
    apiKeys: [...SUPPORTED_VERSIONS].map(([apiKey, [minVersion, maxVersion]]) => ({ apiKey, minVersion, maxVersion })),
    throttleTimeMs: 0,
  };
}

function describeTopic(b: BrokerContext, topic: TopicRecord): MetadataTopic {
  const node = b.config.nodeId;
  const partitions = [];
  for (let i = 0; i < topic.partitions; i++) {
    const log = b.partitionLog(topic.name, i);
    const online = log !== undefined && log.state === 'online';
    partitions.push({
      errorCode: online ? ErrorCode.NONE : ErrorCode.KAFKA_STORAGE_ERROR,
      partitionIndex: i,
      leaderId: online ? node : -1,
      leaderEpoch: 0,
      replicaNodes: [node],
      isrNodes: online ? [node] : [],
      offlineReplicas: online ? [] : [node],
    });
  }
  return { errorCode: ErrorCode.NONE, name: topic.name, topicId: topic.topicId, isInternal: topic.name.startsWith('__'), partitions };
}

function missingTopic(name: string, errorCode: number): MetadataTopic {
  return { errorCode, name, isInternal: false, partitions: [] };
}

export async function handleMetadata(b: BrokerContext, ctx: RequestContext, req: MetadataRequest): Promise<MetadataResponse> {
  // v0: an empty list means every topic; v1+: null means every topic and [] means none.
  const all = req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0);
  const allowCreate = b.config.autoCreateTopics && (ctx.apiVersion < 4 || req.allowAutoTopicCreation !== false);
  const topics: MetadataTopic[] = [];
  if (all) {
    for (const t of b.registry.list()) topics.push(describeTopic(b, t));
  } else {
    for (const requested of req.topics ?? []) {
      const name = requested.name ?? '';
      let record = b.registry.get(name);
      if (record === undefined) {
        if (invalidTopicNameReason(name) !== null) {
          topics.push(missingTopic(name, ErrorCode.INVALID_TOPIC_EXCEPTION));
          continue;
        }
        if (!allowCreate) {
          topics.push(missingTopic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
          continue;
        }
        try {
          record = await b.createTopic(name, b.config.numPartitions, {});
        } catch (err) {
          b.logger.warn('auto-create failed', { topic: name, err });
          topics.push(missingTopic(name, ErrorCode.LEADER_NOT_AVAILABLE));
          continue;
        }
      }
      topics.push(describeTopic(b, record));
    }
  }
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: b.config.nodeId, host: b.advertised.host, port: b.advertised.port, rack: null }],
    clusterId: b.registry.identity.clusterId,
    controllerId: b.config.nodeId,
    topics,
  };
}

/**
 * Kafka's ListOffsets by time: the first record whose timestamp is at or after `timestampMs`.
 * Storage finds the first batch whose max timestamp qualifies; the record is found inside it.
 */
async function offsetForTimestamp(log: PartitionLog, timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> {
  const batch = await log.offsetForTimestamp(timestampMs);
  if (batch === null || batch.offset >= log.highWatermark) return null;
  const read = await log.read(batch.offset, 1);
  try {
    if (read.bytes === 0) return batch;
    const first = read.chunks[0];
    const decoded = decodeBatch(first.length >= read.bytes ? first : Buffer.concat(read.chunks), 0);
    for (const r of decoded.records) {
      if (r.offset >= batch.offset && r.timestamp >= timestampMs) return { offset: r.offset, timestampMs: r.timestamp };
    }
    return batch;
  } finally {
    for (const c of read.chunks) receiveSlabs.release(c);
  }
}

const LATEST = -1;
const EARLIEST = -2;

export async function handleListOffsets(b: BrokerContext, ctx: RequestContext, req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
  const topics: ListOffsetsResponse['topics'] = [];
  for (const t of req.topics) {
    const partitions: ListOffsetsResponse['topics'][number]['partitions'] = [];
    topics.push({ name: t.name, partitions });
    for (const p of t.partitions) {
      const out = { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE as number, oldStyleOffsets: [] as number[], timestamp: -1, offset: -1, leaderEpoch: -1 };
      partitions.push(out);
      const log = b.partitionLog(t.name, p.partitionIndex);
      if (log === undefined) {
        out.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (log.state !== 'online') {
        out.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        continue;
      }
      if (p.timestamp === LATEST) out.offset = log.highWatermark;
      else if (p.timestamp === EARLIEST) out.offset = log.logStartOffset;
      else if (p.timestamp < 0) out.errorCode = ErrorCode.UNSUPPORTED_VERSION;
      else {
        const found = await offsetForTimestamp(log, p.timestamp);
        if (found !== null) {
          out.offset = found.offset;
          out.timestamp = found.timestampMs;
        }
      }
      if (out.offset >= 0) out.leaderEpoch = 0;
      if (ctx.apiVersion === 0 && out.offset >= 0) out.oldStyleOffsets = [out.offset];
    }
  }
  return { throttleTimeMs: 0, topics };
}
