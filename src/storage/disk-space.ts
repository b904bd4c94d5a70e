// Free space on the data directory's file system, so the broker refuses new data before the disk
// is full instead of failing a write (which takes the log offline). statfs runs on a timer; in
// between, every admitted append is subtracted from the last reading, so a fast producer cannot
// overshoot the reserve between two readings. What other processes write between readings is
// seen at the next one.
import type { Logger } from '../util/index.ts';
import type { FileSystem } from './fs.ts';

export class DiskSpace {
  readonly dir: string;
  /** Free bytes kept in reserve: appends that would leave less are refused. */
  readonly minFreeBytes: number;
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  /** Free bytes at the last reading (Infinity before the first). */
  private lastFree = Infinity;
  /** Bytes admitted since the last reading started. */
  private admittedSince = 0;
  private refreshing: Promise<void> | null = null;
  private refusing = false;

  constructor(fs: FileSystem, dir: string, minFreeBytes: number, logger: Logger) {
    if (!Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) throw new RangeError(`minFreeBytes must be a non-negative integer, got ${minFreeBytes}`);
    this.fs = fs;
    this.dir = dir;
    this.minFreeBytes = minFreeBytes;
    this.logger = logger;
  }

  /** Free bytes now, as estimated: the last reading less what was admitted since. */
  get freeBytes(): number {
    return this.lastFree - this.admittedSince;
  }

  /** Reads the file system's free space (statfs). A failed reading keeps the last one. */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    // Bytes admitted while statfs runs may or may not be in its answer: count them anyway (the
    // estimate errs towards less free space).
    const admittedBefore = this.admittedSince;
    let free: number;
    try {
      free = await this.fs.freeBytes(this.dir);
    } catch (err) {
      this.logger.warn('cannot read free disk space; keeping the last reading', { dir: this.dir, err });
      return;
    }
    this.lastFree = free;
    this.admittedSince -= admittedBefore;
    const refusing = this.freeBytes < this.minFreeBytes;
    if (refusing !== this.refusing) {
      this.refusing = refusing;
      if (refusing) this.logger.warn('disk nearly full: produce refused until space is freed', { dir: this.dir, freeBytes: free, minFreeBytes: this.minFreeBytes });
      else this.logger.info('disk space recovered: produce accepted again', { dir: this.dir, freeBytes: free, minFreeBytes: this.minFreeBytes });
    }
  }

  /**
   * Admits an append of `bytes` and counts it, or returns why not: it would leave less than
   * minFreeBytes free. Synchronous, so it is checked in the order requests arrive.
   */
  admit(bytes: number): string | null {
    const free = this.freeBytes;
    if (free - bytes < this.minFreeBytes) {
      return `disk nearly full: ${this.dir} has ${Math.max(0, free)} bytes free and an append of ${bytes} bytes would leave less than disk.min.free.bytes (${this.minFreeBytes}); free space (retention, deleting topics) and retry`;
    }
    this.admittedSince += bytes;
    return null;
  }
}
