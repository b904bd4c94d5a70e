// Reads a whole partition back over the wire (Fetch v11) and decodes every record.
import { decodeBatches, type KafkaRecord } from '../../src/record/index.ts';
import type { TestKafkaClient } from './kafka-client.ts';

export interface FetchedRecord extends KafkaRecord {
  partition: number;
}

export async function fetchAll(client: TestKafkaClient, topic: string, partition: number, fromOffset = 0, maxBytes = 4 * 1024 * 1024): Promise<{ records: FetchedRecord[]; highWatermark: number }> {
  const records: FetchedRecord[] = [];
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
    let progressed = false;
    for (const batch of decodeBatches(raw)) {
      for (const r of batch.records) {
        if (r.offset < offset) continue;
        records.push({ ...r, partition });
        offset = r.offset + 1;
        progressed = true;
      }
      offset = Math.max(offset, batch.header.baseOffset + batch.header.lastOffsetDelta + 1);
    }
    if (!progressed && offset >= highWatermark) break;
    if (offset >= highWatermark) break;
  }
  return { records, highWatermark };
}
