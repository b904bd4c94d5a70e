// Test helpers for storage: build valid RecordBatch v2 frames (header + arbitrary record bytes +
// CRC), temp directories, a FileSystem wrapper that counts and fails operations, manual timers.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BATCH_HEADER_BYTES, computeBatchCrc, readBatchHeader, verifyBatchCrc, writeInt64 } from '../../src/record/index.ts';
import { type ManualClock, silentLogger } from '../../src/util/index.ts';
import {
  DEFAULT_LOG_CONFIG,
  type FileHandle,
  type FileSystem,
  type LogConfig,
  type OpenMode,
  PartitionLog,
  type PartitionLogOptions,
  type Timers,
} from '../../src/storage/index.ts';

export interface BatchSpec {
  /** Number of records: lastOffsetDelta = records - 1. @default 1 */
  records?: number;
  /** Bytes after the header (stand-in for records). @default 10 bytes of a pattern */
  payload?: Buffer;
  baseTimestamp?: number;
  maxTimestamp?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  attributes?: number;
}

/** A valid v2 batch with baseOffset 0 and partitionLeaderEpoch -1, as a producer sends it. */
export function makeBatch(spec: BatchSpec = {}): Buffer {
  const records = spec.records ?? 1;
  const payload = spec.payload ?? Buffer.from('0123456789');
  const buf = Buffer.alloc(BATCH_HEADER_BYTES + payload.length);
  writeInt64(buf, 0, 0);
  buf.writeInt32BE(buf.length - 12, 8);
  buf.writeInt32BE(-1, 12);
  buf.writeInt8(2, 16);
  buf.writeInt16BE(spec.attributes ?? 0, 21);
  buf.writeInt32BE(records - 1, 23);
  const ts = spec.baseTimestamp ?? 1_700_000_000_000;
  writeInt64(buf, 27, ts);
  writeInt64(buf, 35, spec.maxTimestamp ?? ts);
  writeInt64(buf, 43, spec.producerId ?? -1);
  buf.writeInt16BE(spec.producerEpoch ?? -1, 51);
  buf.writeInt32BE(spec.baseSequence ?? -1, 53);
  buf.writeInt32BE(records, 57);
  payload.copy(buf, BATCH_HEADER_BYTES);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), 17);
  return buf;
}

export function config(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...DEFAULT_LOG_CONFIG, ...overrides };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'holdfast-storage-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function openLog(fs: FileSystem, dir: string, clock: ManualClock, overrides: Partial<PartitionLogOptions> = {}): Promise<PartitionLog> {
  return PartitionLog.open({
    fs,
    clock,
    logger: silentLogger,
    dir,
    topic: 't',
    partition: 0,
    config: config(),
    onFatal: () => {},
    ...overrides,
  });
}

/** A batch whose payload is `bytes` copies of byte (i % 250) + 1: batch i, recognisable when read back. */
export function markedBatch(i: number, bytes: number): Buffer {
  return makeBatch({ payload: Buffer.alloc(bytes, (i % 250) + 1) });
}

/** Each markedBatch's mark (its last byte), in offset order: what the log holds, compared with what was sent. */
export function payloadBytes(batches: Buffer[]): number[] {
  return batches.map((b) => b[b.length - 1]);
}

/** Every batch from `from` to the high watermark, each CRC-checked, read as consumers read. */
export async function readAll(log: PartitionLog, from = log.logStartOffset): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = from;
  while (offset < log.highWatermark) {
    const { chunks } = await log.read(offset, 64 * 1024);
    const batches = splitBatches(chunks);
    assert.ok(batches.length > 0, `read at ${offset} returned nothing below the high watermark ${log.highWatermark}`);
    for (const b of batches) {
      assert.ok(verifyBatchCrc(b, 0, b.length));
      out.push(b);
    }
    const last = readBatchHeader(batches[batches.length - 1]);
    offset = last.baseOffset + last.lastOffsetDelta + 1;
  }
  return out;
}

/** Where the whole batches of a segment file's bytes end, stopping at zeros or a cut batch. */
export function wholeBatchesEnd(bytes: Buffer): number {
  let end = 0;
  while (end + 12 <= bytes.length) {
    const length = bytes.readInt32BE(end + 8);
    if (length <= 0 || end + 12 + length > bytes.length) break;
    end += 12 + length;
  }
  return end;
}

/** Splits concatenated batches into individual frames. */
export function splitBatches(chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    let pos = 0;
    while (pos < chunk.length) {
      const size = 12 + chunk.readInt32BE(pos + 8);
      out.push(chunk.subarray(pos, pos + size));
      pos += size;
    }
  }
  return out;
}

