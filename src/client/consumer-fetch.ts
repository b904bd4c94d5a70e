// Turning one partition of a Fetch response into the messages a consumer hands out: whole batches
// from the one containing the fetch offset (KAFKA-PROTOCOL.md §2.6), so records below the offset
// are dropped; control batches are skipped; with read_committed, batches of aborted transactions
// (the response's AbortedTransactions) are skipped as Kafka's consumer does.
import { ControlRecordType, decodeBatches, decodeControlRecord, isControl, isTransactional, type RecordHeader } from '../record/index.ts';

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

export interface BufferedMessage {
  message: ConsumerMessage;
  /** What the message counts against the prefetch bound. */
  sizeBytes: number;
}

export interface FetchedPartition {
  messages: BufferedMessage[];
  /** The offset after the last complete batch, or null when the data held no complete batch. */
  nextOffset: number | null;
  bytes: number;
}

/** Fixed cost charged per buffered message on top of its key, value and headers. */
export const MESSAGE_OVERHEAD_BYTES = 64;

function sizeOf(key: Buffer | null, value: Buffer | null, headers: RecordHeader[]): number {
  let bytes = MESSAGE_OVERHEAD_BYTES + (key?.length ?? 0) + (value?.length ?? 0);
  for (const h of headers) bytes += h.key.length + (h.value?.length ?? 0);
  return bytes;
}

/**
 * Decodes `records` (a Fetch response's record data for one partition). Throws RecordError when a
 * complete batch is corrupt; a trailing partial batch is left for the next fetch.
 */
export function messagesFromFetch(
  topic: string,
  partition: number,
  records: Buffer | null,
  fetchOffset: number,
  abortedTransactions: ReadonlyArray<{ producerId: number; firstOffset: number }> | null | undefined,
  maxDecompressedBytes: number,
): FetchedPartition {
  const out: FetchedPartition = { messages: [], nextOffset: null, bytes: 0 };
  if (records === null || records.length === 0) return out;
  const aborted = [...(abortedTransactions ?? [])].sort((a, b) => a.firstOffset - b.firstOffset);
  let nextAborted = 0;
  const abortedProducers = new Set<number>();
  for (const batch of decodeBatches(records, { maxDecompressedBytes })) {
    const h = batch.header;
    const lastOffset = h.baseOffset + h.lastOffsetDelta;
    out.nextOffset = lastOffset + 1;
    while (nextAborted < aborted.length && aborted[nextAborted].firstOffset <= lastOffset) abortedProducers.add(aborted[nextAborted++].producerId);
    if (isControl(h.attributes)) {
      // The ABORT marker closes that producer's aborted transaction: its later batches are live.
      const marker = batch.records.length > 0 ? decodeControlRecord(batch.records[0]) : null;
      if (marker !== null && marker.typeId === ControlRecordType.abort) abortedProducers.delete(h.producerId);
      continue;
    }
    if (isTransactional(h.attributes) && abortedProducers.has(h.producerId)) continue;
    for (const r of batch.records) {
      if (r.offset < fetchOffset) continue;
      const sizeBytes = sizeOf(r.key, r.value, r.headers);
      out.messages.push({ message: { topic, partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers }, sizeBytes });
      out.bytes += sizeBytes;
    }
  }
  return out;
}
