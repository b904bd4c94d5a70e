// Cross-checks the codec against kafkajs 2.2.4's own RecordBatch encoder and decoder (none and gzip:
// kafkajs needs plugins for the other codecs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/index.ts';
import { Compression, buildBatch, decodeBatch, validateProducedBatch, type RecordInput } from '../../src/record/index.ts';
import { asBuffer, randomRecords, requireCjs } from './helpers.ts';

interface KafkaJsLong {
  toString(): string;
}
interface KafkaJsEncoder {
  buffer: Buffer;
}
interface KafkaJsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: { [key: string]: Buffer | null | Array<Buffer | null> };
}
interface KafkaJsBatch {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  lastOffsetDelta: number;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  records: KafkaJsRecord[];
}

const Long = requireCjs('kafkajs/src/utils/long') as { fromValue(v: number | string): KafkaJsLong };
const { RecordBatch } = requireCjs('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (args: object) => Promise<KafkaJsEncoder> };
const KafkaJsRecordEncoder = requireCjs('kafkajs/src/protocol/recordBatch/record/v0') as (args: object) => KafkaJsEncoder;
const decodeKafkaJsBatch = requireCjs('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<KafkaJsBatch>;
const KafkaJsDecoder = requireCjs('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;

/** kafkajs headers are an object: no duplicate keys and no null values on its encode side. */
function kafkaJsFriendly(records: RecordInput[]): RecordInput[] {
  return records.map((r) => {
    const headers: { [key: string]: Buffer } = {};
    for (const h of Array.isArray(r.headers) ? r.headers : []) if (h.value !== null) headers[h.key] = asBuffer(h.value) as Buffer;
    return { ...r, headers };
  });
}

async function encodeWithKafkaJs(records: RecordInput[], compression: number, extra: { producerId: number; producerEpoch: number; firstSequence: number }): Promise<Buffer> {
  const timestamps = records.map((r) => r.timestamp as number);
  const firstTimestamp = Math.min(...timestamps);
  const encoded = records.map((r, i) =>
    KafkaJsRecordEncoder({ offsetDelta: i, timestampDelta: (r.timestamp as number) - firstTimestamp, key: asBuffer(r.key), value: asBuffer(r.value), headers: r.headers }),
  );
  const batch = await RecordBatch({
    compression,
    firstOffset: Long.fromValue(0),
    firstTimestamp,
    maxTimestamp: Math.max(...timestamps),
    partitionLeaderEpoch: 0,
    lastOffsetDelta: records.length - 1,
    producerId: Long.fromValue(extra.producerId),
    producerEpoch: extra.producerEpoch,
    firstSequence: extra.firstSequence,
    records: encoded,
  });
  return batch.buffer;
}

test('batches encoded by kafkajs decode here, with a valid CRC, and pass produce validation', async () => {
  const rng = new Rng(8080);
  for (let round = 0; round < 40; round++) {
    const records = kafkaJsFriendly(randomRecords(rng, rng.int(1, 25)));
    const compression = round % 2 === 0 ? Compression.none : Compression.gzip;
    const extra = { producerId: rng.pick([-1, 4000]), producerEpoch: rng.int(0, 5), firstSequence: rng.int(0, 1000) };
    const buf = await encodeWithKafkaJs(records, compression, extra);
    const decoded = decodeBatch(buf); // verifies the CRC
    assert.equal(decoded.header.attributes & 0x07, compression);
    assert.equal(decoded.header.recordsCount, records.length);
    assert.deepEqual([decoded.header.producerId, decoded.header.producerEpoch, decoded.header.baseSequence], [extra.producerId, extra.producerEpoch, extra.firstSequence]);
    decoded.records.forEach((record, i) => {
      assert.equal(record.offset, i);
      assert.equal(record.timestamp, records[i].timestamp);
      assert.deepEqual(record.key, asBuffer(records[i].key));
      assert.deepEqual(record.value, asBuffer(records[i].value));
      const expected = Object.entries(records[i].headers ?? {}).map(([key, value]) => ({ key, value: asBuffer(value as Buffer) }));
      assert.deepEqual(record.headers, expected);
    });
    validateProducedBatch(buf, 0, buf.length, { maxBatchBytes: 1 << 20, maxDecompressedBytes: 1 << 24, validateRecords: true });
  }
});

test('batches built here decode with kafkajs and match field by field', async () => {
  const rng = new Rng(9090);
  for (let round = 0; round < 40; round++) {
    const records = randomRecords(rng, rng.int(1, 25)).map((r) => ({ ...r, headers: kafkaJsFriendly([r])[0].headers }));
    const compression = round % 2 === 0 ? 'none' : 'gzip';
    const baseOffset = rng.pick([0, 77, 2 ** 40]);
    const input = { records, compression, baseOffset, producerId: 31, producerEpoch: 2, baseSequence: 100, partitionLeaderEpoch: 4, transactional: rng.chance(0.5) } as const;
    const buf = buildBatch(input);
    const batch = await decodeKafkaJsBatch(new KafkaJsDecoder(buf));
    assert.equal(batch.firstOffset, String(baseOffset));
    assert.equal(batch.producerId, '31');
    assert.deepEqual([batch.producerEpoch, batch.firstSequence, batch.partitionLeaderEpoch, batch.lastOffsetDelta], [2, 100, 4, records.length - 1]);
    assert.equal(batch.inTransaction, input.transactional);
    assert.equal(batch.isControlBatch, false);
    const timestamps = records.map((r) => r.timestamp as number);
    assert.equal(batch.firstTimestamp, String(Math.min(...timestamps)));
    assert.equal(batch.maxTimestamp, String(Math.max(...timestamps)));
    assert.equal(batch.records.length, records.length);
    batch.records.forEach((record, i) => {
      assert.equal(record.offset, String(baseOffset + i));
      assert.equal(record.timestamp, String(records[i].timestamp));
      assert.deepEqual(record.key, asBuffer(records[i].key));
      assert.deepEqual(record.value, asBuffer(records[i].value));
      assert.deepEqual(record.headers, records[i].headers);
    });
  }
});

test('null header values and repeated header keys survive a trip through kafkajs decoding', async () => {
  const buf = buildBatch({ records: [{ key: null, value: null, headers: [{ key: 'a', value: null }, { key: 'a', value: 'x' }, { key: 'b', value: '' }] }], nowMs: 1 });
  const [record] = (await decodeKafkaJsBatch(new KafkaJsDecoder(buf))).records;
  assert.equal(record.key, null);
  assert.equal(record.value, null);
  assert.deepEqual(record.headers, { a: [null, Buffer.from('x')], b: Buffer.alloc(0) });
});
