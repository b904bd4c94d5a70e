// One segment of a partition log: `<20-digit base offset>.log` plus its sparse indexes. This file
// owns the segment's in-memory bookkeeping (sizes, offsets, timestamps, index maintenance) and the
// batch-frame checks shared by recovery, index rebuilds and reads. File I/O lives in the log.
import { assert } from '../util/index.ts';
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD, type BatchHeader, readBatchHeader, readInt64, verifyBatchCrc } from '../record/index.ts';
import type { FileHandle } from './fs.ts';
import { joinPath } from './fs.ts';
import { OffsetIndex, TimeIndex } from './offset-index.ts';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
/** Length field minimum: a batch is at least its 61-byte header. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD;
/** Segment files are addressed with int32 positions. */
export const MAX_SEGMENT_BYTES = 0x7fffffff;

export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** Parses `00000000000000000042.log` style names; null when the name is not a segment file. */
export function parseSegmentFileName(name: string): { baseOffset: number; suffix: string } | null {
  const m = /^(\d{20})(\.log|\.index|\.timeindex)$/.exec(name);
  if (m === null) return null;
  const baseOffset = Number(m[1]);
  if (!Number.isSafeInteger(baseOffset)) return null;
  return { baseOffset, suffix: m[2] };
}

export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly indexPath: string;
  readonly timeIndexPath: string;
  offsetIndex: OffsetIndex;
  timeIndex: TimeIndex;
  /** Bytes assigned to this segment, including appends still queued for the writer. */
  size = 0;
  /** Bytes the writer has handed to the OS. */
  writtenBytes = 0;
  /** Bytes known to be fsynced. */
  syncedBytes = 0;
  /** Bytes below the high watermark (what readers may see). */
  visibleBytes = 0;
  /**
   * End of the zero-fills started on this file (preallocation): the file may be this long, and
   * once no fill runs, the zeros up to it are fsynced and appends below it overwrite blocks the
   * file already has. A segment is cut back to `size` before it is sealed or closed cleanly, so
   * that only the active segment of a log that crashed can end in zeros. 0 when none.
   */
  extendedTo = 0;
  /** Offset after the last batch assigned to this segment. */
  nextOffset: number;
  /** Offset after the last batch readers may see. */
  visibleNextOffset: number;
  maxTimestampMs = -1;
  offsetOfMaxTimestamp: number;
  /** Wall-clock time the segment started receiving appends (segment.ms rolling). */
  rollStartMs: number | undefined;
  bytesSinceIndexEntry = 0;
  /** Sealed: the writer has fsynced it and written its indexes; it never changes again. */
  sealed = false;
  /** False when maxTimestampMs came from an index file (derived data): verify before deleting by time. */
  maxTimestampTrusted = true;

  constructor(dir: string, baseOffset: number) {
    assert(Number.isSafeInteger(baseOffset) && baseOffset >= 0, `segment base offset ${baseOffset} invalid`);
    this.baseOffset = baseOffset;
    this.logPath = joinPath(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    this.indexPath = joinPath(dir, segmentFileName(baseOffset, INDEX_SUFFIX));
    this.timeIndexPath = joinPath(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX));
    this.offsetIndex = new OffsetIndex(baseOffset);
    this.timeIndex = new TimeIndex(baseOffset);
    this.nextOffset = baseOffset;
    this.visibleNextOffset = baseOffset;
    this.offsetOfMaxTimestamp = baseOffset;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /**
   * Bookkeeping for a batch placed at `position` (= the current size): sparse index entries every
   * `indexIntervalBytes`, the max timestamp, sizes and the next offset.
   */
  recordBatch(position: number, baseOffset: number, lastOffset: number, sizeBytes: number, maxTimestampMs: number, indexIntervalBytes: number): void {
    assert(position === this.size, `batch at position ${position} but segment ${this.baseOffset} size is ${this.size}`);
    assert(baseOffset === this.nextOffset, `batch offset ${baseOffset} not contiguous with ${this.nextOffset} in segment ${this.baseOffset}`);
    if (maxTimestampMs > this.maxTimestampMs) {
      this.maxTimestampMs = maxTimestampMs;
      this.offsetOfMaxTimestamp = baseOffset;
    }
    if (this.bytesSinceIndexEntry > indexIntervalBytes) {
      this.offsetIndex.append(baseOffset, position);
      this.timeIndex.maybeAppend(this.maxTimestampMs, this.offsetOfMaxTimestamp);
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += sizeBytes;
    this.size += sizeBytes;
    this.nextOffset = lastOffset + 1;
  }

  /** Final time index entry so the segment's max timestamp is on disk (sealing, close). */
  finishTimeIndex(): void {
    if (this.maxTimestampMs >= 0) this.timeIndex.maybeAppend(this.maxTimestampMs, this.offsetOfMaxTimestamp);
  }

  /** Marks everything appended so far as written, synced and visible (after recovery or load). */
  markAllDurable(): void {
    this.writtenBytes = this.size;
    this.syncedBytes = this.size;
    this.visibleBytes = this.size;
    this.visibleNextOffset = this.nextOffset;
  }

  resetIndexes(): void {
    this.offsetIndex = new OffsetIndex(this.baseOffset);
    this.timeIndex = new TimeIndex(this.baseOffset);
    this.maxTimestampMs = -1;
    this.offsetOfMaxTimestamp = this.baseOffset;
    this.bytesSinceIndexEntry = 0;
    this.size = 0;
    this.nextOffset = this.baseOffset;
  }
}

/** What is wrong with the batch frame at `pos`, or null. `available` bytes of `buf` follow `pos`. */
export function batchFrameProblem(buf: Buffer, pos: number, available: number, fileRemaining: number): string | null {
  if (fileRemaining < BATCH_LOG_OVERHEAD) return `truncated batch header (${fileRemaining} bytes left in file)`;
  const length = buf.readInt32BE(pos + 8);
  if (length < MIN_BATCH_LENGTH) {
    const zero = readInt64(buf, pos) === 0 && length === 0;
    return zero ? 'zero-filled bytes where a batch should start' : `batch length ${length} below the minimum ${MIN_BATCH_LENGTH}`;
  }
  if (BATCH_LOG_OVERHEAD + length > fileRemaining) return `batch of ${BATCH_LOG_OVERHEAD + length} bytes extends past the end of the file (${fileRemaining} bytes left)`;
  if (available < BATCH_HEADER_BYTES) return null; // caller reads more before checking the header
  const magic = buf.readInt8(pos + 16);
  if (magic !== 2) return `magic byte ${magic} (expected 2)`;
  const lastOffsetDelta = buf.readInt32BE(pos + 23);
  if (lastOffsetDelta < 0) return `negative lastOffsetDelta ${lastOffsetDelta}`;
  return null;
}

export interface WalkProblem {
  position: number;
  expectedOffset: number;
  reason: string;
}

export interface WalkResult {
  /** Where the walk stopped: end of range, the visitor stopping, or the problem's position. */
  position: number;
  /** Offset after the last batch walked (the next expected base offset). */
  nextOffset: number;
  problem: WalkProblem | undefined;
}

export interface WalkOptions {
  start: number;
  /** Exclusive end position (file size or visible bytes). */
  end: number;
  expectedOffset: number;
  verifyCrc: boolean;
  /** Read window for header-only walks; CRC walks read whole batches. */
  windowBytes?: number;
  /** Return false to stop before moving past this batch. */
  visit?: (header: BatchHeader, position: number, sizeBytes: number) => boolean | void;
}

const DEFAULT_WINDOW_BYTES = 64 * 1024;

/**
 * Walks batch frames from `start`, checking each: length bounds, magic, contiguous offsets and
 * (optionally) CRC-32C. Stops at the first problem and reports it; never trusts a length before
 * bounding it by the bytes left in the range.
 */
export async function walkBatches(handle: FileHandle, options: WalkOptions): Promise<WalkResult> {
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  let buf = Buffer.allocUnsafe(Math.min(windowBytes, Math.max(options.end - options.start, BATCH_LOG_OVERHEAD)));
  let bufStart = 0;
  let bufLen = 0;
  const ensure = async (pos: number, need: number): Promise<boolean> => {
    if (pos >= bufStart && pos + need <= bufStart + bufLen) return true;
    const want = Math.min(Math.max(need, windowBytes), options.end - pos);
    if (want > buf.length) buf = Buffer.allocUnsafe(want);
    bufStart = pos;
    bufLen = await handle.read(buf, 0, want, pos);
    return bufLen >= need;
  };
  let pos = options.start;
  let expected = options.expectedOffset;
  const stop = (reason: string): WalkResult => ({ position: pos, nextOffset: expected, problem: { position: pos, expectedOffset: expected, reason } });
  while (pos < options.end) {
    const remaining = options.end - pos;
    if (!(await ensure(pos, Math.min(remaining, BATCH_HEADER_BYTES)))) return stop('file shorter than expected');
    const at = pos - bufStart;
    const early = batchFrameProblem(buf, at, Math.min(remaining, bufLen - at), remaining);
    if (early !== null) return stop(early);
    const header = readBatchHeader(buf, at);
    const size = BATCH_LOG_OVERHEAD + header.batchLength;
    if (header.baseOffset !== expected) return stop(`batch base offset ${header.baseOffset} where offset ${expected} was expected`);
    if (options.verifyCrc) {
      if (!(await ensure(pos, size))) return stop('file shorter than expected');
      if (!verifyBatchCrc(buf, pos - bufStart, size)) return stop(`CRC-32C mismatch in batch at offset ${expected}`);
    }
    if (options.visit !== undefined && options.visit(header, pos, size) === false) break;
    pos += size;
    expected = header.baseOffset + header.lastOffsetDelta + 1;
  }
  return { position: pos, nextOffset: expected, problem: undefined };
}

/**
 * Walks from the sparse index entry at or below `offset`. The index is derived data: when the walk
 * from an entry hits a problem, the walk is repeated from the segment start before anyone blames
 * the log. `onIndexMismatch` is told when that happened.
 */
export async function walkFromIndex(
  handle: FileHandle,
  seg: Segment,
  offset: number,
  options: Omit<WalkOptions, 'start' | 'expectedOffset'>,
  onIndexMismatch?: (entry: { offset: number; position: number }) => void,
): Promise<WalkResult> {
  const entry = seg.offsetIndex.lookup(offset);
  let visitedUpTo = -1;
  const visit = options.visit;
  const tracking: WalkOptions['visit'] = visit && ((header, position, size) => {
    const result = visit(header, position, size);
    visitedUpTo = header.baseOffset;
    return result;
  });
  const first = await walkBatches(handle, { ...options, visit: tracking, start: entry.position, expectedOffset: entry.offset });
  // The segment's own start (position 0 at its base offset) has nothing earlier to fall back to. A
  // damaged entry can also say position 0, with another offset: that one is walked again.
  if (first.problem === undefined || (entry.position === 0 && entry.offset === seg.baseOffset)) return first;
  onIndexMismatch?.(entry);
  // Batches already visited are not visited twice.
  const rest: WalkOptions['visit'] = visit && ((header, position, size) => (header.baseOffset <= visitedUpTo ? true : visit(header, position, size)));
  return walkBatches(handle, { ...options, visit: rest, start: 0, expectedOffset: seg.baseOffset });
}
