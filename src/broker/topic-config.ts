// Topic-level configuration: Kafka's names and units, the broker-wide defaults they fall back to,
// validation that names the offending key, and the DescribeConfigs view of a topic.
import { ConfigError } from '../util/index.ts';
import type { LogConfig } from '../storage/index.ts';

export type ConfigValue = string | number;

interface ConfigSpec {
  /** Kafka type name, as DescribeConfigs v3 reports it. */
  type: 'long' | 'int' | 'string' | 'boolean' | 'double';
  default: ConfigValue;
  min?: number;
  max?: number;
  /** The values accepted (booleans compared without case, as Kafka parses them). */
  choices?: readonly string[];
  /** Why a value outside `choices` is refused, when the choices are narrower than Kafka's. */
  refusal?: string;
  /** A comma-separated list in Kafka (IncrementalAlterConfigs APPEND/SUBTRACT apply). */
  list?: true;
  doc: string;
}

/** Kafka's Long.MAX_VALUE: the default of its "never" settings, beyond a double's exact integers. */
const LONG_MAX = '9223372036854775807';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const COMPACTION_ONLY = 'Compaction only: no effect while cleanup.policy is delete, the one policy Holdfast has (as in Kafka).';
const REMOTE_ONLY = 'Tiered storage only: no effect while remote.storage.enable is false, the one value Holdfast has (as in Kafka).';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A Kafka config Holdfast takes with one value only, the one that says what it does; `why` is given for any other. */
function only(type: ConfigSpec['type'], value: string, why: string): ConfigSpec {
  return { type, default: value, choices: [value], refusal: why, doc: `Only ${value}: ${why}.` };
}

/**
 * Every topic config Holdfast knows: those it honours; Kafka's where the value accepted is what
 * Holdfast does anyway (unclean.leader.election.enable=false); and Kafka's that Kafka itself
 * ignores in the one setup Holdfast has (compaction settings under cleanup.policy=delete). Unknown
 * keys, and values Holdfast would not honour, are rejected with INVALID_CONFIG.
 */
export const TOPIC_CONFIGS: Record<string, ConfigSpec> = {
  'cleanup.policy': { type: 'string', list: true, default: 'delete', choices: ['delete'], doc: 'Only "delete" (retention) is supported; compaction is not built yet.' },
  'retention.ms': { type: 'long', default: 7 * DAY_MS, min: -1, max: Number.MAX_SAFE_INTEGER, doc: 'Delete whole segments older than this; -1 keeps forever.' },
  'retention.bytes': { type: 'long', default: -1, min: -1, max: Number.MAX_SAFE_INTEGER, doc: 'Delete oldest segments while a partition is larger than this; -1 means no limit.' },
  'segment.bytes': { type: 'int', default: 1024 * 1024 * 1024, min: 1024, max: 2147483647, doc: 'Roll to a new segment file at this size.' },
  'segment.ms': { type: 'long', default: 7 * DAY_MS, min: 1, max: Number.MAX_SAFE_INTEGER, doc: 'Roll to a new segment file after this long.' },
  'segment.index.bytes': { type: 'int', default: 10 * 1024 * 1024, min: 4096, doc: 'Maximum size of a segment index.' },
  'index.interval.bytes': { type: 'int', default: 4096, min: 0, doc: 'Bytes between sparse index entries.' },
  'flush.mode': { type: 'string', default: 'sync', choices: ['sync', 'async'], doc: 'sync: durable (an O_DSYNC write) before the produce is acknowledged (group commit). async: acknowledge after the write reaches the OS; fsync per flush.interval.*.' },
  'flush.interval.ms': { type: 'long', default: 1000, min: 1, max: Number.MAX_SAFE_INTEGER, doc: 'async mode: fsync at least this often. Power loss can lose up to this window.' },
  'flush.interval.messages': { type: 'long', default: 10000, min: 1, max: Number.MAX_SAFE_INTEGER, doc: 'async mode: fsync after this many unflushed records.' },
  'max.message.bytes': { type: 'int', default: 1048588, min: 0, doc: 'Largest record batch accepted (MESSAGE_TOO_LARGE above it).' },
  'message.timestamp.type': { type: 'string', default: 'CreateTime', choices: ['CreateTime', 'LogAppendTime'], doc: 'Keep the producer timestamp or stamp the broker time.' },
  'min.insync.replicas': { type: 'int', default: 1, min: 1, doc: 'In-sync replicas an acks=all produce needs. A single node has one, so above 1 every acks=all produce is refused with NOT_ENOUGH_REPLICAS, as Kafka does when it exceeds the replication factor; acks=0/1 are not affected.' },
  'compression.type': { type: 'string', default: 'producer', choices: ['producer'], doc: 'Batches are stored exactly as the producer compressed them.' },
  'message.timestamp.before.max.ms': { type: 'long', default: LONG_MAX, min: 0, doc: 'CreateTime topics: a batch with a record timestamp more than this before the broker\'s time is refused with INVALID_TIMESTAMP (Kafka\'s KIP-937).' },
  'message.timestamp.after.max.ms': { type: 'long', default: LONG_MAX, min: 0, doc: 'CreateTime topics: a batch with a record timestamp more than this after the broker\'s time is refused with INVALID_TIMESTAMP (Kafka\'s KIP-937).' },
  'flush.messages': { type: 'long', default: LONG_MAX, min: 1, doc: 'Kafka\'s fsync interval in messages. Accepted with flush.mode=sync (the default), which makes every batch durable before it is acknowledged, as strict as any value; refused with flush.mode=async, whose interval is flush.interval.messages.' },
  'flush.ms': { type: 'long', default: LONG_MAX, min: 0, doc: 'Kafka\'s fsync interval in milliseconds. Accepted with flush.mode=sync (the default), which makes every batch durable before it is acknowledged, as strict as any value; refused with flush.mode=async, whose interval is flush.interval.ms.' },
  'unclean.leader.election.enable': only('boolean', 'false', 'Holdfast never makes a replica that may lack acknowledged records the leader'),
  'preallocate': only('boolean', 'false', 'Holdfast does not preallocate segment files'),
  'segment.jitter.ms': only('long', '0', 'Holdfast rolls segments at segment.ms exactly'),
  'remote.storage.enable': only('boolean', 'false', 'tiered storage is not built'),
  'local.retention.ms': { type: 'long', default: -2, min: -2, doc: REMOTE_ONLY },
  'local.retention.bytes': { type: 'long', default: -2, min: -2, doc: REMOTE_ONLY },
  'delete.retention.ms': { type: 'long', default: DAY_MS, min: 0, doc: COMPACTION_ONLY },
  'min.compaction.lag.ms': { type: 'long', default: 0, min: 0, doc: COMPACTION_ONLY },
  'max.compaction.lag.ms': { type: 'long', default: LONG_MAX, min: 1, doc: COMPACTION_ONLY },
  'min.cleanable.dirty.ratio': { type: 'double', default: 0.5, min: 0, max: 1, doc: COMPACTION_ONLY },
};

