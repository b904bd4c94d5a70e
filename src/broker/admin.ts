// Topic administration over the Kafka protocol: CreateTopics, DeleteTopics, CreatePartitions,
// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs (topics), DeleteRecords,
// DescribeLogDirs, and InitProducerId (idempotent producers).
import { resolve as resolvePath } from 'node:path';
import { ConfigError, HoldfastError } from '../util/index.ts';
import {
  ErrorCode,
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
  type DescribeLogDirsRequest,
  type DescribeLogDirsResponse,
  type DeleteRecordsRequest,
  type DeleteRecordsResponse,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  type DescribeConfigsRequest,
  type DescribeConfigsResponse,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
} from '../protocol/kafka/index.ts';
import type { BrokerContext } from './context.ts';
import type { RequestContext } from './kafka-server.ts';
import { BROKER_KEYS } from './config.ts';
import { OFFSETS_TOPIC } from './groups/offset-store.ts';
import { describeTopicConfigs, effectiveValue, isListConfig, validateTopicConfig, type TopicConfigOverrides } from './topic-config.ts';

/** The names that appear more than once. */
function repeated(names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const n of names) (seen.has(n) ? twice : seen).add(n);
  return twice;
}

function errorOf(err: unknown): { code: number; message: string } {
  if (err instanceof HoldfastError && err.kafkaErrorCode !== undefined) return { code: err.kafkaErrorCode, message: err.message };
  return { code: ErrorCode.UNKNOWN_SERVER_ERROR, message: err instanceof Error ? err.message : String(err) };
}

