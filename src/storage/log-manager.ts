// LogManager: every partition log of one data directory. Opens (and recovers) them at start,
// creates and deletes them, and owns the directory-level files:
//   recovery-point-checkpoint     per partition: offset below which everything is fsynced
//   log-start-offset-checkpoint   per partition: first readable offset
//   .clean-shutdown               written last by close(); removed (durably) before any append
// Without the marker every partition is recovered from its recovery point.
import { assert, type Clock, HoldfastError, type Logger } from '../util/index.ts';
import { readFileIfExists, writeFileAtomic } from './atomic-file.ts';
import { encodeOffsetCheckpoint, type OffsetCheckpointEntry, parseOffsetCheckpoint } from './checkpoint.ts';
import { type LogConfig, validateLogConfig } from './config.ts';
import { type FileSystem, joinPath, realTimers, type Timers } from './fs.ts';
import { DEFAULT_MAX_OPEN_FILES, FileHandleCache } from './handle-cache.ts';
import { InlineWrites } from './inline-writes.ts';
import { PartitionLog } from './log.ts';
import { TailCacheBudget } from './tail-cache.ts';
import { PARTITION_META_FILE } from './log-loader.ts';
import { LOG_SUFFIX, segmentFileName } from './segment.ts';

export const RECOVERY_POINT_CHECKPOINT_FILE = 'recovery-point-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT_FILE = 'log-start-offset-checkpoint';
export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
const DELETE_SUFFIX = '-delete';
const DEFAULT_OPEN_CONCURRENCY = 32;
export const DEFAULT_TAIL_CACHE_TOTAL_BYTES = 256 * 1024 * 1024;

export interface LogManagerOptions {
  fs: FileSystem;
  clock: Clock;
  logger: Logger;
  dataDir: string;
  /** Called once per failed log when a write or fsync fails. */
  onFatal: (err: Error) => void;
  configFor: (topic: string) => LogConfig;
  timers?: Timers;
  /** Bound on open segment files across all logs. @default 1024 */
  maxOpenFiles?: number;
  /** Per-log tail cache. @default 8 MiB */
  tailCacheBytes?: number;
  /** Bound on the tail caches of all logs together; the oldest cached batches go first. @default 256 MiB */
  tailCacheTotalBytes?: number;
  /**
   * Topics the caller keeps for itself (the broker's __consumer_offsets): no consumer tails them,
   * and the caller builds their batches. Their logs
   * - keep no tail cache: offset commits are small batches cut from Node's shared 64 KiB buffer
   *   pool; cached, each kept its pool chunk for tens of seconds, long enough to be promoted, and
   *   the chunk then waited for a full collection. Reads of these logs go to the files;
   * - are side logs for inline writes (PartitionLogOptions.sideLog).
   */
  internalTopics?: readonly string[];
  /** Logs opened in parallel at start. @default 32 */
  openConcurrency?: number;
  /** See PartitionLogOptions.cleanOpenScanBytes. @default 64 KiB */
  cleanOpenScanBytes?: number;
  /** See PartitionLogOptions.preallocateBytes. @default 0 */
  preallocateBytes?: number;
  /** See PartitionLogOptions.reserveBytes. */
  reserveBytes?: (bytes: number) => boolean;
  /**
   * Durable appends up to this size may be written on the event loop when no other durable write
   * is waiting for the disk (one InlineWrites shared by every log; see inline-writes.ts). 0: all
   * on the thread pool.
   * @default 0
   */
  inlineWriteMaxBytes?: number;
}

