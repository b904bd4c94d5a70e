// A single-node Holdfast broker: opens the data directory (recovering every partition), serves the
// Kafka protocol, runs retention and checkpoints, and shuts down cleanly. The same class backs
// `holdfast serve` and the embedded `startBroker()`.
import { ByteBudget, createLogger, HoldfastError, systemClock, type Clock, type Logger } from '../util/index.ts';
import { DiskSpace, LogManager, NodeFileSystem, type FileSystem, type PartitionLog } from '../storage/index.ts';
import { API_KEYS } from '../protocol/kafka/index.ts';
import { advertisedHostOf, applyConfig, checkBrokerConfig, defaultBrokerConfig, type BrokerConfig } from './config.ts';
import type { BrokerContext } from './context.ts';
import { KafkaServer, type RequestContext } from './kafka-server.ts';
import { TopicRegistry, invalidTopicNameReason, type TopicRecord } from './topics.ts';
import { resolveTopicConfig, validateTopicConfigs, type EffectiveTopicConfig, type TopicConfigOverrides } from './topic-config.ts';
import { SUPPORTED_VERSIONS } from './versions.ts';
import { handleProduce } from './produce.ts';
import { handleFetch } from './fetch.ts';
import { handleApiVersions, handleListOffsets, handleMetadata } from './metadata.ts';
import { handleAlterConfigs, handleDeleteRecords, handleDescribeLogDirs, handleCreatePartitions, handleCreateTopics, handleDeleteTopics, handleIncrementalAlterConfigs, handleDescribeConfigs, handleInitProducerId } from './admin.ts';
import { GroupCoordinator } from './groups/coordinator.ts';
import { OffsetStore, OFFSETS_TOPIC } from './groups/offset-store.ts';
import * as groupApi from './groups/api.ts';

export interface BrokerDependencies {
  /** File system seam; tests pass a SimFileSystem to simulate crashes. @default the real file system */
  fs?: FileSystem;
  /** Clock seam for timers and timestamps. @default the system clock */
  clock?: Clock;
  /** Where the broker logs (level from the config's log.level). @default a logger writing to stderr */
  logger?: Logger;
  /** Called once when storage fails (a failed fsync or write), as the broker stops serving. @default none */
  onFatal?: (err: Error) => void;
}

export class Broker implements BrokerContext {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: TopicRegistry;
  readonly logs: LogManager;
  readonly disk: DiskSpace;
  readonly fetchFileReads: ByteBudget;
  /** queued.max.request.bytes: request frames held from their size prefix until handled; null for no bound. */
  readonly requestBytes: ByteBudget | null;
  advertised = { host: '', port: 0 };
  groups!: GroupCoordinator;
  private server: KafkaServer | null = null;
  private readonly configCache = new Map<string, EffectiveTopicConfig>();
  private readonly creating = new Map<string, Promise<TopicRecord>>();
  /** The last change queued per topic (see serialized). */
  private readonly topicChanges = new Map<string, Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private state: 'running' | 'closing' | 'closed' | 'failed' = 'running';
  private closing: Promise<void> | null = null;
  /** Where the Kafka listener is bound. */
  host = '';
  port = 0;

  private constructor(config: BrokerConfig, clock: Clock, logger: Logger, registry: TopicRegistry, logs: LogManager, disk: DiskSpace) {
    this.config = config;
    this.clock = clock;
    this.logger = logger;
    this.registry = registry;
    this.logs = logs;
    this.disk = disk;
    this.fetchFileReads = new ByteBudget(config.fetchFileReadTotalBytes);
    this.requestBytes = config.queuedMaxRequestBytes === -1 ? null : new ByteBudget(config.queuedMaxRequestBytes);
  }

