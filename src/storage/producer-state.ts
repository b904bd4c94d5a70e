// Idempotent-producer state of one partition (Kafka's rules, KAFKA-PROTOCOL.md §2.4): per producer
// id the epoch and the last 5 batches' sequence ranges and offsets, so a retried batch is answered
// with its original offsets and a gap or a stale epoch is refused. Rebuilt from batch headers on
// recovery; `snapshot()` / `loadSnapshot()` make clean restarts skip that rebuild.
import { assert, crc32c } from '../util/index.ts';
import { isControl, isTransactional, readInt64, writeInt64 } from '../record/index.ts';

/** Batches remembered per producer: the largest max.in.flight idempotent clients allow. */
export const PRODUCER_BATCHES_RETAINED = 5;
export const DEFAULT_MAX_PRODUCERS = 10_000;
export const KAFKA_INVALID_PRODUCER_EPOCH = 47;
export const KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
const INT32_MAX = 0x7fffffff;

export interface ProducerBatch {
  firstSeq: number;
  lastSeq: number;
  lastOffset: number;
  /** lastOffsetDelta of the batch: baseOffset = lastOffset - offsetDelta. */
  offsetDelta: number;
}

export interface ProducerEntry {
  producerId: number;
  epoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_RETAINED. */
  batches: ProducerBatch[];
  lastTimestampMs: number;
  /** First offset of the producer's open transaction, or -1. */
  currentTxnFirstOffset: number;
}

export interface ProducerBatchHeader {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
}

export type ProducerCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number; lastOffset: number }
  | { kind: 'error'; errorCode: number; message: string };

/** Sequence numbers wrap from INT32_MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

export class ProducerStateManager {
  readonly maxProducers: number;
  // Map order is recency order: the first entry is the least recently used.
  private readonly producers = new Map<number, ProducerEntry>();
  /** The entry last in `producers` (most recently used), when `update` put it there. */
  private newest: ProducerEntry | undefined;

  constructor(maxProducers = DEFAULT_MAX_PRODUCERS) {
    assert(Number.isSafeInteger(maxProducers) && maxProducers > 0, `maxProducers ${maxProducers} must be a positive integer`);
    this.maxProducers = maxProducers;
  }

  get size(): number {
    return this.producers.size;
  }

  get(producerId: number): Readonly<ProducerEntry> | undefined {
    return this.producers.get(producerId);
  }

  entries(): ProducerEntry[] {
    return [...this.producers.values()];
  }

  /** Decides what to do with an incoming batch; the broker calls this before append(). */
  check(header: ProducerBatchHeader): ProducerCheck {
    if (header.producerId < 0) return { kind: 'append' };
    const entry = this.producers.get(header.producerId);
    if (entry === undefined) return { kind: 'append' };
    const lastSeq = incrementSequence(header.baseSequence, header.lastOffsetDelta);
    if (header.producerEpoch === entry.epoch) {
      const dup = entry.batches.find((b) => b.firstSeq === header.baseSequence && b.lastSeq === lastSeq);
      if (dup !== undefined) return { kind: 'duplicate', baseOffset: dup.lastOffset - dup.offsetDelta, lastOffset: dup.lastOffset };
    }
    if (header.producerEpoch < entry.epoch) {
      return error(KAFKA_INVALID_PRODUCER_EPOCH, `producer ${header.producerId} epoch ${header.producerEpoch} is older than the current epoch ${entry.epoch}`);
    }
    if (header.producerEpoch > entry.epoch) {
      if (header.baseSequence !== 0) {
        return error(KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${header.producerId} new epoch ${header.producerEpoch} must start at sequence 0, got ${header.baseSequence}`);
      }
      return { kind: 'append' };
    }
    const last = entry.batches.at(-1);
    if (last === undefined) return { kind: 'append' };
    const expected = incrementSequence(last.lastSeq, 1);
    if (header.baseSequence !== expected) {
      return error(KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${header.producerId} epoch ${header.producerEpoch}: sequence ${header.baseSequence}, expected ${expected}`);
    }
    return { kind: 'append' };
  }

  /** Records an appended batch (pid >= 0). Control batches end a transaction and carry no sequence. */
  update(header: ProducerBatchHeader & { attributes: number; maxTimestamp: number }, baseOffset: number, lastOffset: number): void {
    if (header.producerId < 0) return;
    let entry = this.producers.get(header.producerId);
    if (entry === undefined) {
      entry = { producerId: header.producerId, epoch: header.producerEpoch, batches: [], lastTimestampMs: -1, currentTxnFirstOffset: -1 };
    } else if (entry !== this.newest) {
      this.producers.delete(header.producerId); // re-inserted below: most recently used
    }
    if (header.producerEpoch > entry.epoch) {
      entry.epoch = header.producerEpoch;
      entry.batches = [];
    }
    entry.lastTimestampMs = Math.max(entry.lastTimestampMs, header.maxTimestamp);
    if (isControl(header.attributes)) {
      entry.currentTxnFirstOffset = -1;
    } else {
      if (isTransactional(header.attributes) && entry.currentTxnFirstOffset < 0) entry.currentTxnFirstOffset = baseOffset;
      entry.batches.push({ firstSeq: header.baseSequence, lastSeq: incrementSequence(header.baseSequence, header.lastOffsetDelta), lastOffset, offsetDelta: lastOffset - baseOffset });
      if (entry.batches.length > PRODUCER_BATCHES_RETAINED) entry.batches.shift();
    }
    if (entry !== this.newest) {
      // Only when the order changes: a delete and set per batch rebuilt the map's table every few
      // batches, garbage in old space (docs/performance.md, "Old-space garbage from long-lived maps").
      this.producers.set(header.producerId, entry);
      this.newest = entry;
      this.evictBeyondLimit();
    }
  }

  private evictBeyondLimit(): void {
    while (this.producers.size > this.maxProducers) {
      const oldest = this.producers.keys().next().value as number;
      this.producers.delete(oldest);
    }
  }

  /** The first offset of the oldest open transaction, or undefined (last stable offset support). */
  firstUnstableOffset(): number | undefined {
    let first: number | undefined;
    for (const e of this.producers.values()) {
      if (e.currentTxnFirstOffset >= 0 && (first === undefined || e.currentTxnFirstOffset < first)) first = e.currentTxnFirstOffset;
    }
    return first;
  }

  clear(): void {
    this.producers.clear();
    this.newest = undefined;
  }

  // ---- snapshot -------------------------------------------------------------------------------
  // magic "HFPS" | version u16 | coveredOffset i64 | count u32 |
  //   per producer: pid i64 | epoch i16 | lastTimestamp i64 | txnFirstOffset i64 | nBatches u8 |
  //     per batch: firstSeq i32 | lastSeq i32 | lastOffset i64 | offsetDelta i32
  // | crc32c u32 over everything before it.

  /** Serializes the state as of log end offset `coveredOffset`. */
  snapshot(coveredOffset: number): Buffer {
    const entries = [...this.producers.values()];
    let bytes = SNAPSHOT_HEADER_BYTES + 4;
    for (const e of entries) bytes += PRODUCER_FIXED_BYTES + e.batches.length * BATCH_BYTES;
    const buf = Buffer.alloc(bytes);
    SNAPSHOT_MAGIC.copy(buf, 0);
    buf.writeUInt16BE(SNAPSHOT_VERSION, 4);
    writeInt64(buf, 6, coveredOffset);
    buf.writeUInt32BE(entries.length, 14);
    let at = SNAPSHOT_HEADER_BYTES;
    for (const e of entries) at = writeEntry(buf, at, e);
    buf.writeUInt32BE(crc32c(buf, 0, at), at);
    return buf;
  }

  /**
   * Replaces the state with a snapshot's. Returns the log end offset it covers, or null (state
   * untouched) when the bytes are not a valid snapshot.
   */
  loadSnapshot(buf: Buffer): number | null {
    const parsed = parseSnapshot(buf, this.maxProducers);
    if (parsed === null) return null;
    this.producers.clear();
    this.newest = undefined;
    for (const e of parsed.entries) this.producers.set(e.producerId, e);
    return parsed.coveredOffset;
  }
}

