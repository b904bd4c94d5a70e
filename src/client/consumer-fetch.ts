// Turning one partition of a Fetch response into the messages a consumer hands out: whole batches
// from the one containing the fetch offset (KAFKA-PROTOCOL.md §2.6), so records below the offset
// are dropped; control batches are skipped; with read_committed, batches of aborted transactions
// (the response's AbortedTransactions) are skipped as Kafka's consumer does.
//
// The consumer decodes lazily, as Kafka's Java consumer does with its completed fetches: a fetch is
// scanned batch by batch (framing and CRC checked, offsets and transactions worked out) and its
// batches are kept as bytes; a batch's records become message objects only when the handler is
// about to reach them. A consumer that is behind then holds megabytes of batches as bytes, not
// hundreds of thousands of objects that every young-generation collection would copy and promote
// (what that saved, measured with `holdfast bench`, is in docs/performance.md).
import { assert, type ReceiveSlabs } from '../util/index.ts';
import {
  ControlRecordType,
  completeBatches,
  decodeBatch,
  decodeBatchWith,
  decodeControlRecord,
  isControl,
  isTransactional,
  readInt64,
  type RecordHeader,
} from '../record/index.ts';

/** One message as the handler sees it. `key`, `value` and header values may share one buffer. */
export interface ConsumerMessage {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch (create time, or log-append time on such topics). */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** A batch to deliver: its bytes (framing and CRC already checked) and how many messages it yields. */
export interface FetchedBatch {
  /** The whole batch, header included. */
  bytes: Buffer;
  /** Its records at or past the fetch offset. */
  count: number;
  /** Records below this offset are dropped (only the batch holding the fetch offset has any). */
  fromOffset: number;
}

export interface FetchedPartition {
  /** The batches to deliver, in offset order (control and aborted batches left out). */
  batches: FetchedBatch[];
  /** Messages they hold. */
  count: number;
  /** The offset after the last complete batch, or null when the data held no complete batch. */
  nextOffset: number | null;
  /** Bytes of the batches to deliver (what they count against the prefetch bound). */
  bytes: number;
}

/**
 * Scans `records` (a Fetch response's record data for one partition) without decoding records,
 * except for control batches and the batch holding `fetchOffset` when it starts below it (to count
 * the records it yields). Throws RecordError when a complete batch is corrupt (framing, CRC, or the
 * records of a batch it decodes); a trailing partial batch is left for the next fetch.
 */
export function scanFetch(
  records: Buffer | null,
  fetchOffset: number,
  abortedTransactions: ReadonlyArray<{ producerId: number; firstOffset: number }> | null | undefined,
  maxDecompressedBytes: number,
): FetchedPartition {
  const out: FetchedPartition = { batches: [], count: 0, nextOffset: null, bytes: 0 };
  if (records === null || records.length === 0) return out;
  const aborted = abortedTransactions === null || abortedTransactions === undefined || abortedTransactions.length === 0 ? null : [...abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset);
  let nextAborted = 0;
  const abortedProducers = new Set<number>();
  for (const { header, pos, size } of completeBatches(records, true)) {
    const bytes = records.subarray(pos, pos + size);
    const lastOffset = header.baseOffset + header.lastOffsetDelta;
    out.nextOffset = lastOffset + 1;
    if (aborted !== null) {
      while (nextAborted < aborted.length && aborted[nextAborted].firstOffset <= lastOffset) abortedProducers.add(aborted[nextAborted++].producerId);
    }
    if (isControl(header.attributes)) {
      // The ABORT marker closes that producer's aborted transaction: its later batches are live.
      const control = decodeBatch(bytes, 0, { maxDecompressedBytes, verifyCrc: false });
      const marker = control.records.length > 0 ? decodeControlRecord(control.records[0]) : null;
      if (marker !== null && marker.typeId === ControlRecordType.abort) abortedProducers.delete(header.producerId);
      continue;
    }
    if (isTransactional(header.attributes) && abortedProducers.has(header.producerId)) continue;
    let count = header.recordsCount;
    if (header.baseOffset < fetchOffset) {
      // Offsets inside a batch may have gaps (compaction): count what is at or past the fetch offset.
      count = 0;
      decodeBatchWith(bytes, 0, { maxDecompressedBytes, verifyCrc: false }, (offset) => {
        if (offset >= fetchOffset) count++;
      });
    }
    if (count === 0) continue;
    out.batches.push({ bytes, count, fromOffset: fetchOffset });
    out.count += count;
    out.bytes += size;
  }
  return out;
}

/**
 * Decodes one scanned batch into the messages it yields (checked: scanFetch verified its CRC). With
 * `copyBytes` their keys and values are copies, not views of the batch's memory.
 */
export function decodeFetchedBatch(topic: string, partition: number, batch: FetchedBatch, maxDecompressedBytes: number, copyBytes = false): ConsumerMessage[] {
  const { records } = decodeBatchWith(batch.bytes, 0, { maxDecompressedBytes, verifyCrc: false, copyBytes }, (offset, timestamp, key, value, headers): ConsumerMessage => ({ topic, partition, offset, timestamp, key, value, headers }));
  if (records.length === batch.count) return records;
  return records.filter((m) => m.offset >= batch.fromOffset);
}

/**
 * Decodes `records` whole (for readers that hand out everything at once). Throws RecordError when
 * a complete batch is corrupt; a trailing partial batch is left for the next fetch.
 */
export function messagesFromFetch(
  topic: string,
  partition: number,
  records: Buffer | null,
  fetchOffset: number,
  abortedTransactions: ReadonlyArray<{ producerId: number; firstOffset: number }> | null | undefined,
  maxDecompressedBytes: number,
): { messages: ConsumerMessage[]; nextOffset: number | null; bytes: number } {
  const scanned = scanFetch(records, fetchOffset, abortedTransactions, maxDecompressedBytes);
  const messages: ConsumerMessage[] = [];
  for (const b of scanned.batches) for (const m of decodeFetchedBatch(topic, partition, b, maxDecompressedBytes)) messages.push(m);
  return { messages, nextOffset: scanned.nextOffset, bytes: scanned.bytes };
}

/** Shared and frozen: nothing may ever be added to it. */
const NO_MESSAGES = Object.freeze([]) as unknown as ConsumerMessage[];

/**
 * A partition's prefetched messages, in offset order: scanned batches, each decoded when the first
 * of its messages is peeked or taken. A batch's bytes are given back a share per message taken
 * (the last takes the rest), so the prefetch bound frees room as the handler works through a large
 * batch and the next fetch overlaps with it, as it did when messages were decoded on arrival.
 *
 * With a pool, batches may be views of response frames read into the pool's memory (see
 * KafkaConnection.requestPooled): such a batch holds a reference to its frame from `add` until it
 * is decoded or cleared, and is decoded into copies, so the frame's memory can be reused for the
 * next response as soon as its batches are decoded, whatever the handler keeps.
 */
export class FetchedMessages {
  private readonly topic: string;
  private readonly partition: number;
  private readonly maxDecompressedBytes: number;
  private readonly pool: ReceiveSlabs | null;
  private batches: Array<FetchedBatch | undefined> = [];
  private batchHead = 0;
  /** Messages of the batches decoded so far; those before readyHead were taken. */
  private ready: ConsumerMessage[] = NO_MESSAGES;
  private readyHead = 0;
  /** Per decoded batch, in `ready` order: its messages not yet taken and bytes not yet given back. */
  private decoded: Array<{ messages: number; bytes: number }> = [];
  private decodedHead = 0;
  /** Messages not yet taken. */
  count = 0;
  /** Bytes of the batches with messages not yet taken. */
  bytes = 0;

