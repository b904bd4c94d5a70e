// Admin: topics and their configs, groups, committed offsets, offset resets and consumer lag over
// the Kafka protocol. It talks to the first broker that answers (Holdfast runs one node today;
// cluster routing comes with it). Every failure is a typed error: broker answers become
// KafkaProtocolError with Kafka's error name as `code`, naming the topic or group concerned.
import { HoldfastError } from '../util/index.ts';
import {
  API_KEYS,
  ErrorCode,
  type DeleteRecordsResponse,
  type DescribeLogDirsResponse,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  type DeleteGroupsResponse,
  type DeleteTopicsResponse,
  type DescribeConfigsResponse,
  type DescribeGroupsResponse,
  type ListGroupsResponse,
  type ListOffsetsResponse,
  type MetadataResponse,
  type OffsetCommitResponse,
  type OffsetFetchResponse,
} from '../protocol/kafka/index.ts';
import { decodeAssignment } from './assignor.ts';
import { KafkaConnection, KafkaProtocolError, parseBroker } from './connection.ts';

export interface AdminOptions {
  /** Bootstrap brokers, 'host:port'. */
  brokers: string[];
  /** @default 'holdfast-admin' */
  clientId?: string;
  /** @default 30000 */
  requestTimeoutMs?: number;
}

export interface NewTopic {
  /** Topic name: 1-249 characters of [a-zA-Z0-9._-]. */
  name: string;
  /** @default the broker's num.partitions */
  partitions?: number;
  /** A single Holdfast node has one replica. @default the broker's default */
  replicationFactor?: number;
  /** Topic configs such as `flush.mode` or `retention.ms` (see the README's topic config table). @default {} */
  configs?: Record<string, string>;
}

export interface TopicPartitionInfo {
  partition: number;
  /** Node id of the leader; -1 when there is none. */
  leader: number;
  replicas: number[];
  isr: number[];
  /** Kafka error code of this partition in Metadata (0 = none). */
  errorCode: number;
  /** First offset still in the log. */
  logStartOffset: number;
  /** Offset the next record will get (what consumers can read up to). */
  highWatermark: number;
  /** Bytes of the partition's log on disk (DescribeLogDirs); -1 when the broker connected to does not hold it or does not say. */
  sizeBytes: number;
}

export interface TopicDescription {
  name: string;
  internal: boolean;
  partitions: TopicPartitionInfo[];
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  /** Where the value comes from: 'topic' (set on the topic), 'broker-default', 'default', … */
  source: string;
  readOnly: boolean;
  sensitive: boolean;
}

/** Where `resetOffsets` moves a group: earliest, latest, or the first record at or after a time. */
export type OffsetResetTarget = 'earliest' | 'latest' | { timestamp: number };

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Committed offset, or -1 when the group has none for this partition. */
  committedOffset: number;
  highWatermark: number;
  logStartOffset: number;
  /** Messages not yet committed: highWatermark - committed (from the log start when nothing is committed). */
  lag: number;
  metadata: string | null;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: Array<{ memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; assignment: Array<{ topic: string; partitions: number[] }> }>;
}

/** A member's assignment, when it is a consumer-protocol one; other protocols show nothing. */
function consumerAssignment(buf: Buffer): Array<{ topic: string; partitions: number[] }> {
  try {
    return decodeAssignment(buf).assigned;
  } catch {
    return [];
  }
}

export class Admin {
  private readonly options: AdminOptions;
  private conn: KafkaConnection | null = null;

  constructor(options: AdminOptions) {
    if (options.brokers.length === 0) throw new HoldfastError('INVALID_CONFIG', 'Admin needs at least one broker address');
    this.options = options;
  }