const SNAPSHOT_MAGIC = Buffer.from('HFPS', 'latin1');
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 18;
const PRODUCER_FIXED_BYTES = 8 + 2 + 8 + 8 + 1;
const BATCH_BYTES = 4 + 4 + 8 + 4;

function error(errorCode: number, message: string): ProducerCheck {
  return { kind: 'error', errorCode, message };
}

function writeEntry(buf: Buffer, at: number, e: ProducerEntry): number {
  writeInt64(buf, at, e.producerId);
  buf.writeInt16BE(e.epoch, at + 8);
  writeInt64(buf, at + 10, e.lastTimestampMs);
  writeInt64(buf, at + 18, e.currentTxnFirstOffset);
  buf.writeUInt8(e.batches.length, at + 26);
  let p = at + PRODUCER_FIXED_BYTES;
  for (const b of e.batches) {
    buf.writeInt32BE(b.firstSeq, p);
    buf.writeInt32BE(b.lastSeq, p + 4);
    writeInt64(buf, p + 8, b.lastOffset);
    buf.writeInt32BE(b.offsetDelta, p + 16);
    p += BATCH_BYTES;
  }
  return p;
}

function parseSnapshot(buf: Buffer, maxProducers: number): { coveredOffset: number; entries: ProducerEntry[] } | null {
  if (buf.length < SNAPSHOT_HEADER_BYTES + 4 || !buf.subarray(0, 4).equals(SNAPSHOT_MAGIC)) return null;
  if (buf.readUInt16BE(4) !== SNAPSHOT_VERSION) return null;
  if (buf.readUInt32BE(buf.length - 4) !== crc32c(buf, 0, buf.length - 4)) return null;
  const coveredOffset = readInt64(buf, 6);
  const count = buf.readUInt32BE(14);
  if (coveredOffset < 0 || count > maxProducers) return null;
  const entries: ProducerEntry[] = [];
  let at = SNAPSHOT_HEADER_BYTES;
  const end = buf.length - 4;
  for (let i = 0; i < count; i++) {
    if (at + PRODUCER_FIXED_BYTES > end) return null;
    const n = buf.readUInt8(at + 26);
    if (n > PRODUCER_BATCHES_RETAINED || at + PRODUCER_FIXED_BYTES + n * BATCH_BYTES > end) return null;
    const entry: ProducerEntry = {
      producerId: readInt64(buf, at),
      epoch: buf.readInt16BE(at + 8),
      lastTimestampMs: readInt64(buf, at + 10),
      currentTxnFirstOffset: readInt64(buf, at + 18),
      batches: [],
    };
    let p = at + PRODUCER_FIXED_BYTES;
    for (let j = 0; j < n; j++, p += BATCH_BYTES) {
      entry.batches.push({ firstSeq: buf.readInt32BE(p), lastSeq: buf.readInt32BE(p + 4), lastOffset: readInt64(buf, p + 8), offsetDelta: buf.readInt32BE(p + 16) });
    }
    entries.push(entry);
    at = p;
  }
  return at === end ? { coveredOffset, entries } : null;
}
