// Shared state of one broker, handed to every request handler. The broker owns all mutable state;
// handlers re-check anything they read before an `await` after it.
import type { ByteBudget, Clock, Logger } from '../util/index.ts';
import type { DiskSpace, LogManager, PartitionLog } from '../storage/index.ts';
import type { BrokerConfig } from './config.ts';
import type { TopicRegistry, TopicRecord } from './topics.ts';
import type { EffectiveTopicConfig, TopicConfigOverrides } from './topic-config.ts';

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: TopicRegistry;
  readonly logs: LogManager;
  /** Free space on the data directory: Produce asks it before appending. */
  readonly disk: DiskSpace;
  /** Memory fetch answers read from segment files may pin together (fetch.file.read.total.bytes). */
  readonly fetchFileReads: ByteBudget;
  readonly advertised: { host: string; port: number };
  /** The effective config of a topic (cached; invalidated when configs change). */
  topicConfig(topic: string): EffectiveTopicConfig;
  /** Creates a topic and its partition logs; validates name, partitions and configs first. */
  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord>;
  /** Throws the error createTopic would throw, without creating anything (validate_only). */
  validateTopic(name: string, partitions: number, configs: Record<string, string>): void;
  deleteTopic(name: string): Promise<void>;
  /** Gives a topic the overrides `change` makes of its current ones, after earlier changes to it; validates first, as validateTopicConfigChange. */
  alterTopicConfigs(name: string, change: (current: Readonly<TopicConfigOverrides>) => TopicConfigOverrides): Promise<void>;
  /** Throws the error alterTopicConfigs would throw. */
  validateTopicConfigChange(name: string, configs: TopicConfigOverrides): void;
  /** Grows a topic to `count` partitions; validates first, as validatePartitionIncrease. */
  createPartitions(name: string, count: number): Promise<void>;
  /** Throws the error createPartitions would throw (`assigned`: new partitions an explicit assignment names, or null). */
  validatePartitionIncrease(name: string, count: number, assigned: number | null): void;
  partitionLog(topic: string, partition: number): PartitionLog | undefined;
  /** False once the broker is closing or has failed; handlers stop waiting. */
  readonly running: boolean;
}
