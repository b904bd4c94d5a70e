// The most recently appended batches of a log, kept in memory (bounded by bytes) so that
// consumers tailing the log are served without file I/O. Entries are contiguous by offset.
// A batch may be a view of a larger buffer (a request frame in a receive slab): the bound counts
// the memory the entries keep alive — each distinct underlying buffer once, whole — not just the
// batch bytes, so a cache can never pin more than its size.
//
// An entry holds a reference to a pooled request buffer (receiveSlabs) from add until evicted or
// cleared; what collect() returns is the reader's to take references to.
//
// Many partitions' caches can share a TailCacheBudget: a bound on what all of them pin together.
// Over it, the oldest entry of any cache that shares the budget goes first (a broker with 10,000
// partitions would otherwise be allowed 10,000 × the per-partition size).
import { assert, receiveSlabs } from '../util/index.ts';

/** A bound on the bytes pinned by all the caches that share it; oldest entries go first. */
export class TailCacheBudget {
  readonly maxBytes: number;
  private totalBytes = 0;
  /** Entries in the order they were added, across caches; stale ones (already evicted) are skipped. */
  private order: Array<{ cache: TailCache; baseOffset: number }> = [];
  private head = 0;
  /** Entries the caches hold now (so that stale records in `order` can be dropped in bulk). */
  private live = 0;

  constructor(maxBytes: number) {
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, `tail cache budget ${maxBytes} invalid`);
    this.maxBytes = maxBytes;
  }

  /** Bytes pinned by all caches of this budget. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** @internal */
  charge(deltaBytes: number, deltaEntries: number): void {
    this.totalBytes += deltaBytes;
    this.live += deltaEntries;
  }

  /** @internal A cache added an entry; evicts the oldest entries while the budget is exceeded. */
  added(cache: TailCache, baseOffset: number): void {
    this.order.push({ cache, baseOffset });
    while (this.totalBytes > this.maxBytes && this.head < this.order.length) {
      const o = this.order[this.head++];
      o.cache.evictHeadIf(o.baseOffset);
    }
    const pending = this.order.length - this.head;
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    } else if (pending > 1024 && pending > 2 * this.live) {
      // Records of entries the caches evicted themselves (their own bound, a gap, a clear).
      this.order = this.order.slice(this.head).filter((o) => o.cache.holds(o.baseOffset));
      this.head = 0;
    }
  }
}

interface CachedBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
}

/** Put in the slot of an evicted entry, so that the array below `head` references no batch. */
const EVICTED: CachedBatch = { baseOffset: -1, lastOffset: -1, bytes: Buffer.alloc(0) };

export class TailCache {
  readonly maxBytes: number;
  private entries: CachedBatch[] = [];
  private head = 0;
  /** Memory kept alive: the byte length of every distinct underlying buffer of the entries. */
  private totalBytes = 0;
  private readonly pinned = new Map<ArrayBufferLike, number>();
  private readonly budget: TailCacheBudget | undefined;

  constructor(maxBytes: number, budget?: TailCacheBudget) {
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, `tail cache size ${maxBytes} invalid`);
    this.maxBytes = maxBytes;
    this.budget = budget;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get firstOffset(): number | undefined {
    return this.head < this.entries.length ? this.entries[this.head].baseOffset : undefined;
  }

  add(baseOffset: number, lastOffset: number, bytes: Buffer): void {
    if (this.maxBytes === 0 || bytes.buffer.byteLength > this.maxBytes) {
      if (this.head < this.entries.length) this.clear();
      return;
    }
    const last = this.entries.at(-1);
    if (last !== undefined && this.head < this.entries.length && last.lastOffset + 1 !== baseOffset) this.clear();
    this.entries.push({ baseOffset, lastOffset, bytes });
    receiveSlabs.retain(bytes);
    this.budget?.charge(0, 1);
    this.pin(bytes.buffer);
    while (this.totalBytes > this.maxBytes) this.evictHead();
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    this.budget?.added(this, baseOffset);
  }

  private evictHead(): void {
    const bytes = this.entries[this.head].bytes;
    this.unpin(bytes.buffer);
    receiveSlabs.release(bytes);
    this.entries[this.head++] = EVICTED;
    this.budget?.charge(0, -1);
  }

  /** @internal For the budget: evicts the oldest entry if it is the one starting at `baseOffset`. */
  evictHeadIf(baseOffset: number): void {
    if (this.head < this.entries.length && this.entries[this.head].baseOffset === baseOffset) this.evictHead();
  }

  /** @internal Whether an entry starting at `baseOffset` is cached. */
  holds(baseOffset: number): boolean {
    const first = this.firstOffset;
    return first !== undefined && baseOffset >= first && baseOffset <= this.entries[this.entries.length - 1].baseOffset;
  }

  private pin(buffer: ArrayBufferLike): void {
    const n = this.pinned.get(buffer) ?? 0;
    if (n === 0) {
      this.totalBytes += buffer.byteLength;
      this.budget?.charge(buffer.byteLength, 0);
    }
    this.pinned.set(buffer, n + 1);
  }

  private unpin(buffer: ArrayBufferLike): void {
    const n = this.pinned.get(buffer) ?? 0;
    if (n <= 1) {
      this.pinned.delete(buffer);
      this.totalBytes -= buffer.byteLength;
      this.budget?.charge(-buffer.byteLength, 0);
    } else this.pinned.set(buffer, n - 1);
  }

  /**
   * Whole batches from the one containing `fetchOffset`, below `maxOffset`, up to `maxBytes` (at
   * least one), their total size and the offset after the last (-1 when none qualifies). Undefined
   * when `fetchOffset` is not cached.
   */
  collect(fetchOffset: number, maxBytes: number, maxOffset: number): { chunks: Buffer[]; bytes: number; nextOffset: number } | undefined {
    const first = this.firstOffset;
    if (first === undefined || fetchOffset < first || fetchOffset > this.entries[this.entries.length - 1].lastOffset) return undefined;
    let lo = this.head;
    let hi = this.entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid].lastOffset < fetchOffset) lo = mid + 1;
      else hi = mid;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let nextOffset = -1;
    for (let i = lo; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e.lastOffset >= maxOffset) break;
      if (chunks.length > 0 && bytes + e.bytes.length > maxBytes) break;
      chunks.push(e.bytes);
      bytes += e.bytes.length;
      nextOffset = e.lastOffset + 1;
    }
    return { chunks, bytes, nextOffset };
  }

  clear(): void {
    for (let i = this.head; i < this.entries.length; i++) receiveSlabs.release(this.entries[i].bytes);
    this.budget?.charge(-this.totalBytes, -(this.entries.length - this.head));
    this.entries = [];
    this.head = 0;
    this.totalBytes = 0;
    this.pinned.clear();
  }
}
