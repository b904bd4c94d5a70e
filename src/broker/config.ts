// Broker configuration: the keys of holdfast.yaml and their command-line flags, defaults, and
// validation with errors that name the bad key. Every default is the safe one.
import { ConfigError } from '../util/index.ts';
import { MAX_INLINE_WRITE_BYTES, MAX_PREALLOCATE_BYTES } from '../storage/index.ts';
import { TOPIC_CONFIGS, validateTopicConfigs, type TopicConfigOverrides } from './topic-config.ts';

export interface BrokerConfig {
  /** This broker's id in Metadata responses. @default 1 */
  nodeId: number;
  /** Interface the Kafka listener binds to. @default '127.0.0.1' */
  host: string;
  /** Kafka listener port; 0 picks a free port. @default 9092 */
  port: number;
  /** Host name given to clients in Metadata. @default the bind host (or 127.0.0.1 when binding 0.0.0.0/::) */
  advertisedHost: string;
  /** 0: the bound port. */
  advertisedPort: number;
  /** Where logs and metadata live. @default './data' */
  dataDir: string;
  /** Create a topic when Metadata asks for one that does not exist (Kafka's default). @default true */
  autoCreateTopics: boolean;
  /** Partitions of an auto-created topic, and of CreateTopics with num_partitions = -1. @default 1 */
  numPartitions: number;
  /** Largest request frame accepted; larger ones close the connection. @default 104857600 (100 MiB) */
  socketRequestMaxBytes: number;
  /**
   * Bytes of request frames the broker holds at once, from each frame's size prefix until it has
   * been handled; -1 for no bound. At least socket.request.max.bytes. @default 268435456
   */
  queuedMaxRequestBytes: number;
  /** Requests decoded but not yet answered on one connection before the broker stops reading it. @default 64 */
  maxInflightRequestsPerConnection: number;
  /** Open client connections; further ones are closed at once. @default 1000 */
  maxConnections: number;
  /** A connection with no request in flight that reads and writes nothing this long is closed (Kafka's name). @default 600000 */
  connectionsMaxIdleMs: number;
  /** Largest number of partitions one topic may have. @default 10000 */
  maxPartitionsPerTopic: number;
  /** Longest Fetch long-poll the broker honours. @default 30000 */
  fetchMaxWaitMsMax: number;
  /**
   * Most bytes of records one Fetch answer carries, whatever the client asks (Kafka's
   * fetch.max.bytes); the first batch may exceed it, so a consumer always progresses. It also
   * bounds what one fetch reads into memory from a segment file. @default 57671680 (55 MiB)
   */
  fetchMaxBytes: number;
  /**
   * Memory that fetch answers read from segment files may pin together, from the read until the
   * kernel has taken the answer. A read that does not fit waits, in arrival order, up to the
   * fetch's max wait; then its partition is answered without records (the consumer fetches again).
   * A fetch that already holds some of it does not wait: the partitions that do not fit go without.
   * Answers from the tail cache do not count (that memory is tail.cache.total.bytes).
   * @default 268435456 (256 MiB)
   */
  fetchFileReadTotalBytes: number;
  /** How often retention runs. @default 60000 */
  retentionCheckIntervalMs: number;
  /** How often recovery points are checkpointed. @default 60000 */
  checkpointIntervalMs: number;
  /** Free bytes kept on the data directory's file system: Produce is refused (KAFKA_STORAGE_ERROR) rather than fill it. @default 268435456 (256 MiB) */
  diskMinFreeBytes: number;
  /** How often free disk space is read (statfs); between readings the broker counts what it appends. @default 1000 */
  diskCheckIntervalMs: number;
  /** Memory all partitions' tail caches (recent batches served to consumers without file reads) may pin together. @default 268435456 */
  tailCacheTotalBytes: number;
  /** Zeros a flush.mode=sync partition writes at a time ahead of its data, so durable appends overwrite allocated blocks; 0 = off. @default 1048576 (1 MiB) */
  logPreallocateBytes: number;
  /**
   * See 'log.inline.write.max.bytes'. @default 256 KiB for `holdfast serve`; an embedded
   * startBroker() defaults to 0 (EMBEDDED_DEFAULTS): it shares the application's event loop.
   */
  logInlineWriteMaxBytes: number;
  /** debug | info | warn | error. @default 'info' */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Broker-wide defaults for topic configs (any key of the topic config table). @default {} */
  topicDefaults: TopicConfigOverrides;
  /** How long a new (empty) group waits for more members before its first rebalance. @default 3000 */
  groupInitialRebalanceDelayMs: number;
  /** Smallest session timeout a member may ask for. @default 6000 */
  groupMinSessionTimeoutMs: number;
  /** Largest session timeout a member may ask for. @default 1800000 */
  groupMaxSessionTimeoutMs: number;
  /** Members one group may have (GROUP_MAX_SIZE_REACHED beyond). @default 1000 */
  groupMaxSize: number;
  /** Consumer groups one broker keeps. @default 10000 */
  maxGroups: number;
  /** Protocol metadata bytes one member may send with JoinGroup. @default 1048576 */
  groupMaxMemberMetadataBytes: number;
  /** Largest metadata string of a committed offset (OFFSET_METADATA_TOO_LARGE beyond). @default 4096 */
  offsetMetadataMaxBytes: number;
  /** Offsets of a group that stays empty this long are deleted. @default 10080 (7 days) */
  offsetsRetentionMinutes: number;
  /** How often expired offsets are looked for. @default 600000 */
  offsetsRetentionCheckIntervalMs: number;
}