/** `<topic>-<partition>`; topic names may contain '-' and '.', so the partition follows the last '-'. */
export function parsePartitionDirName(name: string): { topic: string; partition: number } | null {
  const dash = name.lastIndexOf('-');
  if (dash <= 0) return null;
  const digits = name.slice(dash + 1);
  if (!/^\d{1,9}$/.test(digits)) return null;
  const topic = name.slice(0, dash);
  if (!/^[a-zA-Z0-9._-]+$/.test(topic)) return null;
  return { topic, partition: Number(digits) };
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class LogManager {
  readonly dataDir: string;
  private readonly options: LogManagerOptions;
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  private readonly handles: FileHandleCache;
  private readonly tailCacheBudget: TailCacheBudget;
  /** Shared by every log, so that it sees all their durable writes; undefined when inlineWriteMaxBytes is 0. */
  readonly inlineWrites: InlineWrites | undefined;
  private readonly logs = new Map<string, PartitionLog>();
  /** The same logs by topic, then partition: getLog runs per partition of every Produce and Fetch, without building a key. */
  private readonly byTopic = new Map<string, Array<PartitionLog | undefined>>();
  /** Last checkpointed values, kept for logs that are offline so their entries are not lost. */
  private readonly recoveryPoints = new Map<string, OffsetCheckpointEntry>();
  private readonly startOffsets = new Map<string, OffsetCheckpointEntry>();
  private checkpointChain: Promise<void> = Promise.resolve();
  private readonly creating = new Map<string, Promise<PartitionLog>>();
  private readonly offlineAtOpen = new Set<PartitionLog>();
  private closed = false;

  private constructor(options: LogManagerOptions) {
    this.options = options;
    this.dataDir = options.dataDir;
    this.fs = options.fs;
    this.logger = options.logger;
    this.handles = new FileHandleCache(options.fs, options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES);
    this.tailCacheBudget = new TailCacheBudget(options.tailCacheTotalBytes ?? DEFAULT_TAIL_CACHE_TOTAL_BYTES);
    const inlineMax = options.inlineWriteMaxBytes ?? 0;
    this.inlineWrites = inlineMax > 0 ? new InlineWrites({ maxBytes: inlineMax, clock: options.clock }) : undefined;
  }

  /** Loads checkpoints and opens every partition directory (recovering after a crash). */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const manager = new LogManager(options);
    await manager.load();
    return manager;
  }

  private async load(): Promise<void> {
    await this.fs.mkdir(this.dataDir);
    await this.readCheckpoint(RECOVERY_POINT_CHECKPOINT_FILE, this.recoveryPoints);
    await this.readCheckpoint(LOG_START_OFFSET_CHECKPOINT_FILE, this.startOffsets);
    const markerPath = joinPath(this.dataDir, CLEAN_SHUTDOWN_FILE);
    const clean = await this.fs.exists(markerPath);
    if (clean) {
      // Durably gone before the first append: a later crash must not look like a clean stop.
      await this.fs.unlink(markerPath);
      await this.fs.fsyncDir(this.dataDir);
    }
    const dirs: { name: string; topic: string; partition: number }[] = [];
    for (const name of await this.fs.readdir(this.dataDir)) {
      if (name.endsWith(DELETE_SUFFIX)) {
        this.logger.info('finishing deletion of a partition directory', { dir: joinPath(this.dataDir, name) });
        await this.fs.rmdir(joinPath(this.dataDir, name), { recursive: true });
        continue;
      }
      const parsed = parsePartitionDirName(name);
      if (parsed !== null) dirs.push({ name, ...parsed });
    }
    // After an unclean stop, entries the previous process created may not be durable yet.
    if (!clean) await this.fs.fsyncDir(this.dataDir);
    const started = this.options.clock.monotonicMs();
    await mapLimit(dirs, this.options.openConcurrency ?? DEFAULT_OPEN_CONCURRENCY, async (d) => {
      const log = await this.openLog(d.topic, d.partition, joinPath(this.dataDir, d.name), clean);
      if (log !== undefined) this.addLog(log);
    });
    for (const log of this.logs.values()) if (log.state !== 'online') this.offlineAtOpen.add(log);
    const offline = this.offlineAtOpen.size;
    this.logger.info('logs loaded', { logs: this.logs.size, offline, clean, ms: Math.round(this.options.clock.monotonicMs() - started) });
  }

  private async readCheckpoint(file: string, into: Map<string, OffsetCheckpointEntry>): Promise<void> {
    const path = joinPath(this.dataDir, file);
    const data = await readFileIfExists(this.fs, path);
    if (data === null) return;
    try {
      for (const e of parseOffsetCheckpoint(data, path)) into.set(key(e.topic, e.partition), e);
    } catch (err) {
      // Safe to ignore: a missing recovery point means a full scan, a missing start offset means
      // the first segment's base offset.
      this.logger.warn('ignoring unreadable checkpoint', { file: path, error: err });
    }
  }

  private async openLog(topic: string, partition: number, dir: string, clean: boolean, fresh = false): Promise<PartitionLog | undefined> {
    // An invalid topic config fails the open loudly (ConfigError) rather than guessing.
    const config = validateLogConfig(this.options.configFor(topic));
    const k = key(topic, partition);
    const internal = this.options.internalTopics?.includes(topic) === true;
    return PartitionLog.open({
      fs: this.fs,
      clock: this.options.clock,
      logger: this.logger,
      dir,
      topic,
      partition,
      config,
      // A directory createLog just made (and fsynced) holds one empty segment: nothing to recover.
      recoveryPoint: fresh ? 0 : this.recoveryPoints.get(k)?.offset,
      logStartOffset: this.startOffsets.get(k)?.offset,
      cleanShutdown: clean,
      onFatal: this.options.onFatal,
      timers: this.options.timers ?? realTimers,
      handles: this.handles,
      tailCacheBytes: internal ? 0 : this.options.tailCacheBytes,
      tailCacheBudget: this.tailCacheBudget,
      cleanOpenScanBytes: this.options.cleanOpenScanBytes,
      preallocateBytes: this.options.preallocateBytes,
      reserveBytes: this.options.reserveBytes,
      inlineWrites: this.inlineWrites,
      sideLog: internal,
    });
  }

  getLog(topic: string, partition: number): PartitionLog | undefined {
    return this.byTopic.get(topic)?.[partition];
  }

  allLogs(): PartitionLog[] {
    return [...this.logs.values()];
  }

  /** Creates the partition directory (partition.meta + an empty first segment) and opens it. */
  createLog(topic: string, partition: number, config: LogConfig, topicId: string): Promise<PartitionLog> {
    // Concurrent calls for one partition share a single creation: never two writers on one directory.
    const k = key(topic, partition);
    const inFlight = this.creating.get(k);
    if (inFlight !== undefined) return inFlight;
    const creation = this.create(topic, partition, config, topicId).finally(() => this.creating.delete(k));
    this.creating.set(k, creation);
    return creation;
  }

  private async create(topic: string, partition: number, config: LogConfig, topicId: string): Promise<PartitionLog> {
    assert(!this.closed, 'log manager is closed');
    const name = `${topic}-${partition}`;
    const parsed = parsePartitionDirName(name);
    if (parsed === null || parsed.topic !== topic || parsed.partition !== partition) {
      throw new HoldfastError('INVALID_TOPIC_EXCEPTION', `cannot create a log for topic ${JSON.stringify(topic)} partition ${partition}`, { kafkaErrorCode: 17 });
    }
    const k = key(topic, partition);
    const existing = this.logs.get(k);
    if (existing !== undefined) {
      const existingId = await existing.readTopicId();
      if (existingId !== undefined && existingId !== topicId) {
        throw new HoldfastError('TOPIC_ALREADY_EXISTS', `log ${name} already exists with topic id ${existingId}`, { kafkaErrorCode: 36 });
      }
      return existing;
    }
    validateLogConfig(config);
    const dir = joinPath(this.dataDir, name);
    await this.fs.mkdir(dir);
    await writeFileAtomic(this.fs, joinPath(dir, PARTITION_META_FILE), Buffer.from(JSON.stringify({ topic, partition, topicId }) + '\n'));
    const first = await this.fs.open(joinPath(dir, segmentFileName(0, LOG_SUFFIX)), 'create');
    await first.close();
    await this.fs.fsyncDir(dir);
    await this.fs.fsyncDir(this.dataDir);
    const log = await this.openLog(topic, partition, dir, true, true);
    assert(log !== undefined, 'new log did not open');
    if (log.state !== 'online') throw new HoldfastError('KAFKA_STORAGE_ERROR', `new log ${name} is ${log.state}: ${log.offlineReason}`, { kafkaErrorCode: 56 });
    this.addLog(log);
    return log;
  }

  private addLog(log: PartitionLog): void {
    this.logs.set(key(log.topic, log.partition), log);
    let partitions = this.byTopic.get(log.topic);
    if (partitions === undefined) this.byTopic.set(log.topic, (partitions = []));
    partitions[log.partition] = log;
  }

  /** Renames the directory to `<dir>.<id>-delete` (durably), then removes it. */
  async deleteLog(topic: string, partition: number): Promise<void> {
    const k = key(topic, partition);
    const log = this.logs.get(k);
    if (log === undefined) return;
    this.logs.delete(k);
    const partitions = this.byTopic.get(topic);
    if (partitions !== undefined) {
      partitions[partition] = undefined;
      if (partitions.every((l) => l === undefined)) this.byTopic.delete(topic);
    }
    this.recoveryPoints.delete(k);
    this.startOffsets.delete(k);
    await log.delete();
    await this.checkpoint();
  }

  /** Writes recovery points and log start offsets of every log (offline ones keep their last values). */
  checkpoint(): Promise<void> {
    const run = this.checkpointChain.catch(() => {}).then(() => this.writeCheckpoints());
    this.checkpointChain = run;
    return run;
  }

  private async writeCheckpoints(): Promise<void> {
    for (const log of this.logs.values()) {
      if (log.state !== 'online') continue;
      const k = key(log.topic, log.partition);
      this.recoveryPoints.set(k, { topic: log.topic, partition: log.partition, offset: log.recoveryPoint });
      this.startOffsets.set(k, { topic: log.topic, partition: log.partition, offset: log.logStartOffset });
    }
    await writeFileAtomic(this.fs, joinPath(this.dataDir, RECOVERY_POINT_CHECKPOINT_FILE), encodeOffsetCheckpoint([...this.recoveryPoints.values()]));
    await writeFileAtomic(this.fs, joinPath(this.dataDir, LOG_START_OFFSET_CHECKPOINT_FILE), encodeOffsetCheckpoint([...this.startOffsets.values()]));
  }

  /** Applies retention to every online log, then checkpoints the new start offsets. */
  async runRetention(): Promise<void> {
    let deleted = 0;
    for (const log of this.logs.values()) {
      try {
        deleted += await log.enforceRetention();
      } catch (err) {
        this.logger.error('retention failed for a log', { topic: log.topic, partition: log.partition, error: err });
      }
    }
    if (deleted > 0) await this.checkpoint();
  }

  /** Closes every log, writes final checkpoints, and marks the shutdown clean if every log closed cleanly. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let allClean = true;
    await mapLimit([...this.logs.values()], this.options.openConcurrency ?? DEFAULT_OPEN_CONCURRENCY, async (log) => {
      try {
        await log.close();
      } catch (err) {
        allClean = false;
        this.logger.error('log did not close cleanly', { topic: log.topic, partition: log.partition, error: err });
      }
      // A log that failed or went offline during this run stopped mid-write: its files are not in
      // a clean state. (One offline since start was never written to, so it does not count.)
      if (log.state !== 'online' && !this.offlineAtOpen.has(log)) allClean = false;
    });
    await this.checkpoint();
    if (allClean) await writeFileAtomic(this.fs, joinPath(this.dataDir, CLEAN_SHUTDOWN_FILE), Buffer.from('clean\n'));
    else this.logger.warn('not marking the shutdown clean: some logs failed; the next start recovers them');
  }
}

