// DeleteRecords (API 21): the log start offset moves up to the offset given (-1: the high
// watermark), reads below it are out of range, the new start is on disk before the answer, and
// kafkajs, @platformatic/kafka and the Holdfast Admin use it. DescribeLogDirs (API 35) shows the
// partitions' sizes, which whole deleted segments leave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Admin as PlatformaticAdmin } from '@platformatic/kafka';
import { API_KEYS, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { Admin } from '../../src/client/index.ts';
import { withBroker } from '../helpers/broker.ts';
import type { TestKafkaClient } from '../helpers/kafka-client.ts';

async function produceRecords(c: TestKafkaClient, topic: string, partition: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    assert.equal((await c.produce(topic, partition, `r${i}`)).errorCode, ErrorCode.NONE);
  }
}

interface PartitionAnswer {
  partitionIndex: number;
  lowWatermark: number;
  errorCode: number;
}

async function deleteRecords(c: TestKafkaClient, topics: Array<{ name: string; partitions: Array<[number, number]> }>): Promise<Array<{ name: string; partitions: PartitionAnswer[] }>> {
  const res = await c.request(API_KEYS.DeleteRecords, 1, { topics: topics.map((t) => ({ name: t.name, partitions: t.partitions.map(([partitionIndex, offset]) => ({ partitionIndex, offset })) })), timeoutMs: 5000 });
  return res.topics;
}

async function earliest(c: TestKafkaClient, topic: string, partition: number): Promise<number> {
  const res = await c.request(API_KEYS.ListOffsets, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp: -2 }] }] });
  return Number(res.topics[0].partitions[0].offset);
}

async function fetchError(c: TestKafkaClient, topic: string, offset: number): Promise<number> {
  const res = await c.request(API_KEYS.Fetch, 11, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: '' });
  return res.responses[0].partitions[0].errorCode;
}

test('DeleteRecords moves the log start offset; reads below it are out of range; the new start is on disk before the answer; bad offsets, unknown partitions and the internal topic are refused', async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('trim', 2, {});
    await produceRecords(c, 'trim', 0, 10);
    await produceRecords(c, 'trim', 1, 3);
    const answer = await deleteRecords(c, [
      { name: 'trim', partitions: [[0, 4], [1, -1], [2, 0]] },
      { name: 'nope', partitions: [[0, 0]] },
      { name: '__consumer_offsets', partitions: [[0, 0]] },
    ]);
    assert.deepEqual(answer, [
      { name: 'trim', partitions: [{ partitionIndex: 0, lowWatermark: 4, errorCode: ErrorCode.NONE }, { partitionIndex: 1, lowWatermark: 3, errorCode: ErrorCode.NONE }, { partitionIndex: 2, lowWatermark: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      { name: 'nope', partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      { name: '__consumer_offsets', partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION }] },
    ]);
    // The start offsets were checkpointed before the answer: a crash now keeps them.
    const checkpoint = readFileSync(join(b.dataDir, 'log-start-offset-checkpoint'), 'utf8');
    assert.match(checkpoint, /^trim 0 4$/m);
    assert.match(checkpoint, /^trim 1 3$/m);

    assert.equal(await earliest(c, 'trim', 0), 4);
    assert.equal(await fetchError(c, 'trim', 3), ErrorCode.OFFSET_OUT_OF_RANGE);
    assert.equal(await fetchError(c, 'trim', 4), ErrorCode.NONE);

    const bad = await deleteRecords(c, [{ name: 'trim', partitions: [[0, 11], [1, -2]] }]);
    assert.deepEqual(bad[0].partitions.map((p) => [p.errorCode, p.lowWatermark]), [
      [ErrorCode.OFFSET_OUT_OF_RANGE, -1],
      [ErrorCode.OFFSET_OUT_OF_RANGE, -1],
    ]);
    const lower = await deleteRecords(c, [{ name: 'trim', partitions: [[0, 2]] }]);
    assert.deepEqual(lower[0].partitions[0], { partitionIndex: 0, lowWatermark: 4, errorCode: ErrorCode.NONE }, 'below the start: nothing to do, the start is answered');
    assert.equal(await earliest(c, 'trim', 0), 4);
  });
});

