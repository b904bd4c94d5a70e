// PartitionLog: the durable, segmented log of one topic-partition, with exactly one writer.
//
// append() is synchronous: it checks framing, assigns offsets, patches the batch, updates the
// in-memory indexes, producer state and tail cache, and queues the bytes. A single writer loop then
// takes everything queued and does one writev at the segment's end (flush.mode=sync: through an
// O_DSYNC handle, so it returns durable, as writev + fdatasync would), and only then advances the
// high watermark and resolves the appends' `durable` promises: appends that arrive during a write
// share the next one (group commit). A failed write or fsync is fatal: the log moves to 'failed',
// rejects everything pending and future, calls onFatal once, and never retries (an fsync that
// failed may have dropped the dirty pages it reported on).
import { assert, assertSafeInteger, type Clock, CorruptionError, FatalStorageError, type Logger, receiveSlabs } from '../util/index.ts';
import {
  BATCH_HEADER_BYTES,
  batchSizeAt,
  patchBaseOffset,
  patchLeaderEpoch,
  patchLogAppendTime,
  readBatchHeader,
  verifyBatchCrc,
} from '../record/index.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { encodeEpochCheckpoint } from './checkpoint.ts';
import { type LogConfig, validateLogConfig } from './config.ts';
import { BatchTooLargeError, InvalidBatchError, LogUnavailableError, OffsetOutOfRangeError } from './errors.ts';
import { basename, dirname, type FileHandle, type FileSystem, joinPath, realTimers, type Timers } from './fs.ts';
import { FileHandleCache } from './handle-cache.ts';
import type { InlineWrites } from './inline-writes.ts';
import { LeaderEpochCache } from './leader-epoch.ts';
import { LEADER_EPOCH_FILE, loadLog, PRODUCER_SNAPSHOT_FILE, readTopicId } from './log-loader.ts';
import { ProducerStateManager } from './producer-state.ts';
import { batchFrameProblem, Segment, walkBatches, walkFromIndex, type WalkProblem } from './segment.ts';
import { TailCache, type TailCacheBudget } from './tail-cache.ts';

export const DEFAULT_TAIL_CACHE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_WAITERS = 10_000;
const INT32_MAX = 0x7fffffff;
const LOCATE_WINDOW_BYTES = 16 * 1024;

export type LogState = 'online' | 'offline' | 'failed';

export interface PartitionLogOptions {
  fs: FileSystem;
  clock: Clock;
  logger: Logger;
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  /** Offset below which everything was fsynced (from the recovery-point checkpoint). */
  recoveryPoint?: number;
  /** True when the previous process closed every log cleanly: no recovery scan. */
  cleanShutdown?: boolean;
  /** From the log-start-offset checkpoint. */
  logStartOffset?: number;
  /** Called once when a write or fsync fails; the broker then stops the process. */
  onFatal: (err: Error) => void;
  timers?: Timers;
  /** Shared bounded pool of open files; a private one is created when absent. */
  handles?: FileHandleCache;
  /** @default 8 MiB */
  tailCacheBytes?: number;
  /** A bound shared with other logs' tail caches (LogManager passes one). */
  tailCacheBudget?: TailCacheBudget;
  /** @default 10,000 */
  maxProducers?: number;
  /** @default 10,000 */
  maxWaiters?: number;
  /** On a clean open, an active segment up to this size is scanned whole (one read, every CRC) instead of loading its index files. @default 64 KiB */
  cleanOpenScanBytes?: number;
  /**
   * flush.mode=sync: bytes of zeros written (and fsynced) at a time ahead of the active segment's
   * end, so that an O_DSYNC append overwrites blocks the file already has instead of growing it:
   * growing a file makes every durable write also write the file's metadata. A segment
   * preallocates only once it holds this much, so a partition written now and then keeps no zeros
   * on disk, and only while its writes average at most PREALLOCATE_MAX_WRITE_BYTES. 0 turns it
   * off.
   * @default 0
   */
  preallocateBytes?: number;
  /** Asked before each zero-fill with its size; false skips it (the broker's free-space reserve). */
  reserveBytes?: (bytes: number) => boolean;
  /**
   * flush.mode=sync: decides which durable appends are written on the event loop instead of the
   * thread pool (shared by the logs of a LogManager; see inline-writes.ts). Absent: all go to the
   * thread pool.
   */
  inlineWrites?: InlineWrites;
  /**
   * A log written beside the partitions, in small writes that follow the consumers (the broker's
   * __consumer_offsets): its writes on the thread pool do not count among other logs' recent ones
   * (inline-writes.ts). @default false
   */
  sideLog?: boolean;
}

/**
 * Preallocation runs only while the log's writes average at most this size (a moving average over
 * about the last 8). Zeros double the bytes written, and what a write saves by not growing the
 * file is about the same whatever its size (~0.1 ms on this machine's disk): on small writes that
 * is a third of their time, on a 1 MB group commit less than the time its zeros take the disk. An
 * average, not the last write: a log of large writes also makes a small one now and then (the
 * remainder of a window when the producer moves to another partition).
 */
export const PREALLOCATE_MAX_WRITE_BYTES = 128 * 1024;
/** The largest preallocateBytes accepted. */
export const MAX_PREALLOCATE_BYTES = 64 * 1024 * 1024;
/** Written as often as a fill needs, never modified: the source of every zero-fill. */
const ZEROS = Buffer.alloc(256 * 1024);

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** Resolves when durable per flush.mode; rejects with FatalStorageError. */
  durable: Promise<void>;
}

export interface ReadResult {
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
  /** The offset after the last batch returned; -1 when none is. Below the high watermark: the byte limit left batches out. */
  readonly nextOffset: number;
}

/** The answer to a read with nothing to return: shared (a long poll asks every idle partition twice). */
const NOTHING: ReadResult = Object.freeze({ chunks: Object.freeze([]), bytes: 0, nextOffset: -1 });

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // callers that drop `durable` must not crash the process
  return { promise, resolve, reject };
}

type WriterOp =
  | { kind: 'append'; segment: Segment; position: number; bufs: Buffer[]; bytes: number; lastOffset: number; records: number; done: Deferred }
  | { kind: 'roll'; from: Segment; to: Segment }
  | { kind: 'flush'; done: Deferred | undefined }
  | { kind: 'config'; config: LogConfig; done: Deferred };

interface Frame {
  pos: number;
  size: number;
}