  private async connection(): Promise<KafkaConnection> {
    if (this.conn !== null && !this.conn.closed) return this.conn;
    let last: unknown;
    for (const address of this.options.brokers) {
      try {
        this.conn = await KafkaConnection.open({ ...parseBroker(address), clientId: this.options.clientId ?? 'holdfast-admin', requestTimeoutMs: this.options.requestTimeoutMs });
        return this.conn;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async listTopics(): Promise<Array<{ name: string; partitions: number; internal: boolean }>> {
    const res = await this.metadata(null);
    return res.topics
      .map((t) => ({ name: t.name ?? '', partitions: t.partitions.length, internal: t.isInternal ?? false }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Creates topics. Resolves once the broker has created all of them; rejects with the first
   * failure (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG, … naming the topic) after
   * the others were attempted. Set `ifNotExists` to treat an existing topic as success.
   */
  async createTopics(topics: NewTopic[], options: { ifNotExists?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (topics.length === 0) return;
    const c = await this.connection();
    const body: CreateTopicsRequest = {
      topics: topics.map((t) => ({
        name: t.name,
        numPartitions: t.partitions ?? -1,
        replicationFactor: t.replicationFactor ?? -1,
        assignments: [],
        configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
      timeoutMs: options.timeoutMs ?? 30000,
      validateOnly: false,
    };
    const res = await c.request<CreateTopicsResponse>(API_KEYS.CreateTopics, c.version(API_KEYS.CreateTopics, 0, 4), body);
    for (const t of res.topics) {
      if (t.errorCode === ErrorCode.NONE) continue;
      if (t.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS && options.ifNotExists === true) continue;
      throw new KafkaProtocolError(t.errorCode, `create topic ${t.name}${t.errorMessage ? `: ${t.errorMessage}` : ''}`);
    }
  }

  /**
   * Grows a topic to `partitions` partitions (never shrinks: INVALID_PARTITIONS names the current
   * count). Keys map to partitions by their hash modulo the count, so a key's later records may go
   * to another partition than its earlier ones.
   */
  async createPartitions(topic: string, partitions: number, options: { timeoutMs?: number; validateOnly?: boolean } = {}): Promise<void> {
    const c = await this.connection();
    const body: CreatePartitionsRequest = { topics: [{ name: topic, count: partitions, assignments: null }], timeoutMs: options.timeoutMs ?? 30000, validateOnly: options.validateOnly ?? false };
    const res = await c.request<CreatePartitionsResponse>(API_KEYS.CreatePartitions, c.version(API_KEYS.CreatePartitions, 0, 1), body);
    for (const r of res.results) {
      if (r.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(r.errorCode, `add partitions to topic ${r.name}${r.errorMessage ? `: ${r.errorMessage}` : ''}`);
    }
  }

  /**
   * Deletes the records of each partition before the offset given (DeleteRecords; -1 for all up
   * to the high watermark): consumers then start at the new log start offset. Resolves to the new
   * log start offset per partition; rejects with OFFSET_OUT_OF_RANGE naming the partition for an
   * offset above its high watermark, after the others were done.
   */
  async deleteRecords(topic: string, before: Record<number, number>, options: { timeoutMs?: number } = {}): Promise<Map<number, number>> {
    const c = await this.connection();
    const partitions = Object.entries(before).map(([p, offset]) => ({ partitionIndex: Number(p), offset }));
    const res = await c.request<DeleteRecordsResponse>(API_KEYS.DeleteRecords, c.version(API_KEYS.DeleteRecords, 0, 1), { topics: [{ name: topic, partitions }], timeoutMs: options.timeoutMs ?? 30000 });
    const out = new Map<number, number>();
    for (const p of res.topics[0]?.partitions ?? []) {
      if (p.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(p.errorCode, `delete records of ${topic}-${p.partitionIndex} before ${before[p.partitionIndex]}`);
      out.set(p.partitionIndex, p.lowWatermark);
    }
    return out;
  }

  /** Deletes topics and their data; rejects with UNKNOWN_TOPIC_OR_PARTITION naming a topic that does not exist. */
  async deleteTopics(names: string[], options: { timeoutMs?: number } = {}): Promise<void> {
    if (names.length === 0) return;
    const c = await this.connection();
    const res = await c.request<DeleteTopicsResponse>(API_KEYS.DeleteTopics, c.version(API_KEYS.DeleteTopics, 0, 3), { topicNames: names, topics: [], timeoutMs: options.timeoutMs ?? 30000 });
    for (const r of res.responses) {
      if (r.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(r.errorCode, `delete topic ${r.name ?? ''}${r.errorMessage ? `: ${r.errorMessage}` : ''}`);
    }
  }

  /** Partitions of each topic with leaders and offsets; rejects with UNKNOWN_TOPIC_OR_PARTITION naming a missing topic. */
  async describeTopics(names: string[]): Promise<TopicDescription[]> {
    if (names.length === 0) return [];
    const res = await this.metadata(names);
    const out: TopicDescription[] = [];
    for (const t of res.topics) {
      if (t.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(t.errorCode, `describe topic ${t.name ?? ''}`);
      out.push({
        name: t.name ?? '',
        internal: t.isInternal ?? false,
        partitions: t.partitions
          .map((p) => ({ partition: p.partitionIndex, leader: p.leaderId, replicas: p.replicaNodes, isr: p.isrNodes, errorCode: p.errorCode, logStartOffset: -1, highWatermark: -1, sizeBytes: -1 }))
          .sort((a, b) => a.partition - b.partition),
      });
    }
    const all = out.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
    if (all.length > 0) {
      const ends = await this.offsets(all, -1);
      const starts = await this.offsets(all, -2);
      for (const t of out) {
        for (const p of t.partitions) {
          p.highWatermark = ends.get(`${t.name}\u0000${p.partition}`) ?? -1;
          p.logStartOffset = starts.get(`${t.name}\u0000${p.partition}`) ?? -1;
        }
      }
      const sizes = await this.logSizes(out.map((t) => ({ topic: t.name, partitions: t.partitions.map((p) => p.partition) })));
      for (const t of out) for (const p of t.partitions) p.sizeBytes = sizes.get(`${t.name}\u0000${p.partition}`) ?? -1;
    }
    return out;
  }

  /** Partition sizes from DescribeLogDirs on the broker connected to; empty when it does not serve the API. */
  private async logSizes(topics: Array<{ topic: string; partitions: number[] }>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const c = await this.connection();
    let version: number;
    try {
      version = c.version(API_KEYS.DescribeLogDirs, 0, 1);
    } catch {
      return out;
    }
    const res = await c.request<DescribeLogDirsResponse>(API_KEYS.DescribeLogDirs, version, { topics });
    for (const dir of res.results) {
      if (dir.errorCode !== ErrorCode.NONE) continue;
      for (const t of dir.topics) for (const p of t.partitions) if (!p.isFutureKey) out.set(`${t.name}\u0000${p.partitionIndex}`, p.partitionSize);
    }
    return out;
  }

  /**
   * Changes a topic's configs (IncrementalAlterConfigs): `set` gives keys a value, `remove` puts
   * keys back to their default; every other config keeps its value. Rejects with INVALID_CONFIG
   * naming the key and the rule for a value the broker refuses, and changes nothing then.
   */
  async alterTopicConfigs(topic: string, changes: { set?: Record<string, string>; remove?: string[] }, options: { validateOnly?: boolean } = {}): Promise<void> {
    const configs = [
      ...Object.entries(changes.set ?? {}).map(([name, value]) => ({ name, configOperation: 0, value })),
      ...(changes.remove ?? []).map((name) => ({ name, configOperation: 1, value: null })),
    ];
    if (configs.length === 0) return;
    const c = await this.connection();
    const body: IncrementalAlterConfigsRequest = { resources: [{ resourceType: 2, resourceName: topic, configs }], validateOnly: options.validateOnly ?? false };
    const res = await c.request<IncrementalAlterConfigsResponse>(API_KEYS.IncrementalAlterConfigs, c.version(API_KEYS.IncrementalAlterConfigs, 0, 0), body);
    for (const r of res.responses) {
      if (r.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(r.errorCode, `alter configs of topic ${r.resourceName}${r.errorMessage ? `: ${r.errorMessage}` : ''}`);
    }
  }

  /** The topic's effective configs (explicit and defaults), sorted by name. */
  async describeTopicConfigs(topic: string): Promise<ConfigEntry[]> {
    const c = await this.connection();
    const v = c.version(API_KEYS.DescribeConfigs, 0, 3);
    const res = await c.request<DescribeConfigsResponse>(API_KEYS.DescribeConfigs, v, {
      resources: [{ resourceType: 2, resourceName: topic, configurationKeys: null }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    const r = res.results[0];
    if (r === undefined) throw new KafkaProtocolError(ErrorCode.UNKNOWN_SERVER_ERROR, `describe configs of ${topic}: empty answer`);
    if (r.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(r.errorCode, `describe configs of topic ${topic}${r.errorMessage ? `: ${r.errorMessage}` : ''}`);
    return r.configs
      .map((e) => ({ name: e.name, value: e.value, source: configSourceName(e.configSource, e.isDefault), readOnly: e.readOnly, sensitive: e.isSensitive }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async listGroups(): Promise<Array<{ groupId: string; protocolType: string; state: string }>> {
    const c = await this.connection();
    const v = c.version(API_KEYS.ListGroups, 0, 2);
    const res = await c.request<ListGroupsResponse>(API_KEYS.ListGroups, v, {});
    if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'ListGroups');
    return res.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, state: g.groupState ?? '' }));
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    const c = await this.connection();
    const res = await c.request<DescribeGroupsResponse>(API_KEYS.DescribeGroups, c.version(API_KEYS.DescribeGroups, 0, 4), { groups: [groupId], includeAuthorizedOperations: false });
    const g = res.groups[0];
    if (g.errorCode !== 0) throw new KafkaProtocolError(g.errorCode, `DescribeGroups ${groupId}`);
    return {
      groupId,
      state: g.groupState,
      protocolType: g.protocolType,
      protocol: g.protocolData,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId ?? null,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: g.protocolType === 'consumer' ? consumerAssignment(m.memberAssignment) : [],
      })),
    };
  }

  /** Deletes groups with no members and their committed offsets; NON_EMPTY_GROUP or GROUP_ID_NOT_FOUND name the group. */
  async deleteGroups(groupIds: string[]): Promise<void> {
    if (groupIds.length === 0) return;
    const c = await this.connection();
    const res = await c.request<DeleteGroupsResponse>(API_KEYS.DeleteGroups, c.version(API_KEYS.DeleteGroups, 0, 1), { groupsNames: groupIds });
    for (const r of res.results) if (r.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(r.errorCode, `delete group ${r.groupId}`);
  }

  /** Committed offsets of a group (only partitions it has committed). */
  async fetchOffsets(groupId: string): Promise<Array<{ topic: string; partition: number; offset: number; metadata: string | null }>> {
    const c = await this.connection();
    const fetched = await c.request<OffsetFetchResponse>(API_KEYS.OffsetFetch, c.version(API_KEYS.OffsetFetch, 2, 5), { groupId, topics: null });
    if ((fetched.errorCode ?? 0) !== 0) throw new KafkaProtocolError(fetched.errorCode ?? -1, `OffsetFetch ${groupId}`);
    const out: Array<{ topic: string; partition: number; offset: number; metadata: string | null }> = [];
    for (const t of fetched.topics ?? []) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(p.errorCode, `OffsetFetch ${groupId} ${t.name}-${p.partitionIndex}`);
        if (p.committedOffset >= 0) out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata });
      }
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  /**
   * Moves a group's committed offsets for every partition of `topics` (all partitions the group
   * has committed when omitted) to the earliest offset, the latest, or the first record at or after
   * a timestamp (the latest when there is none). The group must have no active members — like
   * Kafka's kafka-consumer-groups, this refuses with NON_EMPTY_GROUP otherwise. Returns the new
   * offsets; with `dryRun` computes them without committing.
   */
  async resetOffsets(groupId: string, target: OffsetResetTarget, options: { topics?: string[]; dryRun?: boolean } = {}): Promise<Array<{ topic: string; partition: number; offset: number }>> {
    const topics = options.topics;
    const description = await this.describeGroupIfExists(groupId);
    if (description !== null && description.state !== 'Empty' && description.state !== 'Dead') {
      throw new KafkaProtocolError(ErrorCode.NON_EMPTY_GROUP, `reset offsets of group ${groupId}: it has ${description.members.length} active member(s) (state ${description.state}); stop its consumers first`);
    }
    let partitions: Array<{ topic: string; partition: number }>;
    if (topics === undefined || topics.length === 0) {
      partitions = (await this.fetchOffsets(groupId)).map((o) => ({ topic: o.topic, partition: o.partition }));
      if (partitions.length === 0) throw new HoldfastError('INVALID_REQUEST', `reset offsets of group ${groupId}: it has no committed offsets; name the topics to reset`);
    } else {
      partitions = (await this.describeTopics(topics)).flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
    }
    const key = (p: { topic: string; partition: number }): string => `${p.topic}\u0000${p.partition}`;
    let targets: Map<string, number>;
    if (target === 'earliest') targets = await this.offsets(partitions, -2);
    else if (target === 'latest') targets = await this.offsets(partitions, -1);
    else {
      if (!Number.isSafeInteger(target.timestamp) || target.timestamp < 0) throw new HoldfastError('INVALID_REQUEST', `reset offsets: timestamp ${String(target.timestamp)} is not a time in ms since the epoch`);
      const byTime = await this.offsets(partitions, target.timestamp);
      const ends = await this.offsets(partitions, -1);
      targets = new Map(partitions.map((p) => [key(p), (byTime.get(key(p)) ?? -1) >= 0 ? (byTime.get(key(p)) as number) : (ends.get(key(p)) ?? -1)]));
    }
    const result = partitions.map((p) => ({ ...p, offset: targets.get(key(p)) ?? -1 }));
    const missing = result.find((r) => r.offset < 0);
    if (missing !== undefined) throw new KafkaProtocolError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `reset offsets of group ${groupId}: no offset for ${missing.topic}-${missing.partition}`);
    result.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    if (options.dryRun === true) return result;
    const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; committedMetadata: string | null }>>();
    for (const r of result) {
      const list = byTopic.get(r.topic) ?? [];
      list.push({ partitionIndex: r.partition, committedOffset: r.offset, committedLeaderEpoch: -1, committedMetadata: null });
      byTopic.set(r.topic, list);
    }
    const c = await this.connection();
    const res = await c.request<OffsetCommitResponse>(API_KEYS.OffsetCommit, c.version(API_KEYS.OffsetCommit, 2, 7), {
      groupId,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps })),
    });
    for (const t of res.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(p.errorCode, `reset offsets of group ${groupId} on ${t.name}-${p.partitionIndex}`);
      }
    }
    return result;
  }

  private async describeGroupIfExists(groupId: string): Promise<GroupDescription | null> {
    try {
      return await this.describeGroup(groupId);
    } catch (err) {
      if (err instanceof KafkaProtocolError && err.kafkaErrorCode === ErrorCode.GROUP_ID_NOT_FOUND) return null;
      throw err;
    }
  }

  /** Committed offset vs. high watermark for every partition the group has committed. */
  async groupLag(groupId: string): Promise<PartitionLag[]> {
    const c = await this.connection();
    const fetched = await c.request<OffsetFetchResponse>(API_KEYS.OffsetFetch, c.version(API_KEYS.OffsetFetch, 2, 5), { groupId, topics: null });
    if ((fetched.errorCode ?? 0) !== 0) throw new KafkaProtocolError(fetched.errorCode ?? -1, `OffsetFetch ${groupId}`);
    const committed: Array<{ topic: string; partition: number; offset: number; metadata: string | null }> = [];
    for (const t of fetched.topics ?? []) for (const p of t.partitions) committed.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata });
    if (committed.length === 0) return [];
    const ends = await this.offsets(committed, -1);
    const starts = await this.offsets(committed, -2);
    return committed
      .map((x) => {
        const key = `${x.topic}\u0000${x.partition}`;
        const highWatermark = ends.get(key) ?? -1;
        const logStartOffset = starts.get(key) ?? -1;
        const from = x.offset >= 0 ? x.offset : logStartOffset;
        return { topic: x.topic, partition: x.partition, committedOffset: x.offset, highWatermark, logStartOffset, lag: Math.max(0, highWatermark - from), metadata: x.metadata };
      })
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  private async metadata(topics: string[] | null): Promise<MetadataResponse> {
    const c = await this.connection();
    const v = c.version(API_KEYS.Metadata, 1, 6);
    return c.request<MetadataResponse>(API_KEYS.Metadata, v, { topics: topics === null ? null : topics.map((name) => ({ name })), allowAutoTopicCreation: false });
  }

  /** ListOffsets for each partition: -1 latest, -2 earliest, else the first offset at or after that time (-1 when none). */
  private async offsets(partitions: Array<{ topic: string; partition: number }>, timestamp: number): Promise<Map<string, number>> {
    const c = await this.connection();
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const res = await c.request<ListOffsetsResponse>(API_KEYS.ListOffsets, c.version(API_KEYS.ListOffsets, 1, 3), {
      replicaId: -1,
      isolationLevel: 0,
      topics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps.map((partitionIndex) => ({ partitionIndex, timestamp, currentLeaderEpoch: -1 })) })),
    });
    const out = new Map<string, number>();
    for (const t of res.topics) for (const p of t.partitions) if (p.errorCode === 0) out.set(`${t.name}\u0000${p.partitionIndex}`, p.offset ?? -1);
    return out;
  }

  close(): void {
    this.conn?.close();
    this.conn = null;
  }
}

/** DescribeConfigs config_source (v1+) as a word; v0 only says default or not. */
function configSourceName(source: number | undefined, isDefault: boolean | undefined): string {
  switch (source) {
    case 1:
      return 'topic';
    case 2:
      return 'dynamic-broker';
    case 3:
      return 'dynamic-default-broker';
    case 4:
      return 'broker';
    case 5:
      return 'default';
    case 6:
      return 'dynamic-broker-logger';
    default:
      return isDefault === true ? 'default' : 'unknown';
  }
}