test('DeleteRecords through kafkajs, @platformatic/kafka and the Holdfast Admin', { timeout: 60_000 }, async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('clients', 1, {});
    await produceRecords(c, 'clients', 0, 10);
    const kadmin = new Kafka({ clientId: 'delete-records-test', brokers: [b.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await kadmin.connect();
    const plt = new PlatformaticAdmin({ clientId: 'delete-records-test', bootstrapBrokers: [b.bootstrap], retries: 0 });
    const admin = new Admin({ brokers: [b.bootstrap] });
    try {
      // kafkajs looks up partition leaders in the metadata it holds, without fetching it first.
      await kadmin.fetchTopicMetadata({ topics: ['clients'] });
      await kadmin.deleteTopicRecords({ topic: 'clients', partitions: [{ partition: 0, offset: '2' }] });
      assert.equal(await earliest(c, 'clients', 0), 2, 'kafkajs');
      const plts = await plt.deleteRecords({ topics: [{ name: 'clients', partitions: [{ partition: 0, offset: 5n }] }] });
      assert.equal(plts[0].partitions[0].lowWatermark, 5n, '@platformatic/kafka');
      assert.deepEqual(await admin.deleteRecords('clients', { 0: 7 }), new Map([[0, 7]]), 'Holdfast Admin');
      await assert.rejects(admin.deleteRecords('clients', { 0: 99 }), /OFFSET_OUT_OF_RANGE.*delete records of clients-0 before 99|delete records of clients-0 before 99.*OFFSET_OUT_OF_RANGE/);
      assert.deepEqual(await admin.deleteRecords('clients', { 0: -1 }), new Map([[0, 10]]), 'up to the high watermark');
    } finally {
      await kadmin.disconnect();
      await plt.close();
      admin.close();
    }
  });
});

test('DescribeLogDirs: the data directory with each partition\'s size, for all topics or those asked for; sizes fall when DeleteRecords removes whole segments', { timeout: 30_000 }, async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('sizes', 2, { 'segment.bytes': '4096' });
    await produceRecords(c, 'sizes', 0, 200);
    await produceRecords(c, 'sizes', 1, 1);
    type Dirs = { results: Array<{ errorCode: number; logDir: string; topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; partitionSize: number; offsetLag: number; isFutureKey: boolean }> }> }> };
    const all: Dirs = await c.request(API_KEYS.DescribeLogDirs, 1, { topics: null });
    assert.equal(all.results.length, 1);
    assert.equal(all.results[0].errorCode, ErrorCode.NONE);
    assert.equal(all.results[0].logDir, resolve(b.dataDir));
    const sizes = all.results[0].topics.find((t) => t.name === 'sizes');
    assert.deepEqual(sizes?.partitions.map((p) => [p.partitionIndex, p.partitionSize, p.offsetLag, p.isFutureKey]), [
      [0, b.broker.partitionLog('sizes', 0)?.sizeBytes, 0, false],
      [1, b.broker.partitionLog('sizes', 1)?.sizeBytes, 0, false],
    ]);
    const before = sizes?.partitions[0].partitionSize ?? 0;
    assert.ok(before > 4096, `partition 0 spans several segments (${before} bytes)`);
    assert.ok(all.results[0].topics.some((t) => t.name === '__consumer_offsets'), 'internal topics are listed, as Kafka lists them');

    const some: Dirs = await c.request(API_KEYS.DescribeLogDirs, 0, { topics: [{ topic: 'sizes', partitions: [1, 7] }, { topic: 'nope', partitions: [0] }] });
    assert.deepEqual(some.results[0].topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)]), [['sizes', [1]]], 'only what exists of what was asked');

    await deleteRecords(c, [{ name: 'sizes', partitions: [[0, 150]] }]);
    const after: Dirs = await c.request(API_KEYS.DescribeLogDirs, 1, { topics: [{ topic: 'sizes', partitions: [0] }] });
    const now = after.results[0].topics[0].partitions[0].partitionSize;
    assert.ok(now < before, `whole segments below offset 150 removed: ${before} to ${now} bytes`);

    const plt = new PlatformaticAdmin({ clientId: 'log-dirs-test', bootstrapBrokers: [b.bootstrap], retries: 0 });
    try {
      const [described] = await plt.describeLogDirs({ topics: [{ name: 'sizes', partitions: [0, 1] }] });
      assert.equal(described.results[0].logDir, resolve(b.dataDir), '@platformatic/kafka');
      assert.deepEqual(described.results[0].topics[0].partitions.map((p) => [p.partitionIndex, Number(p.partitionSize)]), [[0, now], [1, b.broker.partitionLog('sizes', 1)?.sizeBytes]]);
    } finally {
      await plt.close();
    }
  });
});