  constructor(topic: string, partition: number, maxDecompressedBytes: number, pool: ReceiveSlabs | null = null) {
    this.topic = topic;
    this.partition = partition;
    this.maxDecompressedBytes = maxDecompressedBytes;
    this.pool = pool;
  }

  /** Takes the batches of a scanned fetch (with a pool, a reference to each batch's frame). */
  add(fetched: FetchedPartition): void {
    for (const b of fetched.batches) {
      this.pool?.retain(b.bytes);
      this.batches.push(b);
    }
    this.count += fetched.count;
    this.bytes += fetched.bytes;
  }

  /** The message `index` places ahead (0 is the next one); index < count. Throws RecordError on bad records. */
  peek(index: number): ConsumerMessage {
    while (this.readyHead + index >= this.ready.length) this.decodeNext();
    return this.ready[this.readyHead + index];
  }

  /** Takes the next message (count > 0). Throws RecordError on bad records. */
  shift(): ConsumerMessage {
    if (this.readyHead >= this.ready.length) this.decodeNext();
    const m = this.ready[this.readyHead++];
    this.count--;
    const batch = this.decoded[this.decodedHead];
    const share = batch.messages === 1 ? batch.bytes : Math.floor(batch.bytes / batch.messages);
    batch.bytes -= share;
    this.bytes -= share;
    if (--batch.messages === 0) this.decodedHead++;
    if (this.readyHead === this.ready.length) {
      // Everything decoded was taken: drop the objects so they die young.
      this.ready = NO_MESSAGES;
      this.readyHead = 0;
      this.decoded = [];
      this.decodedHead = 0;
    }
    return m;
  }

  /** The base offset of the batch decoded next, or -1 when none is waiting (for error messages). */
  nextBatchOffset(): number {
    const batch = this.batches[this.batchHead];
    return batch === undefined ? -1 : readInt64(batch.bytes, 0);
  }

  /** Drops everything; returns the bytes released. */
  clear(): number {
    const bytes = this.bytes;
    if (this.pool !== null) for (let i = this.batchHead; i < this.batches.length; i++) this.pool.release(this.batches[i]!.bytes);
    this.batches = [];
    this.batchHead = 0;
    this.ready = NO_MESSAGES;
    this.readyHead = 0;
    this.decoded = [];
    this.decodedHead = 0;
    this.count = 0;
    this.bytes = 0;
    return bytes;
  }

  private decodeNext(): void {
    const batch = this.batches[this.batchHead];
    assert(batch !== undefined, `no message left to decode in ${this.topic}-${this.partition}`);
    // Copies only out of pooled memory: a small response read whole with its size prefix is not.
    const messages = decodeFetchedBatch(this.topic, this.partition, batch, this.maxDecompressedBytes, this.pool?.holds(batch.bytes) ?? false);
    assert(messages.length === batch.count, `a batch of ${this.topic}-${this.partition} yielded ${messages.length} messages, ${batch.count} expected`);
    // Decoding succeeded: only now is the batch consumed, so a RecordError leaves it in place.
    this.pool?.release(batch.bytes);
    this.batches[this.batchHead] = undefined;
    this.batchHead++;
    if (this.batchHead > 1024 && this.batchHead * 2 > this.batches.length) {
      this.batches.splice(0, this.batchHead);
      this.batchHead = 0;
    }
    if (this.readyHead === this.ready.length) {
      this.ready = messages;
      this.readyHead = 0;
      this.decoded = [{ messages: messages.length, bytes: batch.bytes.length }];
      this.decodedHead = 0;
    } else {
      // peek() looking past the decoded messages (at-most-once plans a whole turn).
      for (const m of messages) this.ready.push(m);
      this.decoded.push({ messages: messages.length, bytes: batch.bytes.length });
    }
  }
}
