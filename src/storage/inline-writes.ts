// Where a durable append's write runs: on the event loop (a synchronous O_DSYNC pwritev) or on
// libuv's thread pool. One scheduler is shared by the logs of a LogManager.
//
// On the thread pool each write costs two wake-ups between threads (the pool thread, then the
// event loop again), and its completion waits until the event loop gets to it. On this project's
// 2-core VM, `npm run bench:durable-write -- --bytes 17600 --rounds 1000 --methods
// o_dsync_prezeroed,o_dsync_prezeroed_inline` gave 0.26–0.30 ms and 137–152 µs of CPU a round on
// the pool against 0.20–0.23 ms and 73–107 µs inline, and the L benchmark's p99 dropped more than
// that (docs/performance.md, "Durable appends on the event loop").
//
// A write on the event loop holds everything else the broker does until the disk answers, so it
// is taken only when no other durable write is waiting for the disk:
// - the write is at most maxBytes (a W1 group commit of ~1 MB stays on the pool);
// - no durable write of any log is on the thread pool, and writes of two other logs or more did
//   not finish there in the last quietMs: where several partitions are written, requests keep
//   arriving right after writes finish, and one written inline would hold the others (without
//   this rule, 16 connections to 16 partitions with 100-byte records did 1.82–2.04M msg/s
//   against 1.96–2.35M with every write on the pool). The
//   log's own writes do not count, or one write on the pool would keep a busy partition there,
//   nor does one other log alone: a producer moving to the next partition writes the last batch
//   of the one before beside it, and the new partition's writes would stay on the pool for
//   quietMs each time (in L, that halved the gain). Nor do a side log's (the broker's
//   __consumer_offsets, PartitionLogOptions.sideLog): a consumer's commits and the producer's
//   previous partition made two, and sent a lone producer's writes to the pool for quietMs after
//   each commit written there;
// - a zero-fill (log.preallocate.bytes) on the thread pool does not hold a write off the event
//   loop: the write may wait behind it at the disk, but on the pool it waited longer. While fills
//   held writes off and side logs counted, 38–58% of W2's durable writes (the partition's and
//   the commits') went to the pool, where they took ~510–810 µs against ~245–350 inline;
//   seconds without those two rules did ~5% more messages (a one-off probe; docs/performance.md,
//   "Writes beside a zero-fill or a commit stay on the event loop");
// - no other log asked in the same turn of the event loop. The decision waits for setImmediate,
//   after the poll phase has run every socket callback that was ready, so appends to several
//   partitions arriving together all go to the thread pool and run in parallel there (a throwaway
//   patch that wrote every durable write on the event loop made 16 connections to 16 partitions
//   3.5× slower, `npm run bench`; docs/performance.md);
// - no inline write in the last pauseMs took slowMs or more: a disk that stalls blocks the event
//   loop at most once per pauseMs; meanwhile writes go to the thread pool and the event loop keeps
//   answering heartbeats, metadata and fetches from the tail cache.
import { assert, type Clock } from '../util/index.ts';

export interface InlineWritesOptions {
  /** Largest write taken on the event loop; 0 never takes one. */
  maxBytes: number;
  clock: Clock;
  /** An inline write this slow pauses inline writes. @default 25 */
  slowMs?: number;
  /** How long a slow inline write pauses them. @default 5000 */
  pauseMs?: number;
  /** No inline write until this long after writes of two other logs on the thread pool finished. @default 5 */
  quietMs?: number;
}

/** Pool writes remembered per writer: the asker's own and two others'. */
const RECENT_WRITERS = 3;

/** The largest maxBytes accepted (the broker's log.inline.write.max.bytes). */
export const MAX_INLINE_WRITE_BYTES = 16 * 1024 * 1024;

export class InlineWrites {
  readonly maxBytes: number;
  private readonly clock: Clock;
  private readonly slowMs: number;
  private readonly pauseMs: number;
  private readonly quietMs: number;
  /** When the last RECENT_WRITERS writers (distinct, latest first) last finished a write on the thread pool. */
  private readonly poolEnds: { writer: object; atMs: number }[] = [];
  /** Durable writes on the thread pool now, across the logs sharing this scheduler (zero-fills not counted). */
  private poolWrites = 0;
  /** Asks of this turn, answered together at setImmediate. */
  private asks: { writer: object; resolve: (inline: boolean) => void }[] = [];
  private pausedUntil = -Infinity;
  /** Counters: what the tests check and the storage simulation reports. */
  inlineCount = 0;
  poolCount = 0;
  pauses = 0;

  constructor(options: InlineWritesOptions) {
    assert(Number.isSafeInteger(options.maxBytes) && options.maxBytes >= 0 && options.maxBytes <= MAX_INLINE_WRITE_BYTES, `inline write maxBytes ${options.maxBytes} must be an integer in [0, ${MAX_INLINE_WRITE_BYTES}]`);
    this.maxBytes = options.maxBytes;
    this.clock = options.clock;
    this.slowMs = options.slowMs ?? 25;
    this.pauseMs = options.pauseMs ?? 5000;
    this.quietMs = options.quietMs ?? 5;
  }

  /**
   * Whether a durable write of `bytes` by `writer` (its log) may run on the event loop: false at
   * once when it cannot, else a promise answered once the poll phase has run (true only for a
   * write alone in its turn).
   */
  ask(bytes: number, writer: object): false | Promise<boolean> {
    if (bytes > this.maxBytes || !this.diskIdle(writer)) return false;
    return new Promise<boolean>((resolve) => {
      if (this.asks.push({ writer, resolve }) === 1) setImmediate(() => this.answer());
    });
  }

  private answer(): void {
    const asks = this.asks;
    this.asks = [];
    const alone = asks.length === 1 && this.diskIdle(asks[0].writer);
    for (const ask of asks) ask.resolve(alone);
  }

  /** No durable write on the thread pool, writes of at most one other writer finished there within quietMs, and inline writes not paused. */
  private diskIdle(writer: object): boolean {
    if (this.poolWrites > 0) return false;
    const now = this.clock.monotonicMs();
    if (now < this.pausedUntil) return false;
    let others = 0;
    for (const end of this.poolEnds) if (end.writer !== writer && now - end.atMs < this.quietMs) others++;
    return others < 2;
  }

  /** Runs `write` on the event loop and times it; a slow one pauses inline writes. */
  inline<T>(write: () => T): T {
    const start = this.clock.monotonicMs();
    try {
      return write();
    } finally {
      this.inlineCount++;
      const end = this.clock.monotonicMs();
      if (end - start >= this.slowMs) {
        this.pausedUntil = end + this.pauseMs;
        this.pauses++;
      }
    }
  }

  /**
   * Runs `writer`'s `write` on the thread pool. A durable write (`kind` 'write') holds inline
   * writes off meanwhile; a zero-fill does not. Its end counts among recent writers unless
   * `recorded` is false (a side log's writes).
   */
  async pool<T>(writer: object, write: () => Promise<T>, kind: 'write' | 'fill' = 'write', recorded = true): Promise<T> {
    const holds = kind === 'write';
    if (holds) this.poolWrites++;
    this.poolCount++;
    try {
      return await write();
    } finally {
      if (holds) this.poolWrites--;
      if (recorded) this.recordEnd(writer);
    }
  }

  private recordEnd(writer: object): void {
    const mine = this.poolEnds.findIndex((end) => end.writer === writer);
    if (mine >= 0) this.poolEnds.splice(mine, 1);
    this.poolEnds.unshift({ writer, atMs: this.clock.monotonicMs() });
    if (this.poolEnds.length > RECENT_WRITERS) this.poolEnds.pop();
  }
}