export type TopicConfigOverrides = Record<string, string>;

/** Whether a config's value is a comma-separated list in Kafka (IncrementalAlterConfigs APPEND/SUBTRACT apply). */
export function isListConfig(key: string): boolean {
  return TOPIC_CONFIGS[key]?.list === true;
}

/** Checks one key/value pair; throws ConfigError naming the key, the value and the rule. */
export function validateTopicConfig(key: string, value: string | null, topic: string): void {
  const spec = TOPIC_CONFIGS[key];
  if (spec === undefined) throw new ConfigError(`unknown topic config "${key}" for topic ${topic}; known: ${Object.keys(TOPIC_CONFIGS).join(', ')}`);
  if (value === null) return; // null resets to the default
  const bad = (rule: string): ConfigError => new ConfigError(`topic ${topic}: ${key}=${value} ${rule}`);
  if (spec.type === 'boolean' && !/^(true|false)$/i.test(value.trim())) throw bad('is not true or false');
  if (spec.type === 'long' || spec.type === 'int') {
    if (!/^-?\d+$/.test(value.trim())) throw bad('is not an integer');
    const n = BigInt(value.trim());
    if (n < INT64_MIN || n > INT64_MAX || (spec.type === 'int' && !Number.isSafeInteger(Number(n)))) throw bad('is out of range');
    if (spec.min !== undefined && n < BigInt(spec.min)) throw bad(`is below the minimum ${spec.min}`);
    if (spec.max !== undefined && n > BigInt(spec.max)) throw bad(`is above the maximum ${spec.max}`);
  }
  if (spec.type === 'double') {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n)) throw bad('is not a number');
    if (spec.min !== undefined && n < spec.min) throw bad(`is below the minimum ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) throw bad(`is above the maximum ${spec.max}`);
  }
  const given = spec.type === 'boolean' ? value.trim().toLowerCase() : spec.type === 'string' ? value : value.trim();
  if (spec.choices && !spec.choices.includes(given)) {
    throw bad(spec.refusal === undefined ? `is not one of ${spec.choices.join(', ')}` : `is not supported: ${spec.refusal} (only ${spec.choices.join(', ')})`);
  }
}

/**
 * Checks every override, then the combination with the broker's topic defaults: Kafka's fsync
 * interval (flush.messages, flush.ms) is refused on an async topic, whose interval is Holdfast's own.
 */
export function validateTopicConfigs(overrides: TopicConfigOverrides, topic: string, brokerDefaults: TopicConfigOverrides = {}): void {
  for (const [k, v] of Object.entries(overrides)) validateTopicConfig(k, v, topic);
  if (effectiveValue('flush.mode', overrides, brokerDefaults) !== 'async') return;
  for (const [kafkaKey, holdfastKey] of [['flush.messages', 'flush.interval.messages'], ['flush.ms', 'flush.interval.ms']]) {
    const value = overrides[kafkaKey] ?? brokerDefaults[kafkaKey];
    if (value !== undefined && value !== null && value.trim() !== LONG_MAX) {
      throw new ConfigError(`topic ${topic}: ${kafkaKey}=${value} is not supported with flush.mode=async; set ${holdfastKey} for the async fsync interval (flush.mode=sync makes every batch durable before its acknowledgement)`);
    }
  }
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
  /** How far before / after the broker's time a CreateTime record may be; Infinity for no bound. */
  timestampBeforeMaxMs: number;
  timestampAfterMaxMs: number;
}

/** A "never" bound: Kafka's Long.MAX_VALUE, and anything beyond exact doubles, is no bound. */
function bound(value: number): number {
  return value >= Number.MAX_SAFE_INTEGER ? Infinity : value;
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
    timestampBeforeMaxMs: bound(num('message.timestamp.before.max.ms')),
    timestampAfterMaxMs: bound(num('message.timestamp.after.max.ms')),
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
