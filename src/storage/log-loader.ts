// Opening a partition directory: find segments, load or rebuild their indexes, and recover after a
// crash. Recovery scans every segment that may hold data at or after the recovery point, checks
// every batch (length bounds, magic, contiguous offsets, CRC-32C), and:
//   - in the last segment, treats the first bad batch at or after the recovery point as a torn tail:
//     the file is truncated there, fsynced, and what was dropped is logged;
//   - anywhere else (a sealed segment, or data below the recovery point, which was fsynced) a bad
//     batch is corruption: the partition goes offline with a CorruptionError and nothing is deleted.
// After a clean shutdown nothing is rescanned: sealed segments' index files are sanity-checked and
// used, and only the active segment's tail after its last index entry is validated (a small active
// segment is simply scanned whole — cheaper than reading its two index files).
// Producer state and leader epochs come from the scan when every segment was scanned; otherwise from
// the producer snapshot plus a header replay after it, and from the epoch checkpoint (or, when that
// is missing, from batch headers).
import { CorruptionError, type Clock, type Logger } from '../util/index.ts';
import { BATCH_HEADER_BYTES, type BatchHeader, readBatchHeader } from '../record/index.ts';
import { readFileIfExists, TEMP_SUFFIX, writeFileAtomic } from './atomic-file.ts';
import { encodeEpochCheckpoint, parseEpochCheckpoint } from './checkpoint.ts';
import type { LogConfig } from './config.ts';
import { type FileSystem, isNotFound, joinPath } from './fs.ts';
import type { FileHandleCache } from './handle-cache.ts';
import { LeaderEpochCache } from './leader-epoch.ts';
import { OffsetIndex, TimeIndex } from './offset-index.ts';
import type { ProducerStateManager } from './producer-state.ts';
import { LOG_SUFFIX, parseSegmentFileName, Segment, segmentFileName, walkBatches, walkFromIndex, type WalkProblem } from './segment.ts';

export const LEADER_EPOCH_FILE = 'leader-epoch-checkpoint';
export const PARTITION_META_FILE = 'partition.meta';
export const PRODUCER_SNAPSHOT_FILE = 'producer-state.snapshot';
const KNOWN_FILES = new Set([LEADER_EPOCH_FILE, PARTITION_META_FILE, PRODUCER_SNAPSHOT_FILE]);
const SCAN_WINDOW_BYTES = 1024 * 1024;
/** Zeros after the last batch checked as such at recovery: above the largest preallocation. */
const ZERO_TAIL_CHECK_BYTES = 65 * 1024 * 1024;
/** On a clean open, an active segment up to this size is scanned instead of loading its indexes. */
export const DEFAULT_CLEAN_OPEN_SCAN_BYTES = 64 * 1024;

export interface LoadContext {
  fs: FileSystem;
  handles: FileHandleCache;
  logger: Logger;
  clock: Clock;
  dir: string;
  config: LogConfig;
  producers: ProducerStateManager;
  /** Offset below which everything was fsynced, if known. */
  recoveryPoint: number | undefined;
  cleanShutdown: boolean;
  /** Log start offset from the checkpoint, if known. */
  logStartOffset: number | undefined;
  /** Active segments up to this size are scanned whole on a clean open. */
  cleanOpenScanBytes?: number;
  /** Set by the loader when it rebuilt derived data. */
  rebuilt?: boolean;
}

export interface LoadedLog {
  segments: Segment[];
  logStartOffset: number;
  epochs: LeaderEpochCache;
  /** Something on disk had to be rebuilt (index, snapshot): the files do not match memory. */
  rebuilt: boolean;
}

