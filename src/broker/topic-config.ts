// Topic-level configuration: Kafka's names and units, the broker-wide defaults they fall back to,
// validation that names the offending key, and the DescribeConfigs view of a topic.
import { ConfigError } from '../util/index.ts';
import type { LogConfig } from '../storage/index.ts';

export type ConfigValue = string | number;

interface ConfigSpec {
  /** Kafka type name, as DescribeConfigs v3 reports it. */
  type: 'long' | 'int' | 'string';
  default: ConfigValue;
  min?: number;
  max?: number;
  choices?: readonly string[];
  doc: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Every topic config Holdfast knows. Unknown keys are rejected with INVALID_CONFIG. */
export const TOPIC_CONFIGS: Record<string, ConfigSpec> = {
  'cleanup.policy': { type: 'string', default: 'delete', choices: ['delete'], doc: 'Only "delete" (retention) is supported; compaction is not built yet.' },
  'retention.ms': { type: 'long', default: 7 * DAY_MS, min: -1, doc: 'Delete whole segments older than this; -1 keeps forever.' },
  'retention.bytes': { type: 'long', default: -1, min: -1, doc: 'Delete oldest segments while a partition is larger than this; -1 means no limit.' },
  'segment.bytes': { type: 'int', default: 1024 * 1024 * 1024, min: 1024, max: 2147483647, doc: 'Roll to a new segment file at this size.' },
  'segment.ms': { type: 'long', default: 7 * DAY_MS, min: 1, doc: 'Roll to a new segment file after this long.' },
  'segment.index.bytes': { type: 'int', default: 10 * 1024 * 1024, min: 4096, doc: 'Maximum size of a segment index.' },
  'index.interval.bytes': { type: 'int', default: 4096, min: 0, doc: 'Bytes between sparse index entries.' },
  'flush.mode': { type: 'string', default: 'sync', choices: ['sync', 'async'], doc: 'sync: durable (an O_DSYNC write) before the produce is acknowledged (group commit). async: acknowledge after the write reaches the OS; fsync per flush.interval.*.' },
  'flush.interval.ms': { type: 'long', default: 1000, min: 1, doc: 'async mode: fsync at least this often. Power loss can lose up to this window.' },
  'flush.interval.messages': { type: 'long', default: 10000, min: 1, doc: 'async mode: fsync after this many unflushed records.' },
  'max.message.bytes': { type: 'int', default: 1048588, min: 0, doc: 'Largest record batch accepted (MESSAGE_TOO_LARGE above it).' },
  'message.timestamp.type': { type: 'string', default: 'CreateTime', choices: ['CreateTime', 'LogAppendTime'], doc: 'Keep the producer timestamp or stamp the broker time.' },
  'min.insync.replicas': { type: 'int', default: 1, min: 1, doc: 'In-sync replicas an acks=all produce needs. A single node has one, so above 1 every acks=all produce is refused with NOT_ENOUGH_REPLICAS, as Kafka does when it exceeds the replication factor; acks=0/1 are not affected.' },
  'compression.type': { type: 'string', default: 'producer', choices: ['producer'], doc: 'Batches are stored exactly as the producer compressed them.' },
};

export type TopicConfigOverrides = Record<string, string>;

/** Checks one key/value pair; throws ConfigError naming the key, the value and the rule. */
export function validateTopicConfig(key: string, value: string | null, topic: string): void {
  const spec = TOPIC_CONFIGS[key];
  if (spec === undefined) throw new ConfigError(`unknown topic config "${key}" for topic ${topic}; known: ${Object.keys(TOPIC_CONFIGS).join(', ')}`);
  if (value === null) return; // null resets to the default
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(value)) {
      throw new ConfigError(`topic ${topic}: ${key}=${value} is not one of ${spec.choices.join(', ')}`);
    }
    return;
  }
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(`topic ${topic}: ${key}=${value} is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ConfigError(`topic ${topic}: ${key}=${value} is out of range`);
  if (spec.min !== undefined && n < spec.min) throw new ConfigError(`topic ${topic}: ${key}=${value} is below the minimum ${spec.min}`);
  if (spec.max !== undefined && n > spec.max) throw new ConfigError(`topic ${topic}: ${key}=${value} is above the maximum ${spec.max}`);
}

export function validateTopicConfigs(overrides: TopicConfigOverrides, topic: string): void {
  for (const [k, v] of Object.entries(overrides)) validateTopicConfig(k, v, topic);
}

/** The effective string value of `key`: topic override, else broker default, else built-in default. */
export function effectiveValue(key: string, overrides: TopicConfigOverrides, brokerDefaults: TopicConfigOverrides): string {
  return overrides[key] ?? brokerDefaults[key] ?? String(TOPIC_CONFIGS[key].default);
}

export interface EffectiveTopicConfig {
  log: LogConfig;
  maxMessageBytes: number;
  logAppendTime: boolean;
  /** acks=all needs this many in-sync replicas (min.insync.replicas). */
  minInsyncReplicas: number;
}

export function resolveTopicConfig(overrides: TopicConfigOverrides, brokerDefaults: TopicConfigOverrides): EffectiveTopicConfig {
  const num = (k: string): number => Number(effectiveValue(k, overrides, brokerDefaults));
  return {
    log: {
      segmentBytes: num('segment.bytes'),
      segmentMs: num('segment.ms'),
      retentionMs: num('retention.ms'),
      retentionBytes: num('retention.bytes'),
      flushMode: effectiveValue('flush.mode', overrides, brokerDefaults) === 'async' ? 'async' : 'sync',
      flushIntervalMs: num('flush.interval.ms'),
      flushIntervalMessages: num('flush.interval.messages'),
      indexIntervalBytes: num('index.interval.bytes'),
      segmentIndexBytes: num('segment.index.bytes'),
    },
    maxMessageBytes: num('max.message.bytes'),
    logAppendTime: effectiveValue('message.timestamp.type', overrides, brokerDefaults) === 'LogAppendTime',
    minInsyncReplicas: num('min.insync.replicas'),
  };
}

export interface DescribedConfig {
  name: string;
  value: string;
  isDefault: boolean;
  /** Kafka ConfigSource: 1 DYNAMIC_TOPIC_CONFIG, 4 STATIC_BROKER_CONFIG, 5 DEFAULT_CONFIG. */
  source: number;
  type: ConfigSpec['type'];
  doc: string;
}

export function describeTopicConfigs(overrides: TopicConfigOverrides, brokerDefaults: TopicConfigOverrides, keys: readonly string[] | null): DescribedConfig[] {
  const names = keys === null || keys.length === 0 ? Object.keys(TOPIC_CONFIGS) : keys.filter((k) => k in TOPIC_CONFIGS);
  return names.map((name) => {
    const source = name in overrides ? 1 : name in brokerDefaults ? 4 : 5;
    return {
      name,
      value: effectiveValue(name, overrides, brokerDefaults),
      isDefault: source === 5,
      source,
      type: TOPIC_CONFIGS[name].type,
      doc: TOPIC_CONFIGS[name].doc,
    };
  });
}