interface KeySpec {
  field: keyof BrokerConfig;
  type: 'int' | 'string' | 'bool' | 'topic-defaults' | 'level';
  min?: number;
  max?: number;
  doc: string;
}

/** holdfast.yaml keys (Kafka-style names) → config fields. */
export const BROKER_KEYS: Record<string, KeySpec> = {
  'node.id': { field: 'nodeId', type: 'int', min: 0, max: 2147483647, doc: 'Broker id in Metadata.' },
  host: { field: 'host', type: 'string', doc: 'Interface the Kafka listener binds to.' },
  port: { field: 'port', type: 'int', min: 0, max: 65535, doc: 'Kafka listener port; 0 picks a free one.' },
  'advertised.host': { field: 'advertisedHost', type: 'string', doc: 'Host name clients are told to connect to.' },
  'advertised.port': { field: 'advertisedPort', type: 'int', min: 0, max: 65535, doc: 'Port clients are told to connect to (behind a proxy or NAT); 0 = the bound port.' },
  'data.dir': { field: 'dataDir', type: 'string', doc: 'Data directory.' },
  'auto.create.topics.enable': { field: 'autoCreateTopics', type: 'bool', doc: 'Create unknown topics on Metadata requests.' },
  'num.partitions': { field: 'numPartitions', type: 'int', min: 1, max: 10000, doc: 'Partitions of auto-created topics.' },
  'socket.request.max.bytes': { field: 'socketRequestMaxBytes', type: 'int', min: 1024, max: 1073741824, doc: 'Largest request frame.' },
  'queued.max.request.bytes': { field: 'queuedMaxRequestBytes', type: 'int', min: -1, max: Number.MAX_SAFE_INTEGER, doc: 'Memory all request frames may hold together, from their size prefix until handled; a connection whose next frame does not fit stops being read (past its 64 KiB read buffer) until it does, in arrival order. -1 for no bound (Kafka\'s default); otherwise at least socket.request.max.bytes.' },
  'max.inflight.requests.per.connection': { field: 'maxInflightRequestsPerConnection', type: 'int', min: 1, max: 10000, doc: 'Pipelined requests per connection before reading pauses; reading also pauses while its answers wait unsent.' },
  'max.connections': { field: 'maxConnections', type: 'int', min: 1, max: 1000000, doc: 'Open client connections.' },
  'connections.max.idle.ms': { field: 'connectionsMaxIdleMs', type: 'int', min: 100, max: 604800000, doc: 'A connection with no request in flight that reads and writes nothing this long is closed.' },
  'max.partitions.per.topic': { field: 'maxPartitionsPerTopic', type: 'int', min: 1, max: 100000, doc: 'Partitions one topic may have.' },
  'fetch.max.wait.ms.max': { field: 'fetchMaxWaitMsMax', type: 'int', min: 0, max: 300000, doc: 'Cap on Fetch long-poll time.' },
  'fetch.max.bytes': { field: 'fetchMaxBytes', type: 'int', min: 1024, max: 1073741824, doc: 'Most bytes of records one Fetch answer carries, whatever the client asks; the first batch may exceed it.' },
  'fetch.file.read.total.bytes': { field: 'fetchFileReadTotalBytes', type: 'int', min: 1048576, max: 1099511627776, doc: 'Memory that fetch answers read from segment files may pin together until sent; a read that does not fit waits up to the fetch\'s max wait, then its partition is answered without records.' },
  'retention.check.interval.ms': { field: 'retentionCheckIntervalMs', type: 'int', min: 100, max: 86400000, doc: 'How often retention runs.' },
  'checkpoint.interval.ms': { field: 'checkpointIntervalMs', type: 'int', min: 100, max: 86400000, doc: 'How often recovery points are checkpointed.' },
  'disk.min.free.bytes': { field: 'diskMinFreeBytes', type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, doc: 'Free bytes kept on the data directory\'s file system: Produce is refused with KAFKA_STORAGE_ERROR (retriable) rather than fill the disk; consumers and offset commits go on.' },
  'disk.check.interval.ms': { field: 'diskCheckIntervalMs', type: 'int', min: 10, max: 60000, doc: 'How often free disk space is read; in between, appended bytes are counted against the last reading.' },
  'tail.cache.total.bytes': { field: 'tailCacheTotalBytes', type: 'int', min: 0, max: 2147483647, doc: 'Memory all partitions\' tail caches may pin together (each partition at most 8 MiB); the oldest batches go first. 0 turns the cache off.' },
  'log.preallocate.bytes': { field: 'logPreallocateBytes', type: 'int', min: 0, max: MAX_PREALLOCATE_BYTES, doc: 'Zeros a flush.mode=sync partition writes and fsyncs at a time ahead of its data, once its active segment holds this much and while its writes average at most 128 KiB, so a durable append overwrites blocks the file has instead of growing it (growing makes each O_DSYNC write also write the file\'s metadata). Costs up to this much disk per partition being written; segments are cut back to their data when sealed or closed cleanly. 0 turns it off.' },
  'log.inline.write.max.bytes': { field: 'logInlineWriteMaxBytes', type: 'int', min: 0, max: MAX_INLINE_WRITE_BYTES, doc: 'A flush.mode=sync append up to this size is written on the event loop (one synchronous O_DSYNC write) when no other durable write is waiting for the disk: no write on the thread pool, none asked for by another partition in the same turn of the event loop, no writes of two other partitions or more finished on the thread pool in the last 5 ms, and no inline write of the last 5 s took 25 ms or more. Saves the thread pool\'s two wake-ups per write; the event loop waits for the disk meanwhile. 0 writes everything on the thread pool. Default 256 KiB for holdfast serve, 0 for an embedded startBroker() (it shares the application\'s event loop).' },
  'log.level': { field: 'logLevel', type: 'level', doc: 'debug, info, warn or error.' },
  'topic.defaults': { field: 'topicDefaults', type: 'topic-defaults', doc: 'Map of topic config defaults, e.g. flush.mode: async.' },
  'group.initial.rebalance.delay.ms': { field: 'groupInitialRebalanceDelayMs', type: 'int', min: 0, max: 300000, doc: 'Wait for more members before the first rebalance of an empty group.' },
  'group.min.session.timeout.ms': { field: 'groupMinSessionTimeoutMs', type: 'int', min: 1, max: 86400000, doc: 'Smallest session timeout a member may ask for.' },
  'group.max.session.timeout.ms': { field: 'groupMaxSessionTimeoutMs', type: 'int', min: 1, max: 86400000, doc: 'Largest session timeout a member may ask for.' },
  'group.max.size': { field: 'groupMaxSize', type: 'int', min: 1, max: 100000, doc: 'Members one group may have.' },
  'max.groups': { field: 'maxGroups', type: 'int', min: 1, max: 1000000, doc: 'Consumer groups one broker keeps.' },
  'group.max.member.metadata.bytes': { field: 'groupMaxMemberMetadataBytes', type: 'int', min: 1024, max: 104857600, doc: 'Protocol metadata bytes per member.' },
  'offset.metadata.max.bytes': { field: 'offsetMetadataMaxBytes', type: 'int', min: 0, max: 1048576, doc: 'Largest commit metadata string.' },
  'offsets.retention.minutes': { field: 'offsetsRetentionMinutes', type: 'int', min: 1, max: 52560000, doc: 'Offsets of a group empty this long are deleted.' },
  'offsets.retention.check.interval.ms': { field: 'offsetsRetentionCheckIntervalMs', type: 'int', min: 100, max: 86400000, doc: 'How often expired offsets are looked for.' },
};

