// kafkajs 2.2.4 against Holdfast: an idempotent acks=-1 producer sends 100,000 messages with keys
// and headers, rotating through gzip, snappy, lz4 and zstd, to a 3-partition topic. Reading the
// partitions back must give every message exactly once, in send order per partition, byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { compress, decompress, Compression } from '../../src/record/index.ts';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

const require = createRequire(import.meta.url);
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

// kafkajs ships only gzip; plug in the other three codecs.
function plugin(codec: number) {
  return () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(codec as never, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(codec as never, buffer, 256 * 1024 * 1024),
  });
}
CompressionCodecs[CompressionTypes.Snappy] = plugin(Compression.snappy);
CompressionCodecs[CompressionTypes.LZ4] = plugin(Compression.lz4);
CompressionCodecs[CompressionTypes.ZSTD] = plugin(Compression.zstd);

const TOTAL = Number(process.env.HOLDFAST_KAFKAJS_MESSAGES ?? 100_000);
const PER_SEND = 500;
const CODECS = [CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD, CompressionTypes.None];

function message(i: number): { key: string; value: Buffer; headers: Record<string, string> } {
  // Varying sizes and bytes, so byte identity means something.
  const value = Buffer.alloc(20 + (i % 200), i % 251);
  value.writeUInt32BE(i, 0);
  return { key: `key-${i % 97}`, value, headers: { seq: String(i), kind: i % 2 ? 'odd' : 'even' } };
}

test(`kafkajs idempotent producer: ${TOTAL} messages, four codecs, read back exactly once and in order`, { timeout: 600_000 }, async (t) => {
  const b = await embeddedBroker();
  t.after(async () => {
    await b.close();
    removeDir(b.dataDir);
  });
  const kafka = new Kafka({ clientId: 'kafkajs-it', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const admin = kafka.admin();
  await admin.connect();
  assert.equal(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }), true);
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const acked = new Map<number, { partition: number; offset: number }>();
  for (let start = 0, n = 0; start < TOTAL; start += PER_SEND, n++) {
    const messages = [];
    for (let i = start; i < Math.min(start + PER_SEND, TOTAL); i++) messages.push(message(i));
    const result = await producer.send({ topic: 'orders', acks: -1, compression: CODECS[n % CODECS.length], messages });
    for (const r of result) assert.equal(r.errorCode, 0);
  }
  await producer.disconnect();

  const client = await TestKafkaClient.connect(b.bootstrap);
  const seen = new Set<number>();
  let total = 0;
  for (let partition = 0; partition < 3; partition++) {
    const { records } = await fetchAll(client, 'orders', partition);
    let last = -1;
    let lastOffset = -1;
    for (const r of records) {
      const i = r.value!.readUInt32BE(0);
      const expected = message(i);
      assert.ok(!seen.has(i), `message ${i} appears twice`);
      seen.add(i);
      assert.ok(i > last, `partition ${partition}: message ${i} after ${last} breaks send order`);
      assert.equal(r.offset, lastOffset + 1, `partition ${partition}: offsets must be contiguous`);
      last = i;
      lastOffset = r.offset;
      assert.deepEqual(r.value, expected.value, `message ${i} value differs`);
      assert.equal(r.key?.toString(), expected.key);
      assert.deepEqual(
        r.headers.map((h) => [h.key, h.value?.toString()]),
        Object.entries(expected.headers),
      );
      acked.set(i, { partition, offset: r.offset });
    }
    total += records.length;
  }
  client.close();
  assert.equal(total, TOTAL, 'every message read back exactly once');
  assert.equal(seen.size, TOTAL);
});