export async function handleCreateTopics(b: BrokerContext, _ctx: RequestContext, req: CreateTopicsRequest): Promise<CreateTopicsResponse> {
  const twice = repeated(req.topics.map((t) => t.name));
  const topics: CreateTopicsResponse['topics'] = [];
  for (const t of req.topics) {
    const result = { name: t.name, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null };
    topics.push(result);
    const fail = (code: number, message: string): void => {
      result.errorCode = code;
      result.errorMessage = message;
    };
    if (twice.has(t.name)) {
      fail(ErrorCode.INVALID_REQUEST, `topic ${t.name} appears more than once in the request`);
      continue;
    }
    const partitions = t.numPartitions === -1 ? (t.assignments.length > 0 ? t.assignments.length : b.config.numPartitions) : t.numPartitions;
    if (t.replicationFactor !== -1 && t.replicationFactor !== 1) {
      fail(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${t.replicationFactor} is larger than the 1 available broker`);
      continue;
    }
    if (t.assignments.some((a) => a.brokerIds.some((id) => id !== b.config.nodeId))) {
      fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `replica assignment names brokers other than ${b.config.nodeId}`);
      continue;
    }
    const configs: Record<string, string> = {};
    for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
    try {
      if (req.validateOnly) b.validateTopic(t.name, partitions, configs);
      else await b.createTopic(t.name, partitions, configs);
    } catch (err) {
      const e = errorOf(err);
      fail(e.code, e.message);
    }
  }
  return { throttleTimeMs: 0, topics };
}

export async function handleDeleteTopics(b: BrokerContext, _ctx: RequestContext, req: DeleteTopicsRequest): Promise<DeleteTopicsResponse> {
  const responses: DeleteTopicsResponse['responses'] = [];
  for (const name of req.topicNames ?? []) {
    const result = { name, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null };
    responses.push(result);
    if (b.registry.get(name) === undefined) {
      result.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    try {
      await b.deleteTopic(name);
    } catch (err) {
      const e = errorOf(err);
      result.errorCode = e.code;
      result.errorMessage = e.message;
    }
  }
  return { throttleTimeMs: 0, responses };
}

/** Why an explicit assignment of new partitions cannot be used on this one broker (replication factor 1), or null. */
function assignmentProblem(b: BrokerContext, assignments: Array<{ brokerIds: number[] }>): string | null {
  for (const a of assignments) {
    if (a.brokerIds.length === 0) return 'The manual partition assignment includes an empty replica list.';
    const seen = new Set<number>();
    for (const id of a.brokerIds) {
      if (seen.has(id)) return `The manual partition assignment includes the broker ${id} more than once.`;
      seen.add(id);
      if (id !== b.config.nodeId) return `The manual partition assignment includes broker ${id}, but no such broker is registered (this is broker ${b.config.nodeId}).`;
    }
  }
  return null;
}

export async function handleCreatePartitions(b: BrokerContext, _ctx: RequestContext, req: CreatePartitionsRequest): Promise<CreatePartitionsResponse> {
  const twice = repeated(req.topics.map((t) => t.name));
  const results: CreatePartitionsResponse['results'] = [];
  for (const t of req.topics) {
    const result = { name: t.name, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null };
    results.push(result);
    if (twice.has(t.name)) {
      result.errorCode = ErrorCode.INVALID_REQUEST;
      result.errorMessage = 'Duplicate topic name.';
      continue;
    }
    try {
      const problem = t.assignments === null ? null : assignmentProblem(b, t.assignments);
      if (problem !== null) throw new HoldfastError('INVALID_REPLICA_ASSIGNMENT', problem, { kafkaErrorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT });
      b.validatePartitionIncrease(t.name, t.count, t.assignments?.length ?? null);
      if (!req.validateOnly) await b.createPartitions(t.name, t.count);
    } catch (err) {
      const e = errorOf(err);
      result.errorCode = e.code;
      result.errorMessage = e.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ? null : e.message; // Kafka sends no message for an unknown topic
    }
  }
  return { throttleTimeMs: 0, results };
}

/** DeleteRecords' offset meaning "up to the high watermark". */
const DELETE_TO_HIGH_WATERMARK = -1;

/**
 * DeleteRecords: moves each partition's log start offset up to the offset given (-1: the high
 * watermark); whole segments below it are removed. The new start offsets are written to the
 * start-offset checkpoint (fsynced) before the answer; the broker reads that checkpoint when it
 * opens its logs. (No test crashes the broker between the two.)
 */
export async function handleDeleteRecords(b: BrokerContext, _ctx: RequestContext, req: DeleteRecordsRequest): Promise<DeleteRecordsResponse> {
  const topics: DeleteRecordsResponse['topics'] = [];
  let deleted = false;
  for (const t of req.topics) {
    const partitions: DeleteRecordsResponse['topics'][number]['partitions'] = [];
    topics.push({ name: t.name, partitions });
    for (const p of t.partitions) {
      const out = { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: ErrorCode.NONE as number };
      partitions.push(out);
      const log = b.registry.get(t.name) === undefined ? undefined : b.partitionLog(t.name, p.partitionIndex);
      if (log === undefined) {
        out.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (t.name === OFFSETS_TOPIC) {
        out.errorCode = ErrorCode.INVALID_TOPIC_EXCEPTION; // group offsets are trimmed by the broker alone
        continue;
      }
      const offset = p.offset === DELETE_TO_HIGH_WATERMARK ? log.highWatermark : p.offset;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > log.highWatermark) {
        out.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
        continue;
      }
      try {
        await log.deleteRecordsBefore(offset);
        deleted = true;
        out.lowWatermark = log.logStartOffset;
      } catch (err) {
        out.errorCode = errorOf(err).code;
      }
    }
  }
  if (deleted) await b.logs.checkpoint();
  return { throttleTimeMs: 0, topics };
}

/**
 * DescribeLogDirs: the one data directory with the size of each partition asked for (null: all),
 * as Kafka's admin tools and consoles show topic sizes; partitions not here are left out, as Kafka
 * leaves them out. The offset lag is the log end's lead over the high watermark (appends not yet
 * durable under flush.mode=sync).
 */
export function handleDescribeLogDirs(b: BrokerContext, _ctx: RequestContext, req: DescribeLogDirsRequest): DescribeLogDirsResponse {
  const wanted = req.topics === null ? null : new Map(req.topics.map((t) => [t.topic, new Set(t.partitions)]));
  const byTopic = new Map<string, DescribeLogDirsResponse['results'][number]['topics'][number]>();
  for (const log of b.logs.allLogs()) {
    if (b.registry.get(log.topic) === undefined) continue; // a directory no topic owns (see reconcileLogs)
    if (wanted !== null && wanted.get(log.topic)?.has(log.partition) !== true) continue;
    let topic = byTopic.get(log.topic);
    if (topic === undefined) byTopic.set(log.topic, (topic = { name: log.topic, partitions: [] }));
    topic.partitions.push({ partitionIndex: log.partition, partitionSize: log.sizeBytes, offsetLag: Math.max(0, log.logEndOffset - log.highWatermark), isFutureKey: false });
  }
  const topics = [...byTopic.values()].sort((x, y) => x.name.localeCompare(y.name));
  for (const t of topics) t.partitions.sort((x, y) => x.partitionIndex - y.partitionIndex);
  return { throttleTimeMs: 0, results: [{ errorCode: ErrorCode.NONE, logDir: resolvePath(b.config.dataDir), topics }] };
}

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
/** Kafka's DescribeConfigs ConfigType: BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6. */
const CONFIG_TYPE: Record<string, number> = { string: 2, int: 3, long: 5, bool: 1, boolean: 1, double: 6, level: 2, 'topic-defaults': 2 };

type DescribeResult = DescribeConfigsResponse['results'][number];

type AlterResult = AlterConfigsResponse['responses'][number];

/** IncrementalAlterConfigs operations (AlterConfigOp.OpType). */
const OP_SET = 0;
const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_SUBTRACT = 3;
const OP_NAMES = ['SET', 'DELETE', 'APPEND', 'SUBTRACT'];

function invalidRequest(message: string): HoldfastError {
  return new HoldfastError('INVALID_REQUEST', message, { kafkaErrorCode: ErrorCode.INVALID_REQUEST });
}

/** A Kafka list config's items. */
function listItems(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * The shared part of AlterConfigs and IncrementalAlterConfigs: each resource once; topics only
 * (broker configs are read at start); `next` computes the topic's new overrides from its current
 * ones (throwing HoldfastErrors with Kafka codes); then validated, and applied unless validate_only.
 */
async function alterConfigs<R extends { resourceType: number; resourceName: string; configs: Array<{ name: string; value: string | null }> }>(
  b: BrokerContext,
  resources: readonly R[],
  validateOnly: boolean,
  nullAllowed: (config: R['configs'][number]) => boolean,
  next: (resource: R, current: Readonly<TopicConfigOverrides>) => TopicConfigOverrides,
): Promise<AlterResult[]> {
  const id = (r: R): string => `${r.resourceType}:${r.resourceName}`;
  const twice = repeated(resources.map(id));
  const responses: AlterResult[] = [];
  for (const r of resources) {
    const out: AlterResult = { errorCode: ErrorCode.NONE, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName };
    responses.push(out);
    try {
      if (twice.has(id(r))) throw invalidRequest(`resource ${r.resourceName} (type ${r.resourceType}) appears more than once in the request`);
      // Kafka's checks, in Kafka's words (ConfigAdminManager).
      if (repeated(r.configs.map((c) => c.name)).size > 0) throw invalidRequest('Error due to duplicate config keys');
      const nulls = r.configs.filter((c) => c.value === null && !nullAllowed(c)).map((c) => c.name);
      if (nulls.length > 0) throw invalidRequest(`Null value not supported for : ${nulls.join(', ')}`);
      if (r.resourceType === RESOURCE_BROKER) {
        throw invalidRequest(`broker configs cannot be changed while it runs: set them in holdfast.yaml and restart broker ${b.config.nodeId}`);
      }
      if (r.resourceType !== RESOURCE_TOPIC) throw invalidRequest(`resource type ${r.resourceType} is not supported`);
      const topic = b.registry.get(r.resourceName);
      if (topic === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${r.resourceName}`, { kafkaErrorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
      if (validateOnly) b.validateTopicConfigChange(r.resourceName, next(r, topic.configs));
      // Computed from the configs as the changes queued before it leave them.
      else await b.alterTopicConfigs(r.resourceName, (current) => next(r, current));
    } catch (err) {
      const e = errorOf(err);
      out.errorCode = e.code;
      out.errorMessage = e.message;
    }
  }
  return responses;
}

/** AlterConfigs: the topic's overrides become exactly the configs given (Kafka's legacy, replacing semantics). */
export async function handleAlterConfigs(b: BrokerContext, _ctx: RequestContext, req: AlterConfigsRequest): Promise<AlterConfigsResponse> {
  const responses = await alterConfigs(b, req.resources, req.validateOnly, () => false, (r) => {
    const out: TopicConfigOverrides = {};
    for (const c of r.configs) out[c.name] = c.value as string;
    return out;
  });
  return { throttleTimeMs: 0, responses };
}

/** IncrementalAlterConfigs: SET, DELETE (back to the default), APPEND and SUBTRACT (list configs: cleanup.policy). */
export async function handleIncrementalAlterConfigs(b: BrokerContext, _ctx: RequestContext, req: IncrementalAlterConfigsRequest): Promise<IncrementalAlterConfigsResponse> {
  const responses = await alterConfigs(b, req.resources, req.validateOnly, (c) => c.configOperation === OP_DELETE, (r, current) => {
    const out: TopicConfigOverrides = { ...current };
    for (const c of r.configs) {
      validateTopicConfig(c.name, null, r.resourceName); // the key must be known, whatever the operation
      switch (c.configOperation) {
        case OP_SET:
          out[c.name] = c.value as string;
          break;
        case OP_DELETE:
          delete out[c.name];
          break;
        case OP_APPEND:
        case OP_SUBTRACT: {
          if (!isListConfig(c.name)) throw new ConfigError(`Can't ${OP_NAMES[c.configOperation]} to key ${c.name} because its type is not LIST.`);
          const items = listItems(effectiveValue(c.name, out, b.config.topicDefaults));
          const given = listItems(c.value as string);
          const result = c.configOperation === OP_APPEND ? [...items, ...given.filter((v) => !items.includes(v))] : items.filter((v) => !given.includes(v));
          out[c.name] = result.join(',');
          break;
        }
        default:
          throw invalidRequest(`Unknown operation type ${c.configOperation}`);
      }
    }
    return out;
  });
  return { throttleTimeMs: 0, responses };
}

export function handleDescribeConfigs(b: BrokerContext, ctx: RequestContext, req: DescribeConfigsRequest): DescribeConfigsResponse {
  const results: DescribeResult[] = req.resources.map((r) => {
    const base = { errorCode: ErrorCode.NONE as number, errorMessage: null as string | null, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] as DescribeResult['configs'] };
    if (r.resourceType === RESOURCE_TOPIC) {
      const topic = b.registry.get(r.resourceName);
      if (topic === undefined) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `unknown topic ${r.resourceName}` };
      base.configs = describeTopicConfigs(topic.configs, b.config.topicDefaults, r.configurationKeys).map((c) => ({
        name: c.name,
        value: c.value,
        readOnly: false,
        isDefault: c.isDefault,
        configSource: c.source,
        isSensitive: false,
        synonyms: [],
        configType: CONFIG_TYPE[c.type] ?? 0,
        documentation: req.includeDocumentation ? c.doc : null,
      }));
      return base;
    }
    if (r.resourceType === RESOURCE_BROKER) {
      if (r.resourceName !== '' && r.resourceName !== String(b.config.nodeId)) {
        return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown broker ${r.resourceName}; this is broker ${b.config.nodeId}` };
      }
      const wanted = r.configurationKeys;
      base.configs = Object.entries(BROKER_KEYS)
        .filter(([key, spec]) => spec.type !== 'topic-defaults' && (wanted === null || wanted.length === 0 || wanted.includes(key)))
        .map(([key, spec]) => ({
          name: key,
          value: String((b.config as unknown as Record<string, unknown>)[spec.field]),
          readOnly: true,
          isDefault: false,
          configSource: 4,
          isSensitive: false,
          synonyms: [],
          configType: CONFIG_TYPE[spec.type] ?? 0,
          documentation: req.includeDocumentation ? spec.doc : null,
        }));
      return base;
    }
    return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `resource type ${r.resourceType} is not supported` };
  });
  void ctx;
  return { throttleTimeMs: 0, results };
}

export async function handleInitProducerId(b: BrokerContext, _ctx: RequestContext, req: InitProducerIdRequest): Promise<InitProducerIdResponse> {
  if (req.transactionalId !== null) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, producerId: -1, producerEpoch: -1 };
  }
  const producerId = await b.registry.allocateProducerId();
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
}