/** A long poll waiting on a log (`onData`): linked into the log's WaiterList until woken or cancelled. */
class Waiter {
  readonly offset: number;
  readonly wake: () => void;
  prev: Waiter | null = null;
  next: Waiter | null = null;
  linked = false;
  constructor(offset: number, wake: () => void) {
    this.offset = offset;
    this.wake = wake;
  }
}

/**
 * A log's waiters, linked through the waiters themselves. Long polls come and go all the time (one
 * per partition per fetch), and a Set that entries keep passing through rebuilds its table every
 * few additions; a log lives long, so its Set's table sits in old space and every rebuilt table was
 * garbage there (the largest source of old-space growth in W1, docs/performance.md "Old-space
 * garbage from long-lived maps"). This list allocates nothing beyond the waiter.
 */
class WaiterList {
  private head: Waiter | null = null;
  private tail: Waiter | null = null;
  size = 0;

  add(w: Waiter): void {
    w.prev = this.tail;
    if (this.tail === null) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    w.linked = true;
    this.size++;
  }

  /** Unlinks `w`; false when it was not linked (already woken or cancelled). Its own `next` is kept, for an iteration standing on it. */
  remove(w: Waiter): boolean {
    if (!w.linked) return false;
    w.linked = false;
    if (w.prev === null) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.tail = w.prev;
    else w.next.prev = w.prev;
    this.size--;
    return true;
  }

  /**
   * Unlinks and wakes, in order, the waiters linked now for which `due` holds. A wake may cancel
   * other waiters or add new ones: those added meanwhile come after the last one linked at the
   * start and are not visited; cancelled ones are skipped (a removed waiter's `next` still leads to
   * newer ones, so the walk goes on).
   */
  wake(due: (w: Waiter) => boolean): void {
    const last = this.tail;
    for (let w = this.head; w !== null; w = w.next) {
      if (w.linked && due(w)) {
        this.remove(w);
        w.wake();
      }
      if (w === last) break;
    }
  }
}

const ALWAYS = (): boolean => true;

/** Splits `batch` into RecordBatch v2 frames, checking sizes, magic and (unless the caller just did) CRC. */
function parseFrames(batch: Buffer, verifyCrc: boolean): { frames: Frame[]; offsets: number } {
  const frames: Frame[] = [];
  let offsets = 0;
  let pos = 0;
  while (pos < batch.length) {
    if (batch.length - pos < BATCH_HEADER_BYTES) throw new InvalidBatchError(`batch at byte ${pos} has ${batch.length - pos} bytes, less than a ${BATCH_HEADER_BYTES}-byte header`);
    const size = batchSizeAt(batch, pos);
    const problem = batchFrameProblem(batch, pos, batch.length - pos, batch.length - pos);
    if (problem !== null) throw new InvalidBatchError(`batch at byte ${pos}: ${problem}`);
    if (verifyCrc && !verifyBatchCrc(batch, pos, size)) throw new InvalidBatchError(`batch at byte ${pos}: CRC-32C mismatch`);
    offsets += batch.readInt32BE(pos + 23) + 1;
    frames.push({ pos, size });
    pos += size;
  }
  if (frames.length === 0) throw new InvalidBatchError('empty append');
  return { frames, offsets };
}