/** Loads the directory; throws CorruptionError when the partition must go offline. */
export async function loadLog(ctx: LoadContext): Promise<LoadedLog> {
  const bases = await tidyDirectory(ctx);
  const segments = bases.map((b) => new Segment(ctx.dir, b));
  const rp = ctx.recoveryPoint ?? 0;
  const trustIndexes = ctx.cleanShutdown && ctx.recoveryPoint !== undefined;
  // While every segment from the first one on is scanned, producer state and leader epochs are
  // rebuilt from the scan itself: the snapshot and the epoch checkpoint are not needed.
  ctx.producers.clear();
  let producersFromScan = true; // and epochs
  const scannedEpochs = new LeaderEpochCache();
  const replay = (h: BatchHeader): void => {
    if (h.producerId >= 0) ctx.producers.update(h, h.baseOffset, h.baseOffset + h.lastOffsetDelta);
    scannedEpochs.assign(h.partitionLeaderEpoch, h.baseOffset);
  };
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const isLast = i === segments.length - 1;
    if (i > 0 && seg.baseOffset !== segments[i - 1].nextOffset) {
      throw new CorruptionError(`${seg.logPath}: segment starts at offset ${seg.baseOffset} but the previous segment ends at ${segments[i - 1].nextOffset}`);
    }
    const nextBase = isLast ? undefined : segments[i + 1].baseOffset;
    const fileBytes = await ctx.fs.fileSize(seg.logPath);
    // A small active segment is cheaper to scan (one read, every CRC checked) than its two index files.
    const scan = trustIndexes ? isLast && fileBytes <= (ctx.cleanOpenScanBytes ?? DEFAULT_CLEAN_OPEN_SCAN_BYTES) : isLast || (nextBase as number) > rp;
    if (scan) {
      await scanSegment(ctx, seg, fileBytes, isLast, rp, producersFromScan ? replay : undefined);
    } else {
      producersFromScan = false;
      await loadSegment(ctx, seg, fileBytes, nextBase, rp);
    }
  }
  const last = segments[segments.length - 1];
  const logEndOffset = last.nextOffset;
  const logStartOffset = Math.min(Math.max(ctx.logStartOffset ?? 0, segments[0].baseOffset), logEndOffset);
  let epochs = scannedEpochs;
  if (!producersFromScan) {
    epochs = await loadEpochs(ctx, segments, logEndOffset);
    await loadProducers(ctx, segments, logEndOffset);
  }
  if (!trustIndexes) {
    // After a kill -9 what recovery read may still sit only in the page cache — the last segment's
    // bytes and even the directory entries of recently created segments. Make both durable before
    // they count as below the recovery point and before new appends build on them.
    await ctx.handles.use(last.logPath, 'readwrite', (h) => h.sync());
    await ctx.fs.fsyncDir(ctx.dir);
  }
  return { segments, logStartOffset, epochs, rebuilt: ctx.rebuilt === true };
}

/** Lists segment base offsets; removes our temp files and orphan index files; creates a first segment if none. */
async function tidyDirectory(ctx: LoadContext): Promise<number[]> {
  const names = await ctx.fs.readdir(ctx.dir);
  const logs = new Set<number>();
  for (const name of names) {
    const parsed = parseSegmentFileName(name);
    if (parsed?.suffix === LOG_SUFFIX) logs.add(parsed.baseOffset);
  }
  let changed = false;
  for (const name of names) {
    const parsed = parseSegmentFileName(name);
    if (parsed !== null) {
      if (parsed.suffix !== LOG_SUFFIX && !logs.has(parsed.baseOffset)) {
        ctx.logger.info('removing index file without a segment', { file: joinPath(ctx.dir, name) });
        await unlinkIfExists(ctx.fs, joinPath(ctx.dir, name));
        changed = true;
      }
    } else if (name.endsWith(TEMP_SUFFIX)) {
      await unlinkIfExists(ctx.fs, joinPath(ctx.dir, name));
      changed = true;
    } else if (!KNOWN_FILES.has(name)) {
      ctx.logger.warn('unrecognised file in partition directory left alone', { file: joinPath(ctx.dir, name) });
    }
  }
  if (logs.size === 0) {
    const base = ctx.logStartOffset ?? 0;
    await ctx.handles.use(joinPath(ctx.dir, segmentFileName(base, LOG_SUFFIX)), 'create', async () => {});
    logs.add(base);
    changed = true;
  }
  if (changed) await ctx.fs.fsyncDir(ctx.dir);
  return [...logs].sort((a, b) => a - b);
}