export function baseOffsetOf(batch: Buffer): number {
  return batch.readInt32BE(0) * 4294967296 + batch.readUInt32BE(4);
}

/** Wraps a FileSystem: counts operations by name and can make chosen operations fail. */
export class CountingFileSystem implements FileSystem {
  readonly inner: FileSystem;
  readonly counts = new Map<string, number>();
  /** Bytes read through handles, by path. */
  readonly bytesRead = new Map<string, number>();
  /** Return an error to make the operation fail. */
  failWith: ((op: string, path: string) => Error | undefined) | undefined;

  constructor(inner: FileSystem) {
    this.inner = inner;
  }

  count(op: string, path: string): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
    if (path.endsWith('.log')) this.counts.set(`${op}:log`, (this.counts.get(`${op}:log`) ?? 0) + 1);
    const err = this.failWith?.(op, path);
    if (err !== undefined) throw err;
  }

  /** Called inside each writevSync (e.g. to move a ManualClock, as a slow disk would). */
  beforeSyncWrite: (path: string) => void = () => {};

  private durableWrite(path: string): void {
    this.count('dsync-write', path);
    this.count('sync', path);
  }

  get(op: string): number {
    return this.counts.get(op) ?? 0;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    this.count('open', path);
    const h = await this.inner.open(path, mode);
    const self = this;
    const writeNow = h.writevSync?.bind(h);
    return {
      read: async (b, o, l, p) => {
        self.count('read', path);
        const n = await h.read(b, o, l, p);
        self.bytesRead.set(path, (self.bytesRead.get(path) ?? 0) + n);
        return n;
      },
      // A write through an O_DSYNC handle is a write and an fsync in one call: counted (and made
      // to fail) as both, and as a 'dsync-write'; a sync() call is also an 'fdatasync'.
      write: (b, o, l, p) => (self.count('write', path), mode === 'dsync' && self.durableWrite(path), h.write(b, o, l, p)),
      writev: (bufs, p) => (self.count('writev', path), mode === 'dsync' && self.durableWrite(path), h.writev(bufs, p)),
      // Only if the wrapped handle has it: without it, every durable append goes to the thread pool.
      writevSync:
        writeNow === undefined
          ? undefined
          : (bufs, p) => {
              self.count('writevSync', path);
              if (mode === 'dsync') self.durableWrite(path);
              self.beforeSyncWrite(path);
              return writeNow(bufs, p);
            },
      sync: async () => {
        self.count('fdatasync', path);
        self.count('sync', path);
        await h.sync();
      },
      truncate: (l) => (self.count('truncate', path), h.truncate(l)),
      size: () => h.size(),
      close: () => h.close(),
    };
  }
  async readFile(path: string): Promise<Buffer> {
    this.count('readFile', path);
    return this.inner.readFile(path);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  async fileSize(path: string): Promise<number> {
    this.count('fileSize', path);
    return this.inner.fileSize(path);
  }
  readdir(path: string): Promise<string[]> {
    return this.inner.readdir(path);
  }
  mkdir(path: string): Promise<void> {
    return this.inner.mkdir(path);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  rmdir(path: string, options: { recursive: boolean }): Promise<void> {
    return this.inner.rmdir(path, options);
  }
  async fsyncDir(path: string): Promise<void> {
    this.count('fsyncDir', path);
    await this.inner.fsyncDir(path);
  }
  async freeBytes(path: string): Promise<number> {
    this.count('freeBytes', path);
    return this.inner.freeBytes(path);
  }
}

/** Timers that fire only when the test advances them (deterministic simulations). */
export class ManualTimers implements Timers {
  private nowMs = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.seq++;
    this.pending.set(id, { at: this.nowMs + ms, fn });
    return () => this.pending.delete(id);
  }

  /** Advances time and fires due timers in order. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= this.nowMs && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) return;
      this.pending.delete(next[0]);
      next[1].fn();
    }
  }

  get size(): number {
    return this.pending.size;
  }
}

/** Lets queued microtasks and immediate callbacks run (the writer loop over an in-memory FS). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Setup only: a FileSystem whose fsyncs are no-ops (fast fixture creation; never for assertions on durability). */
export class NoSyncFileSystem extends CountingFileSystem {
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await super.open(path, mode);
    return { ...h, sync: async () => {} };
  }
  override async fsyncDir(): Promise<void> {}
}
