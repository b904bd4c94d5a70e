// The client's view of a cluster: bootstrap, metadata (brokers, partition leaders), one
// connection per broker, and group coordinators. Shared by Producer, Consumer and Admin.
import { HoldfastError } from '../util/index.ts';
import { API_KEYS, ErrorCode, type MetadataResponse, type FindCoordinatorResponse } from '../protocol/kafka/index.ts';
import { KafkaConnection, KafkaProtocolError, parseBroker, type ConnectionOptions } from './connection.ts';

export interface ClusterOptions {
  /** Bootstrap brokers, 'host:port'. */
  brokers: string[];
  /** @default 'holdfast' */
  clientId?: string;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** @default 30000 */
  requestTimeoutMs?: number;
}

export interface TopicMetadata {
  name: string;
  partitions: Array<{ partition: number; leader: number; errorCode: number }>;
}

export class ClientCluster {
  private readonly options: ClusterOptions;
  private readonly connections = new Map<string, Promise<KafkaConnection>>();
  private brokers = new Map<number, { host: string; port: number }>();
  private topics = new Map<string, TopicMetadata>();
  /** The error the last Metadata answer gave for a topic it did not describe. */
  private topicErrors = new Map<string, number>();
  private coordinators = new Map<string, number>();
  private closed = false;

  constructor(options: ClusterOptions) {
    if (options.brokers.length === 0) throw new HoldfastError('INVALID_CONFIG', 'at least one bootstrap broker is needed');
    this.options = options;
  }

  private connectionOptions(address: { host: string; port: number }): ConnectionOptions {
    return { ...address, clientId: this.options.clientId ?? 'holdfast', connectTimeoutMs: this.options.connectTimeoutMs, requestTimeoutMs: this.options.requestTimeoutMs };
  }

  /** A live connection to `address`, opened on first use and reopened after it broke. */
  async connect(address: { host: string; port: number }): Promise<KafkaConnection> {
    if (this.closed) throw new HoldfastError('CLIENT_CLOSED', 'the client is closed');
    const key = `${address.host}:${address.port}`;
    const existing = this.connections.get(key);
    if (existing !== undefined) {
      const conn = await existing.catch(() => null);
      if (conn !== null && !conn.closed) return conn;
      this.connections.delete(key);
    }
    const opening = KafkaConnection.open(this.connectionOptions(address));
    this.connections.set(key, opening);
    opening.catch(() => this.connections.delete(key));
    return opening;
  }

  /** Any bootstrap (or known) broker that answers. */
  async anyConnection(): Promise<KafkaConnection> {
    const candidates = [...this.brokers.values(), ...this.options.brokers.map(parseBroker)];
    let last: unknown = new HoldfastError('NO_BROKER', 'no broker address known');
    for (const address of candidates) {
      try {
        return await this.connect(address);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async connectionTo(nodeId: number): Promise<KafkaConnection> {
    let address = this.brokers.get(nodeId);
    if (address === undefined) {
      await this.refreshMetadata([]);
      address = this.brokers.get(nodeId);
    }
    if (address === undefined) throw new HoldfastError('BROKER_NOT_FOUND', `broker ${nodeId} is not in the cluster metadata`, { retriable: true });
    return this.connect(address);
  }

  /** Fetches metadata for `topics` (all topics when null); auto-creation is left to the broker. */
  async refreshMetadata(topics: string[] | null, allowAutoTopicCreation = false): Promise<void> {
    const conn = await this.anyConnection();
    const version = conn.version(API_KEYS.Metadata, 1, 6);
    const res = await conn.request<MetadataResponse>(API_KEYS.Metadata, version, {
      topics: topics === null ? null : topics.map((name) => ({ name })),
      allowAutoTopicCreation,
    });
    this.brokers = new Map(res.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
    for (const t of res.topics) {
      const name = t.name ?? '';
      if (t.errorCode !== ErrorCode.NONE) {
        this.topics.delete(name);
        this.topicErrors.set(name, t.errorCode);
        continue;
      }
      this.topicErrors.delete(name);
      this.topics.set(name, {
        name,
        partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, leader: p.leaderId, errorCode: p.errorCode })).sort((a, b) => a.partition - b.partition),
      });
    }
  }

  /**
   * Metadata of a topic, refreshed when unknown; throws the broker's error for it otherwise
   * (UNKNOWN_TOPIC_OR_PARTITION when it does not exist, INVALID_TOPIC_EXCEPTION for a bad name,
   * LEADER_NOT_AVAILABLE while it is being created, …).
   */
  async topic(name: string, allowAutoTopicCreation = false): Promise<TopicMetadata> {
    let t = this.topics.get(name);
    if (t === undefined) {
      await this.refreshMetadata([name], allowAutoTopicCreation);
      t = this.topics.get(name);
    }
    if (t === undefined) throw new KafkaProtocolError(this.topicErrors.get(name) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${name}`);
    return t;
  }

  /** The leader of a partition from the metadata held, or undefined when none is known (topic() fetches it). */
  knownLeader(topic: string, partition: number): number | undefined {
    const partitions = this.topics.get(topic)?.partitions;
    if (partitions === undefined) return undefined;
    // Sorted by partition, so a complete list holds partition i at index i.
    const p = partitions[partition]?.partition === partition ? partitions[partition] : partitions.find((x) => x.partition === partition);
    return p !== undefined && p.leader >= 0 ? p.leader : undefined;
  }

  /** Forgets a topic's metadata so the next use refreshes it (after NOT_LEADER and similar). */
  invalidate(topic?: string): void {
    if (topic === undefined) this.topics.clear();
    else this.topics.delete(topic);
  }

  async leaderConnection(topic: string, partition: number): Promise<KafkaConnection> {
    const t = await this.topic(topic);
    const p = t.partitions.find((x) => x.partition === partition);
    if (p === undefined || p.leader < 0) throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${topic}-${partition}`);
    return this.connectionTo(p.leader);
  }

  /** The coordinator of a consumer group (key type 0). */
  async coordinator(groupId: string): Promise<KafkaConnection> {
    const known = this.coordinators.get(groupId);
    if (known !== undefined) return this.connectionTo(known);
    const conn = await this.anyConnection();
    const res = await conn.request<FindCoordinatorResponse>(API_KEYS.FindCoordinator, conn.version(API_KEYS.FindCoordinator, 1, 2), { key: groupId, keyType: 0 });
    if ((res.errorCode ?? 0) !== ErrorCode.NONE) throw new KafkaProtocolError(res.errorCode ?? -1, `FindCoordinator ${groupId}`);
    this.coordinators.set(groupId, res.nodeId ?? -1);
    this.brokers.set(res.nodeId ?? -1, { host: res.host ?? '', port: res.port ?? -1 });
    return this.connectionTo(res.nodeId ?? -1);
  }

  forgetCoordinator(groupId: string): void {
    this.coordinators.delete(groupId);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.connections.values()) (await p.catch(() => null))?.close();
    this.connections.clear();
  }
}