export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  readonly producers: ProducerStateManager;
  private readonly fs: FileSystem;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly onFatal: (err: Error) => void;
  private readonly timers: Timers;
  private readonly handles: FileHandleCache;
  private readonly cache: TailCache;
  private readonly maxWaiters: number;
  private config: LogConfig;
  private segments: Segment[] = [];
  private epochs = new LeaderEpochCache();
  private topicIdValue: string | undefined;
  /** True while the index files and producer snapshot on disk already describe the log (clean open, no appends). */
  private filesMatchMemory = false;
  private logStart = 0;
  private logEnd = 0;
  private writtenEnd = 0;
  private hw = 0;
  private rp = 0;
  private visibleAdded = 0;
  private stateValue: LogState = 'online';
  private reason: string | undefined;
  private failure: Error | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private queue: WriterOp[] = [];
  private inFlight: WriterOp | undefined;
  private writerActive = false;
  private idleWaiters: (() => void)[] = [];
  private epochDirty = false;
  private pending = 0;
  private unflushedRecords = 0;
  private lastFlushMonoMs: number;
  private lastWrittenSegment: Segment | undefined;
  private cancelFlushTimer: (() => void) | undefined;
  private readonly waiters = new WaiterList();
  private fatalReported = false;
  private retentionChain: Promise<number> = Promise.resolve(0);
  private deleteCounter = 0;
  private readonly preallocateBytes: number;
  private readonly reserveBytes: ((bytes: number) => boolean) | undefined;
  private readonly inlineWrites: InlineWrites | undefined;
  private readonly sideLog: boolean;
  /** The zero-fill running beside the writer, if any: appends reaching into it wait for it. */
  private prealloc: { segment: Segment; start: number; done: Promise<void> } | undefined;
  /** Set when a zero-fill's write failed: this log appends without preallocating from then on. */
  private preallocOff = false;
  /** Moving average of this log's durable write sizes (-1 before the first). */
  private writeBytesAverage = -1;

  private constructor(options: PartitionLogOptions) {
    assert(options.topic.length > 0, 'topic name must not be empty');
    assert(Number.isSafeInteger(options.partition) && options.partition >= 0, `partition ${options.partition} invalid`);
    this.topic = options.topic;
    this.partition = options.partition;
    this.dir = options.dir;
    this.fs = options.fs;
    this.clock = options.clock;
    this.logger = options.logger.child({ topic: options.topic, partition: options.partition });
    this.onFatal = options.onFatal;
    this.timers = options.timers ?? realTimers;
    this.handles = options.handles ?? new FileHandleCache(options.fs, 16);
    this.cache = new TailCache(options.tailCacheBytes ?? DEFAULT_TAIL_CACHE_BYTES, options.tailCacheBudget);
    this.maxWaiters = options.maxWaiters ?? DEFAULT_MAX_WAITERS;
    this.producers = new ProducerStateManager(options.maxProducers);
    this.config = validateLogConfig(options.config);
    this.lastFlushMonoMs = options.clock.monotonicMs();
    this.preallocateBytes = options.preallocateBytes ?? 0;
    assert(Number.isSafeInteger(this.preallocateBytes) && this.preallocateBytes >= 0 && this.preallocateBytes <= MAX_PREALLOCATE_BYTES, `preallocateBytes ${this.preallocateBytes} must be an integer in [0, ${MAX_PREALLOCATE_BYTES}]`);
    this.reserveBytes = options.reserveBytes;
    this.inlineWrites = options.inlineWrites;
    this.sideLog = options.sideLog ?? false;
  }

  /** Opens (and if needed recovers) the partition directory. Corruption yields an 'offline' log, not an exception. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options);
    try {
      const loaded = await loadLog({
        fs: options.fs,
        handles: log.handles,
        logger: log.logger,
        clock: options.clock,
        dir: options.dir,
        config: log.config,
        producers: log.producers,
        recoveryPoint: options.recoveryPoint,
        cleanShutdown: options.cleanShutdown ?? false,
        logStartOffset: options.logStartOffset,
        cleanOpenScanBytes: options.cleanOpenScanBytes,
      });
      log.segments = loaded.segments;
      log.epochs = loaded.epochs;
      log.filesMatchMemory = (options.cleanShutdown ?? false) && options.recoveryPoint !== undefined && !loaded.rebuilt;
      log.logStart = loaded.logStartOffset;
      log.logEnd = log.activeSegment.nextOffset;
      log.writtenEnd = log.hw = log.rp = log.logEnd;
    } catch (err) {
      const hint = options.recoveryPoint ?? options.logStartOffset ?? 0;
      log.logStart = log.logEnd = log.writtenEnd = log.hw = log.rp = hint;
      log.goOffline(err instanceof CorruptionError ? err : new LogUnavailableError(`${options.dir}: cannot open log: ${describeError(err)}`, err));
      await log.handles.closeUnder(options.dir + '/');
    }
    return log;
  }

  // ---- state ----------------------------------------------------------------------------------

  get logStartOffset(): number {
    return this.logStart;
  }
  /** The next offset append() will assign. */
  get logEndOffset(): number {
    return this.logEnd;
  }
  /** End of durable data (sync mode: fsynced; async mode: written). Readers see only offsets below it. */
  get highWatermark(): number {
    return this.hw;
  }
  /**
   * Bytes of batches made visible to readers since this log was opened: only ever grows. A long
   * poll that waits for min_bytes measures new data by it, without reading the data.
   */
  get visibleBytesAdded(): number {
    return this.visibleAdded;
  }
  /** Everything below this offset is fsynced. */
  get recoveryPoint(): number {
    return this.rp;
  }
  get state(): LogState {
    return this.stateValue;
  }
  get offlineReason(): string | undefined {
    return this.reason;
  }
  /** The topic id recorded in partition.meta at creation (read once, on demand). */
  async readTopicId(): Promise<string | undefined> {
    this.topicIdValue ??= await readTopicId(this.fs, this.dir);
    return this.topicIdValue;
  }
  /**
   * Bytes appended but not yet written. The broker bounds them from outside: a produce holds its
   * request's bytes (queued.max.request.bytes) and its connection's slot until its appends are written.
   */
  get pendingBytes(): number {
    return this.pending;
  }
  get currentConfig(): Readonly<LogConfig> {
    return this.config;
  }
  get latestEpoch(): number {
    return this.epochs.latestEpoch;
  }
  /** The leader epoch cache, for OffsetForLeaderEpoch. */
  get leaderEpochs(): LeaderEpochCache {
    return this.epochs;
  }
  /** Base offsets of the segments, oldest first (diagnostics and tests). */
  segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }
  /** Total bytes in all segments. */
  get sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  private get activeSegment(): Segment {
    const seg = this.segments[this.segments.length - 1];
    assert(seg !== undefined, 'log has no segments');
    return seg;
  }

  /**
   * Takes a new config (a topic's configs were altered) in the writer's order: appends queued
   * before it are written under the old one. From flush.mode async to sync it first fsyncs what
   * was written, so the high watermark, the recovery point under sync, never moves back. Resolves
   * once in effect; on a log that is not online, or closing, the config is simply kept (its
   * writer takes no more work; a reopened log reads the recorded configs).
   */
  reconfigure(config: LogConfig): Promise<void> {
    const next = validateLogConfig(config);
    if (this.stateValue !== 'online' || this.closing) {
      this.config = next;
      return Promise.resolve();
    }
    const op = { kind: 'config' as const, config: next, done: deferred() };
    this.queue.push(op);
    this.scheduleWriter();
    return op.done.promise;
  }

  private requireWritable(): void {
    if (this.stateValue === 'failed') throw new FatalStorageError(`log ${this.name} failed: ${this.reason}`, this.failure);
    if (this.stateValue === 'offline') throw new LogUnavailableError(`log ${this.name} is offline: ${this.reason}`);
    if (this.closing) throw new LogUnavailableError(`log ${this.name} is closed`);
  }

  private get name(): string {
    return `${this.topic}-${this.partition}`;
  }

  private goOffline(err: Error): void {
    if (this.stateValue !== 'online') return;
    this.stateValue = 'offline';
    this.reason = err.message;
    this.logger.error('partition offline', { dir: this.dir, reason: err.message });
    this.rejectAllPending(err);
    this.releaseWaiters();
  }

  // ---- append ---------------------------------------------------------------------------------

  /**
   * `crcVerified`: the caller checked the CRC of exactly these bytes (the broker's produce
   * validation does), so the log does not compute it a second time.
   */
  append(batch: Buffer, options: { leaderEpoch: number; logAppendTimeMs?: number; crcVerified?: boolean }): AppendResult {
    this.requireWritable();
    assert(Number.isInteger(options.leaderEpoch) && (options.leaderEpoch < 0 || options.leaderEpoch >= this.epochs.latestEpoch),
      `append with leader epoch ${options.leaderEpoch} older than the log's ${this.epochs.latestEpoch}`);
    const { frames, offsets } = parseFrames(batch, options.crcVerified !== true);
    if (batch.length > this.config.segmentBytes) {
      throw new BatchTooLargeError(`append of ${batch.length} bytes exceeds segment.bytes ${this.config.segmentBytes} for ${this.name}`);
    }
    const segment = this.segmentForAppend(batch.length, offsets);
    const position = segment.size;
    const baseOffset = this.logEnd;
    if (segment.rollStartMs === undefined) segment.rollStartMs = this.clock.nowMs();
    const newEpoch = this.epochs.assign(options.leaderEpoch, baseOffset);
    if (newEpoch) this.epochDirty = true;
    let next = baseOffset;
    for (const f of frames) {
      patchBaseOffset(batch, f.pos, next);
      patchLeaderEpoch(batch, f.pos, options.leaderEpoch);
      if (options.logAppendTimeMs !== undefined) patchLogAppendTime(batch, f.pos, f.size, options.logAppendTimeMs);
      const header = readBatchHeader(batch, f.pos);
      const last = next + header.lastOffsetDelta;
      segment.recordBatch(position + f.pos, next, last, f.size, header.maxTimestamp, this.config.indexIntervalBytes);
      this.producers.update(header, next, last);
      this.cache.add(next, last, batch.subarray(f.pos, f.pos + f.size));
      next = last + 1;
    }
    assert(next === baseOffset + offsets, 'offsets assigned do not match the batches');
    this.logEnd = next;
    this.filesMatchMemory = false;
    // A new epoch starts a new write group, so its checkpoint is written before its data.
    const op = this.enqueueAppend(segment, position, batch, next - 1, offsets, !newEpoch);
    return { baseOffset, lastOffset: next - 1, durable: op.done.promise };
  }

  private enqueueAppend(segment: Segment, position: number, batch: Buffer, lastOffset: number, records: number, mergeable: boolean): { done: Deferred } {
    this.pending += batch.length;
    // The writer holds a reference to a pooled request buffer until its write has returned. An op
    // dropped unwritten (the log failing) keeps it: that buffer is then never reused.
    receiveSlabs.retain(batch);
    const tail = this.queue[this.queue.length - 1];
    if (mergeable && tail?.kind === 'append' && tail.segment === segment) {
      assert(tail.position + tail.bytes === position, `append at ${position} not contiguous with queued bytes`);
      tail.bufs.push(batch);
      tail.bytes += batch.length;
      tail.lastOffset = lastOffset;
      tail.records += records;
      return tail;
    }
    const op = { kind: 'append' as const, segment, position, bufs: [batch], bytes: batch.length, lastOffset, records, done: deferred() };
    this.queue.push(op);
    this.scheduleWriter();
    return op;
  }

  private segmentForAppend(bytes: number, offsets: number): Segment {
    const active = this.activeSegment;
    const reason = this.rollReason(active, bytes, offsets);
    if (reason === undefined) return active;
    const next = new Segment(this.dir, this.logEnd);
    this.logger.debug('rolling segment', { from: active.baseOffset, to: next.baseOffset, reason });
    this.segments.push(next);
    this.queue.push({ kind: 'roll', from: active, to: next });
    this.scheduleWriter();
    return next;
  }

  private rollReason(active: Segment, bytes: number, offsets: number): string | undefined {
    if (active.isEmpty) return undefined;
    if (active.size + bytes > this.config.segmentBytes) return 'segment.bytes';
    if (active.rollStartMs !== undefined && this.clock.nowMs() - active.rollStartMs >= this.config.segmentMs) return 'segment.ms';
    if ((active.offsetIndex.length + 1) * 8 > this.config.segmentIndexBytes) return 'segment.index.bytes';
    if (this.logEnd + offsets - 1 - active.baseOffset > INT32_MAX) return 'relative offset overflow';
    return undefined;
  }

  // ---- writer ---------------------------------------------------------------------------------

  private scheduleWriter(): void {
    if (this.writerActive) return;
    this.writerActive = true;
    // A microtask later, so that appends made in the same tick share one write and one fsync.
    queueMicrotask(() => void this.runWriter());
  }

  private async runWriter(): Promise<void> {
    try {
      while (this.stateValue === 'online' && (this.queue.length > 0 || this.epochDirty)) {
        if (this.epochDirty) {
          // Before the data: an epoch entry for data that did not survive is trimmed on recovery,
          // but data whose epoch entry did not survive would leave a hole in the cache.
          this.epochDirty = false;
          await writeFileAtomic(this.fs, joinPath(this.dir, LEADER_EPOCH_FILE), encodeEpochCheckpoint(this.epochs.all()));
        }
        const op = this.queue.shift();
        if (op === undefined) continue;
        this.inFlight = op;
        await this.execute(op);
        this.inFlight = undefined;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.inFlight = undefined;
      this.writerActive = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async execute(op: WriterOp): Promise<void> {
    if (op.kind === 'append') await this.executeAppend(op);
    else if (op.kind === 'roll') await this.executeRoll(op.from, op.to);
    else if (op.kind === 'config') {
      if (this.config.flushMode === 'async' && op.config.flushMode === 'sync') await this.syncWritten();
      this.config = op.config;
      op.done.resolve();
    } else {
      await this.syncWritten();
      op.done?.resolve();
    }
  }

  private async executeAppend(op: Extract<WriterOp, { kind: 'append' }>): Promise<void> {
    const seg = op.segment;
    assert(op.position === seg.writtenBytes, `writer at position ${seg.writtenBytes} but append queued at ${op.position}`);
    // flush.mode=sync writes through an O_DSYNC handle: the write returns durable, one system call
    // and one thread-pool round trip instead of two (`npm run bench:durable-write` compares them).
    const durableWrite = this.config.flushMode === 'sync';
    const fill = this.prealloc;
    // Never write where zeros are still being written: they could land after the data.
    if (fill !== undefined && fill.segment === seg && op.position + op.bytes > fill.start) await fill.done;
    const prefixSynced = seg.syncedBytes === seg.writtenBytes;
    const written = durableWrite ? await this.durableWritev(seg, op.bufs, op.position, op.bytes) : await this.handles.use(seg.logPath, 'readwrite', (h) => h.writev(op.bufs, op.position));
    for (const b of op.bufs) receiveSlabs.release(b);
    assert(written === op.bytes, `wrote ${written} of ${op.bytes} bytes to ${seg.logPath}`);
    seg.writtenBytes += op.bytes;
    // Durable up to here only if everything before this write was (else syncWritten fsyncs).
    if (durableWrite && prefixSynced) seg.syncedBytes = seg.writtenBytes;
    this.pending -= op.bytes;
    this.writtenEnd = op.lastOffset + 1;
    this.lastWrittenSegment = seg;
    if (this.config.flushMode === 'sync') await this.syncWritten();
    else this.unflushedRecords += op.records;
    this.advanceVisible(seg, op.lastOffset + 1);
    op.done.resolve();
    if (this.config.flushMode === 'async') await this.flushByPolicy();
    else this.preallocate(seg, op.bytes);
  }

  /**
   * One durable write through the segment's O_DSYNC handle: on the event loop when inlineWrites
   * says it is alone (and the handle is open and can), else on the thread pool.
   */
  private async durableWritev(seg: Segment, bufs: Buffer[], position: number, bytes: number): Promise<number> {
    const scheduler = this.inlineWrites;
    const asked = scheduler?.ask(bytes, this) ?? false;
    if (scheduler !== undefined && asked !== false && (await asked)) {
      // undefined: the handle is not open yet, or cannot write synchronously.
      const written = this.handles.useNow(seg.logPath, 'dsync', (h) => {
        const writeNow = h.writevSync;
        return writeNow === undefined ? undefined : scheduler.inline(() => writeNow.call(h, bufs, position));
      });
      if (written !== undefined) return written;
    }
    return this.onPool(() => this.handles.use(seg.logPath, 'dsync', (h) => h.writev(bufs, position)));
  }

  /** A write on the thread pool, counted by inlineWrites (if any): a durable write holds inline writes off meanwhile, a zero-fill does not. */
  private onPool<T>(write: () => Promise<T>, kind: 'write' | 'fill' = 'write'): Promise<T> {
    return this.inlineWrites === undefined ? write() : this.inlineWrites.pool(this, write, kind, !this.sideLog);
  }

  /**
   * Starts a zero-fill of preallocateBytes ahead of `seg`'s end when less than half of one is
   * left, beside the writer rather than in its queue: a fill in the queue would hold the next
   * append for its write and fsync. Never past segment.bytes.
   */
  private preallocate(seg: Segment, lastWriteBytes: number): void {
    const fillBytes = this.preallocateBytes;
    if (fillBytes === 0) return;
    this.writeBytesAverage = this.writeBytesAverage < 0 ? lastWriteBytes : this.writeBytesAverage + (lastWriteBytes - this.writeBytesAverage) / 8;
    if (this.writeBytesAverage > PREALLOCATE_MAX_WRITE_BYTES || this.preallocOff || this.prealloc !== undefined || this.closing || this.stateValue !== 'online') return;
    // No fill runs here, and a failed one stopped preallocation: zeros up to extendedTo are fsynced.
    if (seg !== this.activeSegment || seg.writtenBytes < fillBytes || seg.extendedTo - seg.size >= fillBytes / 2) return;
    const start = Math.max(seg.extendedTo, seg.size);
    const end = Math.min(start + fillBytes, this.config.segmentBytes);
    if (end - start < fillBytes / 2) return; // the segment rolls soon
    if (this.reserveBytes !== undefined && !this.reserveBytes(end - start)) return;
    seg.extendedTo = end;
    this.prealloc = { segment: seg, start, done: this.zeroFill(seg, start, end) };
  }

  /**
   * Writes zeros over [start, end) of `seg` and fsyncs them. A failed write only stops
   * preallocation (the zeros are past the data; recovery trims them). A failed fsync is fatal, as
   * any: it may have dropped other writes to the file.
   */
  private async zeroFill(seg: Segment, start: number, end: number): Promise<void> {
    try {
      // Not a write that holds appends off the event loop (inline-writes.ts): one may wait behind it at the disk.
      await this.onPool(() => this.handles.use(seg.logPath, 'readwrite', async (h) => {
        const bufs: Buffer[] = [];
        for (let pos = start; pos < end; pos += ZEROS.length) bufs.push(end - pos >= ZEROS.length ? ZEROS : ZEROS.subarray(0, end - pos));
        try {
          await h.writev(bufs, start);
        } catch (err) {
          this.preallocOff = true;
          this.logger.warn('preallocating a segment failed; this log appends without preallocation from now on', { file: seg.logPath, start, end, error: describeError(err) });
          return;
        }
        await h.sync();
      }), 'fill');
    } catch (err) {
      this.fail(err);
    } finally {
      this.prealloc = undefined;
    }
  }

  /** Waits for a running zero-fill; then cuts `seg` back to its data if a fill made it longer. */
  private async trimPreallocated(seg: Segment): Promise<void> {
    await this.prealloc?.done;
    if (this.stateValue === 'failed') throw this.unavailable();
    if (seg.extendedTo <= seg.size) return;
    await this.handles.use(seg.logPath, 'readwrite', async (h) => {
      await h.truncate(seg.size);
      await h.sync();
    });
    seg.extendedTo = 0;
  }

  /** fsyncs what has been written; only the last written segment can be unsynced (rolls sync). */
  private async syncWritten(): Promise<void> {
    const seg = this.lastWrittenSegment;
    if (seg !== undefined && seg.syncedBytes < seg.writtenBytes) {
      await this.handles.use(seg.logPath, 'readwrite', (h) => h.sync());
      seg.syncedBytes = seg.writtenBytes;
    }
    assert(this.writtenEnd >= this.rp, `recovery point ${this.rp} ahead of written end ${this.writtenEnd}`);
    this.rp = this.writtenEnd;
    this.unflushedRecords = 0;
    this.lastFlushMonoMs = this.clock.monotonicMs();
  }

  private async flushByPolicy(): Promise<void> {
    if (this.unflushedRecords === 0) return;
    const due = this.unflushedRecords >= this.config.flushIntervalMessages || this.clock.monotonicMs() - this.lastFlushMonoMs >= this.config.flushIntervalMs;
    if (due) {
      await this.syncWritten();
      return;
    }
    if (this.cancelFlushTimer !== undefined) return;
    this.cancelFlushTimer = this.timers.setTimeout(() => {
      this.cancelFlushTimer = undefined;
      if (this.stateValue !== 'online' || this.closing || this.unflushedRecords === 0) return;
      this.queue.push({ kind: 'flush', done: undefined });
      this.scheduleWriter();
    }, this.config.flushIntervalMs);
  }

  private advanceVisible(seg: Segment, endOffset: number): void {
    this.visibleAdded += seg.writtenBytes - seg.visibleBytes;
    seg.visibleBytes = seg.writtenBytes;
    seg.visibleNextOffset = endOffset;
    const hw = this.config.flushMode === 'sync' ? this.rp : this.writtenEnd;
    assert(hw >= this.hw, `high watermark moving backwards from ${this.hw} to ${hw}`);
    this.hw = hw;
    this.notifyWaiters();
  }

  /** Seals `from` (fsync, indexes on disk) before the new segment file exists. */
  private async executeRoll(from: Segment, to: Segment): Promise<void> {
    assert(from.writtenBytes === from.size, `rolling segment ${from.baseOffset} with ${from.size - from.writtenBytes} unwritten bytes`);
    await this.syncWritten();
    // Before the next segment exists: a sealed segment never ends in zeros, even after a crash.
    await this.trimPreallocated(from);
    from.finishTimeIndex();
    await this.writeIndexFiles(from);
    await this.handles.use(to.logPath, 'create', async () => {});
    await this.fs.fsyncDir(this.dir);
    from.sealed = true;
  }

  private async writeIndexFiles(seg: Segment): Promise<void> {
    for (const [path, bytes] of [[seg.indexPath, seg.offsetIndex.bytes()], [seg.timeIndexPath, seg.timeIndex.bytes()]] as const) {
      const h = await this.fs.open(path, 'create');
      try {
        await h.truncate(0);
        if (bytes.length > 0) await h.write(bytes, 0, bytes.length, 0);
        await h.sync();
      } finally {
        await h.close();
      }
    }
  }

  private fail(err: unknown): void {
    if (this.stateValue === 'failed') return;
    const fatal = err instanceof FatalStorageError ? err : new FatalStorageError(`log ${this.name}: write or fsync failed: ${describeError(err)}`, err);
    this.stateValue = 'failed';
    this.reason = fatal.message;
    this.failure = fatal;
    this.logger.error('log failed; no further writes', { dir: this.dir, error: fatal });
    this.rejectAllPending(fatal);
    this.releaseWaiters();
    if (!this.fatalReported) {
      this.fatalReported = true;
      try {
        this.onFatal(fatal);
      } catch (cbErr) {
        this.logger.error('onFatal callback threw', { error: cbErr });
      }
    }
  }

  private rejectAllPending(err: Error): void {
    const ops = this.inFlight === undefined ? this.queue : [this.inFlight, ...this.queue];
    this.queue = [];
    this.inFlight = undefined;
    for (const op of ops) if (op.kind !== 'roll') op.done?.reject(err);
    this.cancelFlushTimer?.();
    this.cancelFlushTimer = undefined;
  }

  /** fsyncs everything appended so far. */
  flush(): Promise<void> {
    if (this.stateValue !== 'online') return Promise.reject(this.unavailable());
    const op = { kind: 'flush' as const, done: deferred() };
    this.queue.push(op);
    this.scheduleWriter();
    return op.done.promise;
  }

  private unavailable(): Error {
    if (this.stateValue === 'failed') return new FatalStorageError(`log ${this.name} failed: ${this.reason}`, this.failure);
    if (this.stateValue === 'offline') return new LogUnavailableError(`log ${this.name} is offline: ${this.reason}`);
    return new LogUnavailableError(`log ${this.name} is closed`);
  }

  private whenWriterIdle(): Promise<void> {
    if (!this.writerActive) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- read -----------------------------------------------------------------------------------

  /**
   * Whole batches from the one containing `fetchOffset`, up to `maxBytes` but at least one batch,
   * all below `maxOffset` (default and at most the high watermark). Every batch read from a file is
   * CRC-checked; a bad one takes the partition offline and throws CorruptionError. Chunks from the
   * tail cache, and a large read from a file, hold a reference to their pooled buffer, as
   * `readCached` says: the caller gives it back (`receiveSlabs.release`) once it let go of them.
   */
  async read(fetchOffset: number, maxBytes: number, options: { maxOffset?: number } = {}): Promise<ReadResult> {
    const quick = this.readCached(fetchOffset, maxBytes, options);
    if (quick !== undefined) return quick;
    const maxOffset = Math.min(options.maxOffset ?? this.hw, this.hw);
    for (let i = this.segmentIndexFor(fetchOffset); i < this.segments.length; i++) {
      const seg = this.segments[i];
      if (seg.visibleNextOffset <= fetchOffset) continue;
      return this.readSegmentGuarded(seg, fetchOffset, maxBytes, maxOffset);
    }
    return NOTHING;
  }

  /**
   * `read` when it needs no I/O: the answer when nothing below the limit is past `fetchOffset` or
   * the tail cache holds it; undefined when the file must be read (call `read`). Throws as `read`
   * does. A consumer's fetch asks for every partition it owns, most of them with nothing new, and
   * this answers those without a promise each. As from `read`, chunks that are views of pooled
   * request buffers come with a reference the caller gives back (`receiveSlabs.release`) once it
   * has let go of them; one never given back only keeps that buffer from being reused.
   */
  readCached(fetchOffset: number, maxBytes: number, options: { maxOffset?: number } = {}): ReadResult | undefined {
    if (this.stateValue !== 'online') throw this.unavailable();
    assertSafeInteger(fetchOffset, 'fetch offset');
    if (fetchOffset < this.logStart || fetchOffset > this.logEnd) {
      throw new OffsetOutOfRangeError(`fetch offset ${fetchOffset} is outside [${this.logStart}, ${this.logEnd}] for ${this.name}`);
    }
    const maxOffset = Math.min(options.maxOffset ?? this.hw, this.hw);
    if (fetchOffset >= maxOffset) return NOTHING;
    const cached = this.cache.collect(fetchOffset, maxBytes, maxOffset);
    if (cached === undefined) return undefined;
    for (const c of cached.chunks) receiveSlabs.retain(c);
    return cached;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private readSegmentGuarded(seg: Segment, fetchOffset: number, maxBytes: number, maxOffset: number): Promise<ReadResult> {
    return this.guardRead(seg, () => this.readSegment(seg, fetchOffset, maxBytes, maxOffset), () => {
      throw new OffsetOutOfRangeError(`fetch offset ${fetchOffset} was deleted by retention while reading ${this.name}`);
    });
  }

  /**
   * Runs a read of `seg`. A segment deleted meanwhile (retention) is `onDeleted`'s business;
   * corruption or an I/O error takes the partition offline (KAFKA_STORAGE_ERROR).
   */
  private async guardRead<T>(seg: Segment, read: () => Promise<T>, onDeleted: () => T): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!this.segments.includes(seg)) return onDeleted();
      if (err instanceof CorruptionError) {
        this.goOffline(err);
        throw err;
      }
      const unavailable = new LogUnavailableError(`${seg.logPath}: read failed: ${describeError(err)}`, err);
      this.goOffline(unavailable);
      throw unavailable;
    }
  }

  private corruption(seg: Segment, problem: WalkProblem): CorruptionError {
    return new CorruptionError(`${seg.logPath}: ${problem.reason} at position ${problem.position} (expected offset ${problem.expectedOffset})`);
  }

  private async readSegment(seg: Segment, fetchOffset: number, maxBytes: number, maxOffset: number): Promise<ReadResult> {
    const limit = seg.visibleBytes;
    const mode = seg.sealed ? 'read' : 'readwrite';
    return this.handles.use(seg.logPath, mode, async (h) => {
      const found = await this.locate(seg, h, fetchOffset, limit);
      const want = Math.min(Math.max(maxBytes, found.size), limit - found.position);
      // A large read goes into pooled memory, given back by the caller like a tail-cache answer's:
      // a consumer catching up reads a partition_max_bytes a partition each time, ~110 MB a second
      // in W1, and fresh buffers at that rate left the broker's resident memory tens of MB higher
      // after each catch-up (docs/performance.md, "Segment reads in reused memory").
      const buf = receiveSlabs.takeOwn(want) ?? Buffer.allocUnsafe(want);
      let end = 0;
      let nextOffset = fetchOffset;
      try {
        const n = await h.read(buf, 0, want, found.position);
        if (n < want) throw this.corruption(seg, { position: found.position + n, expectedOffset: found.baseOffset, reason: `file ends ${want - n} bytes early` });
        ({ end, nextOffset } = this.validateRegion(seg, buf, found.position, found.baseOffset, limit, maxOffset));
      } finally {
        if (end === 0) receiveSlabs.release(buf);
      }
      return end === 0 ? NOTHING : { chunks: [buf.subarray(0, end)], bytes: end, nextOffset };
    });
  }

  /** Position, size and base offset of the batch containing `offset`, via the sparse index. */
  private async locate(seg: Segment, h: FileHandle, offset: number, limit: number): Promise<{ position: number; size: number; baseOffset: number }> {
    let found: { position: number; size: number; baseOffset: number } | undefined;
    const walk = await walkFromIndex(
      h,
      seg,
      offset,
      {
        end: limit,
        verifyCrc: false,
        windowBytes: LOCATE_WINDOW_BYTES,
        visit: (header, position, size) => {
          if (header.baseOffset + header.lastOffsetDelta < offset) return true;
          found = { position, size, baseOffset: header.baseOffset };
          return false;
        },
      },
      (entry) => this.indexMismatch(seg, entry),
    );
    if (walk.problem !== undefined) throw this.corruption(seg, walk.problem);
    if (found === undefined) {
      throw this.corruption(seg, { position: walk.position, expectedOffset: walk.nextOffset, reason: `offset ${offset} not found before the visible end ${limit}` });
    }
    return found;
  }

  private indexMismatch(seg: Segment, entry: { offset: number; position: number }): void {
    this.logger.warn('index entry disagrees with the segment; walking from its start', { file: seg.logPath, entryOffset: entry.offset, entryPosition: entry.position });
  }

  /** Checks the whole batches at the start of `buf`; returns the byte length of those to return and the offset after them. */
  private validateRegion(seg: Segment, buf: Buffer, filePosition: number, baseOffset: number, limit: number, maxOffset: number): { end: number; nextOffset: number } {
    let p = 0;
    let expected = baseOffset;
    while (buf.length - p >= BATCH_HEADER_BYTES) {
      const at = { position: filePosition + p, expectedOffset: expected };
      const problem = batchFrameProblem(buf, p, buf.length - p, limit - filePosition - p);
      if (problem !== null) throw this.corruption(seg, { ...at, reason: problem });
      const size = batchSizeAt(buf, p);
      if (p + size > buf.length) break;
      const header = readBatchHeader(buf, p);
      if (header.baseOffset !== expected) throw this.corruption(seg, { ...at, reason: `batch base offset ${header.baseOffset} where offset ${expected} was expected` });
      // The CRC first: lastOffsetDelta is only trustworthy once the bytes are known good.
      if (!verifyBatchCrc(buf, p, size)) throw this.corruption(seg, { ...at, reason: `CRC-32C mismatch in batch at offset ${expected}` });
      const lastOffset = header.baseOffset + header.lastOffsetDelta;
      if (lastOffset >= maxOffset) break;
      p += size;
      expected = lastOffset + 1;
    }
    return { end: p, nextOffset: expected };
  }

  /** The first batch whose max timestamp is >= `timestampMs` (its base offset), or null. */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> {
    if (this.stateValue !== 'online') throw this.unavailable();
    const hw = this.hw; // one consistent view: batches below the high watermark as of the call
    for (const seg of [...this.segments]) {
      if (seg.baseOffset >= hw) break;
      if (seg.visibleNextOffset <= this.logStart || seg.visibleBytes === 0 || seg.maxTimestampMs < timestampMs) continue;
      const found = await this.guardRead(seg, () => this.findTimestampIn(seg, timestampMs, hw), () => null);
      if (found !== null) return found;
    }
    return null;
  }

  private async findTimestampIn(seg: Segment, timestampMs: number, hw: number): Promise<{ offset: number; timestampMs: number } | null> {
    const from = Math.max(seg.timeIndex.lookup(timestampMs), this.logStart);
    let found: { offset: number; timestampMs: number } | null = null;
    const walk = await this.handles.use(seg.logPath, seg.sealed ? 'read' : 'readwrite', (h) =>
      walkFromIndex(
        h,
        seg,
        from,
        {
          end: seg.visibleBytes,
          verifyCrc: false,
          visit: (header) => {
            const lastOffset = header.baseOffset + header.lastOffsetDelta;
            if (lastOffset >= hw) return false;
            if (lastOffset < from || header.maxTimestamp < timestampMs) return true;
            found = { offset: Math.max(header.baseOffset, this.logStart), timestampMs: header.maxTimestamp };
            return false;
          },
        },
        (entry) => this.indexMismatch(seg, entry),
      ),
    );
    if (walk.problem !== undefined) throw this.corruption(seg, walk.problem);
    return found;
  }

  // ---- long polls -----------------------------------------------------------------------------

  /**
   * Long polls: calls `wake` once, when the high watermark passes `offset` or the log stops (goes
   * offline, fails or closes), and returns a function that cancels the wait. Returns undefined and
   * registers nothing when waiting is pointless (data is already there, the log is not online or is
   * closing) or when `maxWaiters` are already waiting (bounded: the caller polls again). The caller
   * owns the timeout, so a request waiting on many partitions keeps one timer, not one each.
   */
  onData(offset: number, wake: () => void): (() => void) | undefined {
    if (this.hw > offset || this.stateValue !== 'online' || this.closing || this.waiters.size >= this.maxWaiters) return undefined;
    const waiter = new Waiter(offset, wake);
    this.waiters.add(waiter);
    return () => {
      this.waiters.remove(waiter);
    };
  }

  private readonly passed = (w: Waiter): boolean => this.hw > w.offset;

  private notifyWaiters(): void {
    if (this.waiters.size > 0) this.waiters.wake(this.passed);
  }

  private releaseWaiters(): void {
    this.waiters.wake(ALWAYS);
  }

  // ---- retention ------------------------------------------------------------------------------

  /** Deletes whole sealed segments by retention.ms / retention.bytes / log start offset. Returns how many. */
  enforceRetention(): Promise<number> {
    // One retention pass at a time: two passes must not pick the same segments.
    const run = this.retentionChain.catch(() => 0).then(() => this.retentionPass());
    this.retentionChain = run;
    return run;
  }

  private async retentionPass(): Promise<number> {
    if (this.stateValue !== 'online' || this.closing) return 0;
    const doomed: Segment[] = [];
    let totalBytes = this.sizeBytes;
    const now = this.clock.nowMs();
    for (let i = 0; i < this.segments.length - 1; i++) {
      const seg = this.segments[i];
      if (!seg.sealed || seg.nextOffset > this.hw) break;
      const belowStart = this.segments[i + 1].baseOffset <= this.logStart;
      const bySize = this.config.retentionBytes >= 0 && totalBytes - seg.size >= this.config.retentionBytes;
      let byTime = this.expiredByTime(seg, now);
      if (byTime && !belowStart && !bySize && !seg.maxTimestampTrusted) byTime = await this.verifyMaxTimestamp(seg, now);
      if (!belowStart && !bySize && !byTime) break;
      doomed.push(seg);
      totalBytes -= seg.size;
    }
    if (doomed.length > 0) await this.deleteOldestSegments(doomed);
    return doomed.length;
  }

  private expiredByTime(seg: Segment, nowMs: number): boolean {
    // No timestamps means unknown age: keep. A wall clock that jumped backwards gives a negative
    // age: keep. Only data provably older than retention.ms goes.
    return this.config.retentionMs >= 0 && seg.maxTimestampMs >= 0 && nowMs - seg.maxTimestampMs > this.config.retentionMs;
  }

  /** Recomputes a loaded (untrusted) max timestamp from batch headers before deleting by it. */
  private async verifyMaxTimestamp(seg: Segment, nowMs: number): Promise<boolean> {
    let max = -1;
    let offsetOfMax = seg.baseOffset;
    const walk = await this.handles.use(seg.logPath, 'read', (h) =>
      walkBatches(h, {
        start: 0,
        end: seg.size,
        expectedOffset: seg.baseOffset,
        verifyCrc: false,
        visit: (header) => {
          if (header.maxTimestamp > max) {
            max = header.maxTimestamp;
            offsetOfMax = header.baseOffset;
          }
        },
      }),
    );
    if (walk.problem !== undefined) {
      const err = this.corruption(seg, walk.problem);
      this.goOffline(err);
      throw err;
    }
    seg.maxTimestampMs = max;
    seg.offsetOfMaxTimestamp = offsetOfMax;
    seg.maxTimestampTrusted = true;
    return this.expiredByTime(seg, nowMs);
  }

  private async deleteOldestSegments(doomed: Segment[]): Promise<void> {
    assert(doomed.every((s, i) => this.segments[i] === s), 'retention must delete a prefix of the segments');
    this.segments = this.segments.slice(doomed.length);
    this.logStart = Math.max(this.logStart, this.segments[0].baseOffset);
    for (const seg of doomed) {
      this.logger.info('deleting segment', { file: seg.logPath, baseOffset: seg.baseOffset, nextOffset: seg.nextOffset, bytes: seg.size });
      await this.handles.close(seg.logPath);
      for (const path of [seg.logPath, seg.indexPath, seg.timeIndexPath]) await unlinkQuietly(this.fs, path);
    }
    await this.fs.fsyncDir(this.dir);
  }

  /** DeleteRecords: advances the log start offset to `offset` (at most the high watermark). */
  async deleteRecordsBefore(offset: number): Promise<void> {
    this.requireWritable();
    assertSafeInteger(offset, 'delete-records offset');
    if (offset > this.hw) throw new OffsetOutOfRangeError(`cannot delete records before ${offset}: above the high watermark ${this.hw} of ${this.name}`);
    if (offset <= this.logStart) return;
    this.logStart = offset;
    await this.enforceRetention();
  }

  // ---- shutdown -------------------------------------------------------------------------------

  /** Drains the writer, fsyncs, writes index files and the producer snapshot, releases files. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    try {
      if (this.stateValue === 'online') {
        const flushed = this.flush();
        this.closing = true;
        await flushed;
        await this.whenWriterIdle();
        assert(this.rp === this.logEnd, `closing with recovery point ${this.rp} below log end ${this.logEnd}`);
        const active = this.activeSegment;
        await this.trimPreallocated(active); // a clean open takes the file's size as the segment's
        if (this.filesMatchMemory) return; // opened clean and unchanged: the files on disk are current
        active.finishTimeIndex();
        await this.writeIndexFiles(active);
        await writeFileAtomic(this.fs, joinPath(this.dir, PRODUCER_SNAPSHOT_FILE), this.producers.snapshot(this.logEnd));
      }
    } catch (err) {
      this.fail(err);
      throw this.failure ?? err;
    } finally {
      this.closing = true;
      this.cancelFlushTimer?.();
      this.cancelFlushTimer = undefined;
      this.releaseWaiters();
      await this.prealloc?.done;
      await this.releaseFiles();
    }
  }

  /** Closes this log's cached segment handles (O(segments), not a scan of the shared pool). */
  private async releaseFiles(): Promise<void> {
    await Promise.all(this.segments.map((seg) => this.handles.close(seg.logPath)));
  }

  /** Removes the partition directory: rename to `<dir>.<id>-delete` (durable), then delete it. */
  async delete(): Promise<void> {
    this.closing = true;
    this.closePromise ??= Promise.resolve();
    this.rejectAllPending(new LogUnavailableError(`log ${this.name} was deleted`));
    this.releaseWaiters();
    await this.whenWriterIdle();
    await this.prealloc?.done;
    await this.releaseFiles();
    await this.handles.closeUnder(this.dir + '/');
    const parent = dirname(this.dir);
    const doomed = joinPath(parent, `${basename(this.dir)}.${this.clock.nowMs().toString(36)}${(this.deleteCounter++).toString(36)}-delete`);
    await this.fs.rename(this.dir, doomed);
    await this.fs.fsyncDir(parent);
    await this.fs.rmdir(doomed, { recursive: true });
    await this.fs.fsyncDir(parent);
    if (this.stateValue === 'online') {
      this.stateValue = 'offline';
      this.reason = 'deleted';
    }
  }
}

async function unlinkQuietly(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

