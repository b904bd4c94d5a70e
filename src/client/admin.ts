// Admin: topics, groups, committed offsets and consumer lag over the Kafka protocol. It talks to
// the first broker that answers (Holdfast runs one node today; cluster routing comes with it).
import { HoldfastError } from '../util/index.ts';
import {
  API_KEYS,
  type DescribeGroupsResponse,
  type ListGroupsResponse,
  type ListOffsetsResponse,
  type MetadataResponse,
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
    const c = await this.connection();
    const res = await c.request<MetadataResponse>(API_KEYS.Metadata, c.version(API_KEYS.Metadata, 1, 6), { topics: null, allowAutoTopicCreation: false });
    return res.topics.map((t) => ({ name: t.name ?? '', partitions: t.partitions.length, internal: t.isInternal ?? false }));
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

  /** ListOffsets for each partition: -1 latest, -2 earliest. */
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
