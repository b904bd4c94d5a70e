// The topic registry of a single-node broker: which topics exist, their ids, partition counts and
// config overrides, persisted atomically in DATA/topics.json. Also the cluster identity in
// DATA/meta.json and the producer-id allocator. (In cluster mode this state moves to etcd.)
import { randomUUID, randomBytes } from 'node:crypto';
import { ConfigError, HoldfastError } from '../util/index.ts';
import { writeFileAtomic, readFileIfExists, type FileSystem } from '../storage/index.ts';
import type { TopicConfigOverrides } from './topic-config.ts';

export interface TopicRecord {
  name: string;
  topicId: string;
  partitions: number;
  configs: TopicConfigOverrides;
  createdMs: number;
}

export interface ClusterIdentity {
  clusterId: string;
  nodeId: number;
}

const MAX_TOPIC_NAME_CHARS = 249;
const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
const PRODUCER_ID_BLOCK = 1000;

/** Kafka's topic name rules; returns the reason a name is invalid, or null. */
export function invalidTopicNameReason(name: string): string | null {
  if (name.length === 0) return 'topic name is empty';
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed`;
  if (name.length > MAX_TOPIC_NAME_CHARS) return `topic name of ${name.length} characters exceeds the limit of ${MAX_TOPIC_NAME_CHARS}`;
  if (!TOPIC_NAME.test(name)) return `topic name "${name}" may contain only ASCII letters, digits, '.', '_' and '-'`;
  return null;
}

/** Kafka's cluster ids are 22-character URL-safe base64 of 16 random bytes. */
function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

export class TopicRegistry {
  private readonly topics = new Map<string, TopicRecord>();
  private readonly fs: FileSystem;
  private readonly dataDir: string;
  private persistChain: Promise<void> = Promise.resolve();
  private nextProducerId = 0;
  private producerIdHighMark = 0;
  private durableProducerIdHighMark = 0;
  identity: ClusterIdentity = { clusterId: '', nodeId: 0 };

  private constructor(fs: FileSystem, dataDir: string) {
    this.fs = fs;
    this.dataDir = dataDir;
  }

  static async load(fs: FileSystem, dataDir: string, nodeId: number): Promise<TopicRegistry> {
    const registry = new TopicRegistry(fs, dataDir);
    await fs.mkdir(dataDir);
    const meta = await readFileIfExists(fs, `${dataDir}/meta.json`);
    if (meta === null) {
      registry.identity = { clusterId: newClusterId(), nodeId };
      await writeFileAtomic(fs, `${dataDir}/meta.json`, Buffer.from(JSON.stringify({ version: 1, ...registry.identity }, null, 2) + '\n'));
    } else {
      const parsed = JSON.parse(meta.toString('utf8')) as { version: number; clusterId: string; nodeId: number };
      if (parsed.nodeId !== nodeId) {
        throw new ConfigError(`data directory ${dataDir} belongs to node.id ${parsed.nodeId}, but this broker is configured with node.id ${nodeId}`);
      }
      registry.identity = { clusterId: parsed.clusterId, nodeId: parsed.nodeId };
    }
    const topics = await readFileIfExists(fs, `${dataDir}/topics.json`);
    if (topics !== null) {
      const parsed = JSON.parse(topics.toString('utf8')) as { topics: TopicRecord[]; producerIdHighMark?: number };
      for (const t of parsed.topics) registry.topics.set(t.name, t);
      registry.producerIdHighMark = parsed.producerIdHighMark ?? 0;
      registry.nextProducerId = registry.producerIdHighMark;
      registry.durableProducerIdHighMark = registry.producerIdHighMark;
    }
    return registry;
  }

  get(name: string): TopicRecord | undefined {
    return this.topics.get(name);
  }

  list(): TopicRecord[] {
    return [...this.topics.values()];
  }

  get size(): number {
    return this.topics.size;
  }

  async create(name: string, partitions: number, configs: TopicConfigOverrides, nowMs: number): Promise<TopicRecord> {
    if (this.topics.has(name)) throw new HoldfastError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`, { kafkaErrorCode: 36 });
    const record: TopicRecord = { name, topicId: randomUUID(), partitions, configs, createdMs: nowMs };
    this.topics.set(name, record);
    await this.persist();
    return record;
  }

  async remove(name: string): Promise<void> {
    this.topics.delete(name);
    await this.persist();
  }

  /** Records a larger partition count (the caller has made the new partitions' logs first). */
  async setPartitions(name: string, partitions: number): Promise<void> {
    const record = this.topics.get(name);
    if (record === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
    if (partitions < record.partitions) throw new Error(`topic ${name}: partitions can only grow (${record.partitions} to ${partitions})`);
    record.partitions = partitions;
    await this.persist();
  }

  async setConfigs(name: string, configs: TopicConfigOverrides): Promise<void> {
    const record = this.topics.get(name);
    if (record === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
    record.configs = configs;
    await this.persist();
  }

  /**
   * A producer id never handed out before, even across restarts: ids are reserved in blocks and the
   * block's end is persisted before any id from it is used.
   */
  async allocateProducerId(): Promise<number> {
    const id = this.nextProducerId++;
    if (id >= this.producerIdHighMark) this.producerIdHighMark = id + PRODUCER_ID_BLOCK;
    if (id >= this.durableProducerIdHighMark) await this.persist();
    return id;
  }

  private persist(): Promise<void> {
    const write = async (): Promise<void> => {
      const highMark = this.producerIdHighMark;
      const body = { version: 1, producerIdHighMark: highMark, topics: this.list() };
      await writeFileAtomic(this.fs, `${this.dataDir}/topics.json`, Buffer.from(JSON.stringify(body, null, 2) + '\n'));
      this.durableProducerIdHighMark = Math.max(this.durableProducerIdHighMark, highMark);
    };
    this.persistChain = this.persistChain.then(write, write);
    return this.persistChain;
  }
}