async function unlinkIfExists(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function describe(seg: Segment, problem: WalkProblem): string {
  return `${seg.logPath}: ${problem.reason} at position ${problem.position} (expected offset ${problem.expectedOffset})`;
}

/** Full validating scan of a segment from position 0; rebuilds its indexes; handles a torn tail. */
async function scanSegment(ctx: LoadContext, seg: Segment, fileBytes: number, isLast: boolean, rp: number, onBatch?: (h: BatchHeader) => void): Promise<void> {
  seg.resetIndexes();
  const mode = isLast ? 'readwrite' : 'read';
  const walk = await ctx.handles.use(seg.logPath, mode, (h) =>
    walkBatches(h, {
      start: 0,
      end: fileBytes,
      expectedOffset: seg.baseOffset,
      verifyCrc: true,
      windowBytes: SCAN_WINDOW_BYTES,
      visit: (header, position, size) => {
        seg.recordBatch(position, header.baseOffset, header.baseOffset + header.lastOffsetDelta, size, header.maxTimestamp, ctx.config.indexIntervalBytes);
        if (seg.rollStartMs === undefined) seg.rollStartMs = clampRollStart(header.maxTimestamp, ctx.clock);
        onBatch?.(header);
      },
    }),
  );
  if (walk.problem !== undefined) await handleBadBatch(ctx, seg, isLast, rp, walk.problem, fileBytes);
  seg.maxTimestampTrusted = true;
  seg.markAllDurable();
  seg.sealed = !isLast;
}

async function handleBadBatch(ctx: LoadContext, seg: Segment, isLast: boolean, rp: number, problem: WalkProblem, fileBytes: number): Promise<void> {
  if (!isLast) throw new CorruptionError(`sealed segment ${describe(seg, problem)}; ${fileBytes - problem.position} bytes from there on are unreadable`);
  if (problem.expectedOffset < rp) {
    throw new CorruptionError(`${describe(seg, problem)}: below the recovery point ${rp}, so this data had been fsynced`);
  }
  if (await zerosToEnd(ctx, seg, problem.position, fileBytes)) {
    // Zeros written ahead of the data (preallocation), or an extent the crash left zero-filled
    // before a write's data reached it: no batch to drop, so not logged as a torn tail.
    ctx.logger.info('trimming zeros after the last batch of the active segment', { file: seg.logPath, position: problem.position, zeroBytes: fileBytes - problem.position, nextOffset: problem.expectedOffset });
  } else {
    ctx.logger.warn('truncating torn tail of the active segment after a crash', {
      file: seg.logPath,
      position: problem.position,
      droppedBytes: fileBytes - problem.position,
      firstDroppedOffset: problem.expectedOffset,
      reason: problem.reason,
    });
  }
  await ctx.handles.use(seg.logPath, 'readwrite', async (h) => {
    await h.truncate(problem.position);
    await h.sync();
  });
}

/**
 * True when every byte of the segment from `position` to `fileBytes` is zero. Reads at most
 * ZERO_TAIL_CHECK_BYTES (more than the largest preallocation); a longer tail counts as torn.
 */
async function zerosToEnd(ctx: LoadContext, seg: Segment, position: number, fileBytes: number): Promise<boolean> {
  if (fileBytes - position > ZERO_TAIL_CHECK_BYTES) return false;
  return ctx.handles.use(seg.logPath, 'readwrite', async (h) => {
    const buf = Buffer.alloc(Math.min(SCAN_WINDOW_BYTES, fileBytes - position));
    for (let pos = position; pos < fileBytes; ) {
      const n = await h.read(buf, 0, Math.min(buf.length, fileBytes - pos), pos);
      if (n === 0) return false;
      for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
      pos += n;
    }
    return true;
  });
}

/** Loads a segment's index files when they pass the sanity checks; otherwise rebuilds by scanning. */
async function loadSegment(ctx: LoadContext, seg: Segment, fileBytes: number, nextBase: number | undefined, rp: number): Promise<void> {
  const isLast = nextBase === undefined;
  const problem = await loadIndexFiles(ctx, seg, fileBytes, nextBase);
  if (problem !== null) {
    ctx.logger.warn('rebuilding segment index', { file: seg.logPath, reason: problem });
    ctx.rebuilt = true;
    await scanSegment(ctx, seg, fileBytes, isLast, rp);
    return;
  }
  seg.size = fileBytes;
  seg.nextOffset = nextBase ?? seg.baseOffset;
  const lastTime = seg.timeIndex.last();
  seg.maxTimestampMs = lastTime?.timestampMs ?? -1;
  seg.offsetOfMaxTimestamp = lastTime?.offset ?? seg.baseOffset;
  seg.maxTimestampTrusted = false;
  if (isLast) await walkTail(ctx, seg, fileBytes, rp);
  seg.markAllDurable();
  seg.sealed = !isLast;
}

/** Reads and checks .index/.timeindex; returns why they cannot be used, or null once loaded. */
async function loadIndexFiles(ctx: LoadContext, seg: Segment, fileBytes: number, nextBase: number | undefined): Promise<string | null> {
  const [indexBytes, timeBytes] = await Promise.all([readFileIfExists(ctx.fs, seg.indexPath), readFileIfExists(ctx.fs, seg.timeIndexPath)]);
  if (indexBytes === null || timeBytes === null) return 'index file missing';
  const problem = OffsetIndex.problem(indexBytes, seg.baseOffset, fileBytes, nextBase) ?? TimeIndex.problem(timeBytes, seg.baseOffset, nextBase);
  if (problem !== null) return problem;
  const offsetIndex = new OffsetIndex(seg.baseOffset, indexBytes);
  if (offsetIndex.length > 0) {
    const at = offsetIndex.length - 1;
    const header = await ctx.handles.use(seg.logPath, nextBase === undefined ? 'readwrite' : 'read', async (h) => {
      const buf = Buffer.alloc(BATCH_HEADER_BYTES);
      const n = await h.read(buf, 0, BATCH_HEADER_BYTES, offsetIndex.positionAt(at));
      return n === BATCH_HEADER_BYTES ? readBatchHeader(buf) : undefined;
    });
    if (header === undefined || header.baseOffset !== offsetIndex.offsetAt(at) || header.magic !== 2) {
      return `last index entry ${offsetIndex.offsetAt(at)}@${offsetIndex.positionAt(at)} does not point at that batch`;
    }
  }
  seg.offsetIndex = offsetIndex;
  seg.timeIndex = new TimeIndex(seg.baseOffset, timeBytes);
  return null;
}

/** The last segment on a trusted open: validate (with CRC) the batches after the last index entry. */
async function walkTail(ctx: LoadContext, seg: Segment, fileBytes: number, rp: number): Promise<void> {
  const start = seg.offsetIndex.lookup(Number.MAX_SAFE_INTEGER);
  let firstBatch = start.position === 0;
  seg.size = start.position;
  seg.nextOffset = start.offset;
  seg.bytesSinceIndexEntry = 0;
  const walk = await ctx.handles.use(seg.logPath, 'readwrite', (h) =>
    walkBatches(h, {
      start: start.position,
      end: fileBytes,
      expectedOffset: start.offset,
      verifyCrc: true,
      windowBytes: SCAN_WINDOW_BYTES,
      visit: (header, position, size) => {
        if (header.maxTimestamp > seg.maxTimestampMs) {
          seg.maxTimestampMs = header.maxTimestamp;
          seg.offsetOfMaxTimestamp = header.baseOffset;
        }
        if (firstBatch) seg.rollStartMs = clampRollStart(header.maxTimestamp, ctx.clock);
        firstBatch = false;
        seg.bytesSinceIndexEntry += size;
        seg.size = position + size;
        seg.nextOffset = header.baseOffset + header.lastOffsetDelta + 1;
      },
    }),
  );
  if (walk.problem !== undefined) await handleBadBatch(ctx, seg, true, rp, walk.problem, fileBytes);
  if (seg.rollStartMs === undefined && seg.size > 0) seg.rollStartMs = await firstBatchRollStart(ctx, seg);
}

async function firstBatchRollStart(ctx: LoadContext, seg: Segment): Promise<number> {
  const buf = Buffer.alloc(BATCH_HEADER_BYTES);
  const n = await ctx.handles.use(seg.logPath, 'readwrite', (h) => h.read(buf, 0, BATCH_HEADER_BYTES, 0));
  return clampRollStart(n === BATCH_HEADER_BYTES ? readBatchHeader(buf).maxTimestamp : -1, ctx.clock);
}

/** segment.ms counts from the first batch's timestamp, but never from the future or from nothing. */
function clampRollStart(timestampMs: number, clock: Clock): number {
  const now = clock.nowMs();
  return timestampMs < 0 || timestampMs > now ? now : timestampMs;
}

async function loadEpochs(ctx: LoadContext, segments: Segment[], logEndOffset: number): Promise<LeaderEpochCache> {
  const path = joinPath(ctx.dir, LEADER_EPOCH_FILE);
  const data = await readFileIfExists(ctx.fs, path);
  let epochs: LeaderEpochCache | undefined;
  if (data !== null) {
    try {
      epochs = new LeaderEpochCache(parseEpochCheckpoint(data, path));
    } catch (err) {
      ctx.logger.warn('ignoring unreadable leader epoch checkpoint; rebuilding from batches', { file: path, error: err });
    }
  }
  let changed = false;
  if (epochs === undefined) {
    epochs = new LeaderEpochCache();
    const rebuilt = epochs;
    await replayHeaders(ctx, segments, segments[0].baseOffset, (h) => {
      if (rebuilt.assign(h.partitionLeaderEpoch, h.baseOffset)) changed = true;
    });
  }
  if (epochs.truncateFromEnd(logEndOffset)) changed = true;
  if (changed) await writeFileAtomic(ctx.fs, path, encodeEpochCheckpoint(epochs.all()));
  return epochs;
}

/** Producer state: the snapshot when it covers a prefix of this log, plus the batches after it. */
async function loadProducers(ctx: LoadContext, segments: Segment[], logEndOffset: number): Promise<void> {
  const path = joinPath(ctx.dir, PRODUCER_SNAPSHOT_FILE);
  const data = await readFileIfExists(ctx.fs, path);
  let from = segments[0].baseOffset;
  ctx.producers.clear();
  if (data !== null) {
    const covered = ctx.producers.loadSnapshot(data);
    if (covered !== null && covered >= from && covered <= logEndOffset) {
      from = covered;
    } else {
      ctx.logger.warn('ignoring producer state snapshot; rebuilding from the log', { file: path, covered, logStart: from, logEndOffset });
      ctx.producers.clear();
      ctx.rebuilt = true;
    }
  } else {
    ctx.rebuilt = true;
  }
  await replayHeaders(ctx, segments, from, (h) => {
    if (h.producerId >= 0) ctx.producers.update(h, h.baseOffset, h.baseOffset + h.lastOffsetDelta);
  });
}

/** Walks batch headers (no CRC: recovery already validated them) from `fromOffset` to the end. */
export async function replayHeaders(
  ctx: Pick<LoadContext, 'handles'>,
  segments: Segment[],
  fromOffset: number,
  visit: (header: BatchHeader) => void,
): Promise<void> {
  for (const seg of segments) {
    if (seg.nextOffset <= fromOffset || seg.size === 0) continue;
    const walk = await ctx.handles.use(seg.logPath, seg.sealed ? 'read' : 'readwrite', (h) =>
      walkFromIndex(h, seg, fromOffset, {
        end: seg.size,
        verifyCrc: false,
        visit: (header) => {
          if (header.baseOffset >= fromOffset) visit(header);
        },
      }),
    );
    if (walk.problem !== undefined) throw new CorruptionError(describe(seg, walk.problem));
  }
}

/** The topic id from partition.meta (read on demand: opening 10,000 logs should not read it). */
export async function readTopicId(fs: FileSystem, dir: string): Promise<string | undefined> {
  const data = await readFileIfExists(fs, joinPath(dir, PARTITION_META_FILE));
  if (data === null) return undefined;
  try {
    const meta = JSON.parse(data.toString('utf8')) as { topicId?: unknown };
    return typeof meta.topicId === 'string' ? meta.topicId : undefined;
  } catch {
    return undefined;
  }
}