  /** Opens the data directory, recovers, and starts listening. */
  static async start(config: BrokerConfig, deps: BrokerDependencies = {}): Promise<Broker> {
    checkBrokerConfig(config);
    const fs = deps.fs ?? new NodeFileSystem();
    const clock = deps.clock ?? systemClock;
    const logger = deps.logger ?? createLogger({ level: config.logLevel, fields: { node: config.nodeId } });
    const registry = await TopicRegistry.load(fs, config.dataDir, config.nodeId);
    let broker: Broker | null = null;
    const onFatal = (err: Error): void => {
      logger.error('storage failure: stopping the broker', { err });
      void broker?.fail();
      deps.onFatal?.(err);
    };
    const disk = new DiskSpace(fs, config.dataDir, config.diskMinFreeBytes, logger);
    await disk.refresh();
    const logs = await LogManager.open({
      fs,
      clock,
      logger,
      dataDir: config.dataDir,
      onFatal,
      configFor: (topic) => resolveTopicConfig(registry.get(topic)?.configs ?? {}, config.topicDefaults).log,
      tailCacheTotalBytes: config.tailCacheTotalBytes,
      // Group state is served from memory; commits are small batches that would pin pool chunks,
      // and their writes follow the consumers (LogManagerOptions.internalTopics).
      internalTopics: [OFFSETS_TOPIC],
      preallocateBytes: config.logPreallocateBytes,
      inlineWriteMaxBytes: config.logInlineWriteMaxBytes,
      // Zeros take disk space as data does: never into the reserve that keeps Produce refusable.
      reserveBytes: (bytes) => disk.admit(bytes) === null,
    });
    broker = new Broker(config, clock, logger, registry, logs, disk);
    await broker.reconcileLogs();
    broker.warnInvalidTopicConfigs();
    await broker.startGroupCoordinator();
    await broker.listen();
    broker.startTimers();
    return broker;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Open client connections on the Kafka listener. */
  get connectionCount(): number {
    return this.server?.connectionCount ?? 0;
  }

  /**
   * A topic's configs were valid when it was made; a later change to topic.defaults (flush.mode:
   * async under a topic with Kafka's flush.messages, say) can make them a combination Holdfast
   * refuses. The topic keeps working as it is; the operator is told which setting has no effect.
   */
  private warnInvalidTopicConfigs(): void {
    for (const topic of this.registry.list()) {
      try {
        validateTopicConfigs(topic.configs, topic.name, this.config.topicDefaults);
      } catch (err) {
        this.logger.warn('topic configs would be refused with the current topic.defaults; the topic keeps them', { topic: topic.name, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** Every registered topic has all its partition logs (a crash may have come between the two). */
  private async reconcileLogs(): Promise<void> {
    for (const topic of this.registry.list()) {
      for (let p = 0; p < topic.partitions; p++) {
        if (this.logs.getLog(topic.name, p) === undefined) {
          await this.logs.createLog(topic.name, p, this.topicConfig(topic.name).log, topic.topicId);
        }
      }
    }
    const known = new Set(this.registry.list().map((t) => t.name));
    for (const log of this.logs.allLogs()) {
      if (!known.has(log.topic)) this.logger.warn('partition directory has no registered topic; leaving it alone', { topic: log.topic, partition: log.partition });
    }
    for (const log of this.logs.allLogs()) {
      if (log.state !== 'online') this.logger.error('partition offline', { topic: log.topic, partition: log.partition, reason: log.offlineReason });
    }
  }

  /** Opens __consumer_offsets (creating it on first start) and restores groups and offsets from it. */
  private async startGroupCoordinator(): Promise<void> {
    if (this.registry.get(OFFSETS_TOPIC) === undefined) {
      // Offsets must outlive time-based retention: the store compacts the log itself.
      await this.createTopic(OFFSETS_TOPIC, 1, { 'retention.ms': '-1' }, true);
    }
    const log = this.logs.getLog(OFFSETS_TOPIC, 0);
    if (log === undefined || log.state !== 'online') {
      throw new HoldfastError('KAFKA_STORAGE_ERROR', `${OFFSETS_TOPIC}-0 is ${log === undefined ? 'missing' : `offline: ${log.offlineReason ?? ''}`}; group state cannot be loaded`);
    }
    const loaded = await OffsetStore.load(log, this.logger);
    const c = this.config;
    this.groups = new GroupCoordinator({
      store: loaded.store,
      clock: this.clock,
      logger: this.logger.child({ component: 'groups' }),
      partitionExists: (topic, partition) => this.partitionLog(topic, partition) !== undefined,
      config: {
        initialRebalanceDelayMs: c.groupInitialRebalanceDelayMs,
        minSessionTimeoutMs: c.groupMinSessionTimeoutMs,
        maxSessionTimeoutMs: c.groupMaxSessionTimeoutMs,
        maxGroups: c.maxGroups,
        maxMembersPerGroup: c.groupMaxSize,
        maxMemberMetadataBytes: c.groupMaxMemberMetadataBytes,
        maxOffsetMetadataBytes: c.offsetMetadataMaxBytes,
        offsetsRetentionMs: c.offsetsRetentionMinutes * 60_000,
      },
    });
    this.groups.restore(loaded.groups, loaded.offsets);
  }

  private async listen(): Promise<void> {
    this.server = new KafkaServer({
      host: this.config.host,
      port: this.config.port,
      maxFrameBytes: this.config.socketRequestMaxBytes,
      maxInflightPerConnection: this.config.maxInflightRequestsPerConnection,
      maxConnections: this.config.maxConnections,
      requestBytes: this.requestBytes,
      // Off only to measure what the pool saves (docs/performance.md).
      poolProduceFrames: process.env.HOLDFAST_POOL_PRODUCE_FRAMES !== '0',
      connectionsMaxIdleMs: this.config.connectionsMaxIdleMs,
      logger: this.logger,
      supported: SUPPORTED_VERSIONS,
      handler: (ctx, body) => this.handle(ctx, body),
    });
    const bound = await this.server.listen();
    this.host = bound.host;
    this.port = bound.port;
    this.advertised = { host: advertisedHostOf(this.config), port: this.config.advertisedPort > 0 ? this.config.advertisedPort : bound.port };
  }

  private startTimers(): void {
    const every = (ms: number, task: () => Promise<unknown>, what: string): void => {
      let busy = false;
      const t = setInterval(() => {
        if (busy || !this.running) return;
        busy = true;
        task()
          .catch((err: unknown) => this.logger.error(`${what} failed`, { err }))
          .finally(() => {
            busy = false;
          });
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    // What retention frees is seen at once, not at the next disk reading.
    every(this.config.retentionCheckIntervalMs, () => this.logs.runRetention().then(() => this.disk.refresh()), 'retention');
    every(this.config.checkpointIntervalMs, () => this.logs.checkpoint(), 'checkpoint');
    every(this.config.diskCheckIntervalMs, () => this.disk.refresh(), 'disk space check');
    every(this.config.offsetsRetentionCheckIntervalMs, () => this.groups.expireOffsets(), 'offset expiry');
  }

  private handle(ctx: RequestContext, body: unknown): unknown {
    switch (ctx.apiKey) {
      case API_KEYS.Produce:
        return handleProduce(this, ctx, body as never);
      case API_KEYS.Fetch:
        return handleFetch(this, ctx, body as never);
      case API_KEYS.ListOffsets:
        return handleListOffsets(this, ctx, body as never);
      case API_KEYS.Metadata:
        return handleMetadata(this, ctx, body as never);
      case API_KEYS.ApiVersions:
        return handleApiVersions();
      case API_KEYS.CreateTopics:
        return handleCreateTopics(this, ctx, body as never);
      case API_KEYS.DeleteTopics:
        return handleDeleteTopics(this, ctx, body as never);
      case API_KEYS.CreatePartitions:
        return handleCreatePartitions(this, ctx, body as never);
      case API_KEYS.DeleteRecords:
        return handleDeleteRecords(this, ctx, body as never);
      case API_KEYS.DescribeLogDirs:
        return handleDescribeLogDirs(this, ctx, body as never);
      case API_KEYS.AlterConfigs:
        return handleAlterConfigs(this, ctx, body as never);
      case API_KEYS.IncrementalAlterConfigs:
        return handleIncrementalAlterConfigs(this, ctx, body as never);
      case API_KEYS.DescribeConfigs:
        return handleDescribeConfigs(this, ctx, body as never);
      case API_KEYS.InitProducerId:
        return handleInitProducerId(this, ctx, body as never);
      case API_KEYS.FindCoordinator:
        return groupApi.handleFindCoordinator({ nodeId: this.config.nodeId, ...this.advertised }, ctx, body as never);
      case API_KEYS.JoinGroup:
        return groupApi.handleJoinGroup(this.groups, ctx, body as never);
      case API_KEYS.SyncGroup:
        return groupApi.handleSyncGroup(this.groups, ctx, body as never);
      case API_KEYS.Heartbeat:
        return groupApi.handleHeartbeat(this.groups, ctx, body as never);
      case API_KEYS.LeaveGroup:
        return groupApi.handleLeaveGroup(this.groups, ctx, body as never);
      case API_KEYS.OffsetCommit:
        return groupApi.handleOffsetCommit(this.groups, ctx, body as never);
      case API_KEYS.OffsetFetch:
        return groupApi.handleOffsetFetch(this.groups, ctx, body as never);
      case API_KEYS.ListGroups:
        return groupApi.handleListGroups(this.groups, ctx, body as never);
      case API_KEYS.DescribeGroups:
        return groupApi.handleDescribeGroups(this.groups, ctx, body as never);
      case API_KEYS.DeleteGroups:
        return groupApi.handleDeleteGroups(this.groups, ctx, body as never);
      case API_KEYS.OffsetDelete:
        return groupApi.handleOffsetDelete(this.groups, ctx, body as never);
      default:
        throw new HoldfastError('UNSUPPORTED_API', `api key ${ctx.apiKey} has no handler`);
    }
  }

  topicConfig(topic: string): EffectiveTopicConfig {
    let cfg = this.configCache.get(topic);
    if (cfg === undefined) {
      cfg = resolveTopicConfig(this.registry.get(topic)?.configs ?? {}, this.config.topicDefaults);
      this.configCache.set(topic, cfg);
    }
    return cfg;
  }

  partitionLog(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.getLog(topic, partition);
  }

  validateTopic(name: string, partitions: number, configs: Record<string, string>, internal = false): void {
    const reason = invalidTopicNameReason(name) ?? (!internal && name === OFFSETS_TOPIC ? `topic ${name} is internal` : null);
    if (reason !== null) throw new HoldfastError('INVALID_TOPIC', reason, { kafkaErrorCode: 17 });
    if (this.registry.get(name) !== undefined || this.creating.has(name)) {
      throw new HoldfastError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`, { kafkaErrorCode: 36 });
    }
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > this.config.maxPartitionsPerTopic) {
      throw new HoldfastError('INVALID_PARTITIONS', `topic ${name}: ${partitions} partitions is outside 1..${this.config.maxPartitionsPerTopic} (max.partitions.per.topic)`, { kafkaErrorCode: 37 });
    }
    validateTopicConfigs(configs, name, this.config.topicDefaults);
  }

  createTopic(name: string, partitions: number, configs: Record<string, string>, internal = false): Promise<TopicRecord> {
    // Concurrent auto-creations of one name share the first creation.
    const inFlight = this.creating.get(name);
    if (inFlight !== undefined) return inFlight;
    try {
      this.validateTopic(name, partitions, configs, internal);
    } catch (err) {
      return Promise.reject(err);
    }
    const work = (async () => {
      const record = await this.registry.create(name, partitions, configs, this.clock.nowMs());
      this.configCache.delete(name);
      for (let p = 0; p < partitions; p++) await this.logs.createLog(name, p, this.topicConfig(name).log, record.topicId);
      this.logger.info('topic created', { topic: name, partitions });
      return record;
    })();
    this.creating.set(name, work);
    const done = (): void => {
      this.creating.delete(name);
    };
    work.then(done, done);
    return work;
  }

  /** Runs changes to one topic one after another: adding partitions, altering configs, deleting. */
  private serialized<T>(topic: string, work: () => Promise<T>): Promise<T> {
    const previous = this.topicChanges.get(topic) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.topicChanges.set(topic, settled);
    void settled.then(() => {
      if (this.topicChanges.get(topic) === settled) this.topicChanges.delete(topic);
    });
    return next;
  }

  /**
   * Throws the error createPartitions would throw for growing `name` to `count` partitions
   * (`assigned` new partitions given an explicit assignment, or null), without changing anything.
   * Kafka's errors and messages (KRaft's ReplicationControlManager).
   */
  validatePartitionIncrease(name: string, count: number, assigned: number | null): void {
    const topic = this.registry.get(name);
    if (topic === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
    if (name === OFFSETS_TOPIC) throw new HoldfastError('INVALID_TOPIC', `topic ${name} is internal: its partitions cannot be changed`, { kafkaErrorCode: 17 });
    if (count < topic.partitions) throw new HoldfastError('INVALID_PARTITIONS', `The topic ${name} currently has ${topic.partitions} partition(s); ${count} would not be an increase.`, { kafkaErrorCode: 37 });
    if (count === topic.partitions) throw new HoldfastError('INVALID_PARTITIONS', `Topic already has ${count} partition(s).`, { kafkaErrorCode: 37 });
    if (count > this.config.maxPartitionsPerTopic) {
      throw new HoldfastError('INVALID_PARTITIONS', `topic ${name}: ${count} partitions is above ${this.config.maxPartitionsPerTopic} (max.partitions.per.topic)`, { kafkaErrorCode: 37 });
    }
    const adding = count - topic.partitions;
    if (assigned !== null && assigned !== adding) {
      throw new HoldfastError('INVALID_REPLICA_ASSIGNMENT', `Attempted to add ${adding} additional partition(s), but only ${assigned} assignment(s) were specified.`, { kafkaErrorCode: 39 });
    }
  }

  /**
   * Grows a topic to `count` partitions (CreatePartitions). The new partitions' logs are made
   * first and the count recorded after, so a crash between leaves empty logs no one sees, which a
   * retry adopts; Metadata shows the new partitions only once they can take writes.
   */
  createPartitions(name: string, count: number): Promise<void> {
    return this.serialized(name, async () => {
      this.validatePartitionIncrease(name, count, null);
      const topic = this.registry.get(name) as TopicRecord;
      const from = topic.partitions;
      for (let p = from; p < count; p++) await this.logs.createLog(name, p, this.topicConfig(name).log, topic.topicId);
      await this.registry.setPartitions(name, count);
      this.logger.info('partitions added', { topic: name, from, to: count });
    });
  }

  /**
   * Throws the error alterTopicConfigs would throw for giving `name` exactly the overrides
   * `configs`, without changing anything: the topic must exist and not be internal, and the
   * configs must be valid on their own and with the broker's topic.defaults.
   */
  validateTopicConfigChange(name: string, configs: TopicConfigOverrides): void {
    if (this.registry.get(name) === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
    if (name === OFFSETS_TOPIC) throw new HoldfastError('INVALID_TOPIC', `topic ${name} is internal: its configs cannot be changed`, { kafkaErrorCode: 17 });
    validateTopicConfigs(configs, name, this.config.topicDefaults);
  }

  /**
   * Gives a topic the config overrides `change` makes of its current ones (AlterConfigs,
   * IncrementalAlterConfigs), after any change to the topic before it, so concurrent changes do
   * not undo each other. Recorded first, then taken by every partition log in its writer's order,
   * so appends already queued are written under the old configs (see PartitionLog.reconfigure). A
   * crash in between opens the logs with the recorded configs. Errors `change` throws reject.
   */
  alterTopicConfigs(name: string, change: (current: Readonly<TopicConfigOverrides>) => TopicConfigOverrides): Promise<void> {
    return this.serialized(name, async () => {
      const topic = this.registry.get(name);
      if (topic === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
      const before = topic.configs;
      const configs = change(before);
      this.validateTopicConfigChange(name, configs);
      await this.registry.setConfigs(name, configs);
      this.configCache.delete(name);
      const log = this.topicConfig(name).log;
      const changes: Promise<void>[] = [];
      for (let p = 0; p < topic.partitions; p++) {
        const partition = this.logs.getLog(name, p);
        if (partition !== undefined) changes.push(partition.reconfigure(log));
      }
      // A log that fails meanwhile is fatal for the broker (onFatal); the recorded configs stand.
      await Promise.allSettled(changes);
      this.logger.info('topic configs altered', { topic: name, before, after: configs });
    });
  }

  deleteTopic(name: string): Promise<void> {
    return this.serialized(name, () => this.deleteTopicNow(name));
  }

  private async deleteTopicNow(name: string): Promise<void> {
    if (name === OFFSETS_TOPIC) throw new HoldfastError('INVALID_TOPIC', `topic ${name} is internal and cannot be deleted`, { kafkaErrorCode: 17 });
    const topic = this.registry.get(name);
    if (topic === undefined) throw new HoldfastError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { kafkaErrorCode: 3 });
    for (let p = 0; p < topic.partitions; p++) {
      if (this.logs.getLog(name, p) !== undefined) await this.logs.deleteLog(name, p);
    }
    await this.registry.remove(name);
    this.configCache.delete(name);
    this.logger.info('topic deleted', { topic: name });
    await this.disk.refresh(); // the space it held counts at once
  }

  /** Storage failed: stop serving at once; recovery on the next start decides what survived. */
  private async fail(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'failed';
    for (const t of this.timers) clearInterval(t);
    this.groups?.close();
    await this.server?.close();
  }

  /** Clean shutdown: stop accepting, drain, fsync, write indexes and checkpoints. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const failed = this.state === 'failed';
    this.state = 'closing';
    for (const t of this.timers) clearInterval(t);
    await this.server?.close();
    this.groups?.close();
    if (!failed) await this.logs.close();
    this.state = 'closed';
    this.logger.info('broker stopped');
  }
}

export interface StartBrokerOptions extends BrokerDependencies {
  /** Data directory. */
  dataDir: string;
  /** Kafka listener port; 0 picks a free one. @default 9092 */
  port?: number;
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Any other broker config key (YAML names like 'num.partitions' or field names; see the README). @default {} */
  config?: Record<string, unknown>;
}

/**
 * Where an embedded broker's defaults differ from `holdfast serve`'s: it runs on the application's
 * event loop, which should not wait for the disk unless the application asks for it.
 */
const EMBEDDED_DEFAULTS: Partial<BrokerConfig> = { logInlineWriteMaxBytes: 0 };

/** Starts an embedded broker in this process. */
export async function startBroker(options: StartBrokerOptions): Promise<Broker> {
  let config = applyConfig({ ...defaultBrokerConfig(), ...EMBEDDED_DEFAULTS }, options.config ?? {}, 'startBroker config');
  config = applyConfig(config, { dataDir: options.dataDir, port: options.port, host: options.host }, 'startBroker options');
  return Broker.start(config, options);
}
