// Reads a whole partition back over the wire (Fetch v11): every batch, headers included
// (fetchBatches), or every record (fetchAll).
import { decodeBatches, type DecodedBatch, type KafkaRecord } from '../../src/record/index.ts';
import type { TestKafkaClient } from './kafka-client.ts';

export interface FetchedRecord extends KafkaRecord {
  partition: number;
}

/** The batches holding offsets `fromOffset` up to the high watermark, in order (the first may start before `fromOffset`). */
export async function fetchBatches(client: TestKafkaClient, topic: string, partition: number, fromOffset = 0, maxBytes = 4 * 1024 * 1024): Promise<{ batches: DecodedBatch[]; highWatermark: number }> {
  const batches: DecodedBatch[] = [];
  let offset = fromOffset;
  let highWatermark = -1;
  for (;;) {
    const res = await client.request(1, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: maxBytes }] }],
      forgottenTopicsData: [],
      rackId: '',
    });
    const p = res.responses[0].partitions[0];
    if (p.errorCode !== 0) throw new Error(`fetch ${topic}-${partition}@${offset} failed with error ${p.errorCode}`);
    highWatermark = p.highWatermark;
    const raw: Buffer | null = p.records;
    if (raw === null || raw.length === 0) break;
    const before = offset;
    for (const batch of decodeBatches(raw)) {
      const end = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
      if (end <= offset) continue;
      batches.push(batch);
      offset = end;
    }
    if (offset === before || offset >= highWatermark) break;
  }
  return { batches, highWatermark };
}

export async function fetchAll(client: TestKafkaClient, topic: string, partition: number, fromOffset = 0, maxBytes = 4 * 1024 * 1024): Promise<{ records: FetchedRecord[]; highWatermark: number }> {
  const { batches, highWatermark } = await fetchBatches(client, topic, partition, fromOffset, maxBytes);
  const records: FetchedRecord[] = [];
  for (const batch of batches) for (const r of batch.records) if (r.offset >= fromOffset) records.push({ ...r, partition });
  return { records, highWatermark };
}