export function defaultBrokerConfig(): BrokerConfig {
  return {
    nodeId: 1,
    host: '127.0.0.1',
    port: 9092,
    advertisedHost: '',
    advertisedPort: 0,
    dataDir: './data',
    autoCreateTopics: true,
    numPartitions: 1,
    socketRequestMaxBytes: 104857600,
    queuedMaxRequestBytes: 256 * 1024 * 1024,
    maxInflightRequestsPerConnection: 64,
    maxConnections: 1000,
    connectionsMaxIdleMs: 600000,
    maxPartitionsPerTopic: 10000,
    fetchMaxWaitMsMax: 30000,
    fetchMaxBytes: 57671680,
    fetchFileReadTotalBytes: 256 * 1024 * 1024,
    retentionCheckIntervalMs: 60000,
    checkpointIntervalMs: 60000,
    diskMinFreeBytes: 256 * 1024 * 1024,
    diskCheckIntervalMs: 1000,
    tailCacheTotalBytes: 256 * 1024 * 1024,
    logPreallocateBytes: 1024 * 1024,
    logInlineWriteMaxBytes: 256 * 1024,
    logLevel: 'info',
    topicDefaults: {},
    groupInitialRebalanceDelayMs: 3000,
    groupMinSessionTimeoutMs: 6000,
    groupMaxSessionTimeoutMs: 1800000,
    groupMaxSize: 1000,
    maxGroups: 10000,
    groupMaxMemberMetadataBytes: 1048576,
    offsetMetadataMaxBytes: 4096,
    offsetsRetentionMinutes: 10080,
    offsetsRetentionCheckIntervalMs: 600000,
  };
}

function parseValue(key: string, spec: KeySpec, raw: unknown): unknown {
  switch (spec.type) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw new ConfigError(`config ${key}: expected an integer, got ${JSON.stringify(raw)}`);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`config ${key}: ${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`config ${key}: ${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'bool':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw new ConfigError(`config ${key}: expected true or false, got ${JSON.stringify(raw)}`);
    case 'string':
      if (typeof raw !== 'string' || raw.length === 0) throw new ConfigError(`config ${key}: expected a non-empty string, got ${JSON.stringify(raw)}`);
      return raw;
    case 'level':
      if (raw !== 'debug' && raw !== 'info' && raw !== 'warn' && raw !== 'error') {
        throw new ConfigError(`config ${key}: expected debug, info, warn or error, got ${JSON.stringify(raw)}`);
      }
      return raw;
    case 'topic-defaults': {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config ${key}: expected a map of topic configs`);
      const out: TopicConfigOverrides = {};
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (!(k in TOPIC_CONFIGS)) throw new ConfigError(`config ${key}.${k}: unknown topic config; known: ${Object.keys(TOPIC_CONFIGS).join(', ')}`);
        out[k] = String(v);
      }
      validateTopicConfigs(out, '(broker default)');
      return out;
    }
  }
}

/**
 * Applies `entries` (from a YAML file, flags, or code) over `base`. Keys use the YAML names
 * (`node.id`) or the field names (`nodeId`); anything else is an error naming the key.
 */
export function applyConfig(base: BrokerConfig, entries: Record<string, unknown>, origin: string): BrokerConfig {
  const out: BrokerConfig = { ...base, topicDefaults: { ...base.topicDefaults } };
  const byField = new Map(Object.entries(BROKER_KEYS).map(([k, s]) => [s.field as string, [k, s] as const]));
  for (const [key, raw] of Object.entries(entries)) {
    if (raw === undefined) continue;
    const found = key in BROKER_KEYS ? ([key, BROKER_KEYS[key]] as const) : byField.get(key);
    if (found === undefined) throw new ConfigError(`${origin}: unknown config key "${key}"; known keys: ${Object.keys(BROKER_KEYS).join(', ')}`);
    const [name, spec] = found;
    const value = parseValue(name, spec, raw);
    if (spec.type === 'topic-defaults') Object.assign(out.topicDefaults, value);
    else (out as unknown as Record<string, unknown>)[spec.field] = value;
  }
  return out;
}

/**
 * Rules between keys, checked once all are applied (so their order in a file does not matter):
 * throws ConfigError naming both keys and values.
 */
export function checkBrokerConfig(config: BrokerConfig): void {
  const queued = config.queuedMaxRequestBytes;
  if (queued !== -1 && (queued < 0 || queued < config.socketRequestMaxBytes)) {
    throw new ConfigError(`config queued.max.request.bytes: ${queued} must be -1 (no bound) or at least socket.request.max.bytes (${config.socketRequestMaxBytes}), so that the largest request fits`);
  }
  if (config.groupMinSessionTimeoutMs > config.groupMaxSessionTimeoutMs) {
    throw new ConfigError(`config group.min.session.timeout.ms: ${config.groupMinSessionTimeoutMs} is above group.max.session.timeout.ms (${config.groupMaxSessionTimeoutMs})`);
  }
}

/** The host clients should connect to. */
export function advertisedHostOf(config: BrokerConfig): string {
  if (config.advertisedHost) return config.advertisedHost;
  return config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
}
