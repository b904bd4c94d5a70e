// Fetch min_bytes, held as Kafka's DelayedFetch holds it: a long poll answers once the bytes past
// the fetch offsets, each partition counted up to its partition_max_bytes, reach min_bytes, or at
// max_wait with what there is; a partition that already returned data does not end the wait.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { buildBatch } from '../../src/record/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

let b: EmbeddedBroker;
let c: TestKafkaClient;

before(async () => {
  // The cap on max_wait far above the tests' timeouts: only min_bytes can end the long polls in time.
  b = await embeddedBroker({ 'fetch.max.wait.ms.max': 300_000 });
  c = await TestKafkaClient.connect(b.bootstrap);
});
after(async () => {
  c.close();
  await b.close();
  removeDir(b.dataDir);
});

async function createTopic(name: string, partitions: number): Promise<void> {
  const res = await c.request(19, 3, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  assert.equal(res.topics[0].errorCode, 0);
}

/** Produces one batch of one record of `size` bytes; the batch's size on disk. */
async function produce(topic: string, partition: number, size: number): Promise<number> {
  const records = buildBatch({ records: [{ value: Buffer.alloc(size, partition + 1) }] });
  const res = await c.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
  assert.equal(res.responses[0].partitionResponses[0].errorCode, 0);
  return records.length;
}

type Part = { partition: number; partitionMaxBytes?: number };
type Answer = { partitionIndex: number; errorCode: number; records: Buffer | null };

/** A Fetch v11 from offset 0 of each partition, on its own connection; `settled` turns true when it is answered. */
async function longPoll(topic: string, parts: Part[], minBytes: number, maxWaitMs: number, maxBytes = 50 << 20) {
  const poller = await TestKafkaClient.connect(b.bootstrap);
  const state = { settled: false };
  const body = {
    replicaId: -1, maxWaitMs, minBytes, maxBytes, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], rackId: '',
    topics: [{ topic, partitions: parts.map((p) => ({ partition: p.partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: p.partitionMaxBytes ?? 1 << 20 })) }],
  };
  const answer = poller.request(1, 11, body).then((res: { responses: Array<{ partitions: Answer[] }> }) => {
    state.settled = true;
    return res.responses[0].partitions;
  });
  answer.catch(() => {}).finally(() => poller.close());
  return { state, answer };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bytesOf = (parts: Answer[]) => parts.reduce((n, p) => n + (p.records?.length ?? 0), 0);

test('a long poll with data short of min_bytes waits until min_bytes have gathered across its partitions, then answers with all of them', { timeout: 60_000 }, async () => {
  await createTopic('gather', 2);
  let stored = await produce('gather', 0, 1000);
  const minBytes = 8000;
  const poll = await longPoll('gather', [{ partition: 0 }, { partition: 1 }], minBytes, 200_000);
  await pause(100);
  assert.equal(poll.state.settled, false, 'data below min_bytes must not answer the poll');
  for (let i = 0; stored < minBytes; i++) {
    stored += await produce('gather', i % 2, 1000);
    // Each produce is acknowledged after its data is visible: the poll must stay open while the
    // stored bytes are short of min_bytes. The pause gives an early answer time to arrive.
    await pause(50);
    if (stored < minBytes) assert.equal(poll.state.settled, false, `answered with ${stored} bytes stored against min_bytes ${minBytes}`);
  }
  const parts = await poll.answer;
  assert.deepEqual(parts.map((p) => p.errorCode), [0, 0]);
  assert.ok(parts.every((p) => (p.records?.length ?? 0) > 0), 'both partitions return their data');
  assert.equal(bytesOf(parts), stored, 'the answer holds every stored byte');
});

test('max_wait ends a poll short of min_bytes with what there is; a partition counts at most its partition_max_bytes', { timeout: 60_000 }, async () => {
  await createTopic('capped', 2);
  await produce('capped', 1, 500);
  // Partition 0 may count 3,000 bytes, partition 1 1 MiB: 10,000 bytes to partition 0 do not
  // reach min_bytes 4,000 with partition 1's ~570.
  const started = performance.now();
  const poll = await longPoll('capped', [{ partition: 0, partitionMaxBytes: 3000 }, { partition: 1 }], 4000, 1500);
  for (let i = 0; i < 10; i++) await produce('capped', 0, 1000);
  await pause(100);
  assert.equal(poll.state.settled, false, 'bytes above partition_max_bytes must not count toward min_bytes');
  const parts = await poll.answer;
  assert.ok(performance.now() - started >= 1400, `answered after ${(performance.now() - started).toFixed(0)} ms, before max_wait 1,500 ms`);
  assert.deepEqual(parts.map((p) => p.errorCode), [0, 0]);
  assert.ok((parts[0].records?.length ?? 0) > 0 && (parts[1].records?.length ?? 0) > 0, 'the answer at max_wait has what there is');

  // Partition 1's new batches count in full: with partition 0's 3,000, three more reach 6,500.
  let p1 = bytesOf([parts[1]]);
  const again = await longPoll('capped', [{ partition: 0, partitionMaxBytes: 3000 }, { partition: 1 }], 6500, 200_000);
  for (let i = 0; i < 3; i++) {
    await pause(50);
    assert.equal(again.state.settled, false, `answered with ${3000 + p1} bytes counted against min_bytes 6,500`);
    p1 += await produce('capped', 1, 1000);
  }
  assert.ok(3000 + p1 >= 6500);
  const full = await again.answer;
  assert.equal(bytesOf([full[1]]), p1, 'partition 1 returns all its batches');
  assert.ok((full[0].records?.length ?? 0) <= 3000, 'partition 0 returns whole batches within its partition_max_bytes');
});

test('a reader catching up is answered at once: a partition whose read stops at partition_max_bytes counts all of it', { timeout: 60_000 }, async () => {
  await createTopic('behind', 1);
  for (let i = 0; i < 10; i++) await produce('behind', 0, 1000);
  // Whole batches within 3,000 bytes are two (~2,140 bytes), short of min_bytes; Kafka counts the
  // bytes available, at most partition_max_bytes: 3,000.
  const poll = await longPoll('behind', [{ partition: 0, partitionMaxBytes: 3000 }], 3000, 200_000);
  const parts = await poll.answer;
  assert.equal(parts[0].errorCode, 0);
  assert.ok((parts[0].records?.length ?? 0) > 2000 && (parts[0].records?.length ?? 0) <= 3000, `${parts[0].records?.length} bytes`);
});

test('max_bytes 0 on an empty partition still long-polls, then returns one whole batch (KIP-74)', { timeout: 60_000 }, async () => {
  await createTopic('zero-max', 1);
  const poll = await longPoll('zero-max', [{ partition: 0 }], 1, 200_000, 0);
  await pause(100);
  assert.equal(poll.state.settled, false, 'no data yet, and max_bytes 0 is not a full answer');
  const stored = await produce('zero-max', 0, 100);
  const parts = await poll.answer;
  assert.equal(parts[0].records?.length, stored);
});

test('a poll ends at once when a watched partition is deleted, even short of min_bytes', { timeout: 60_000 }, async () => {
  await createTopic('doomed-min', 2);
  await produce('doomed-min', 0, 100);
  const poll = await longPoll('doomed-min', [{ partition: 0 }, { partition: 1 }], 1 << 20, 200_000);
  await pause(100);
  assert.equal(poll.state.settled, false);
  assert.equal((await c.request(20, 3, { topicNames: ['doomed-min'], timeoutMs: 5000 })).responses[0].errorCode, 0);
  const parts = await poll.answer;
  assert.ok(parts.some((p) => p.errorCode !== 0), JSON.stringify(parts.map((p) => p.errorCode)));
});

test('kafkajs with minBytes: its first batch holds min_bytes of records sent one at a time, not the first record alone', { timeout: 60_000 }, async () => {
  await createTopic('kjs-min', 1);
  const kafka = new Kafka({ clientId: 'min-bytes', brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'kjs-min', minBytes: 10_000, maxWaitTimeInMs: 100_000, maxBytesPerPartition: 1 << 20 });
  const batches: number[] = [];
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: 'kjs-min', fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }: { batch: { messages: unknown[] } }) => {
        batches.push(batch.messages.length);
        got += batch.messages.length;
        if (got >= 20) done();
      },
    });
    await pause(500); // the consumer's first Fetch is waiting on the empty partition
    for (let i = 0; i < 20; i++) await produce('kjs-min', 0, 1000);
    await all;
    // Ends the consumer's next poll, which waits for min_bytes, so that disconnect need not wait for max_wait.
    for (let i = 0; i < 10; i++) await produce('kjs-min', 0, 1000);
    // One record's batch is ~1,070 bytes: 10 of them reach 10,000 bytes.
    assert.ok(batches[0] >= 10, `first batches: ${JSON.stringify(batches)}`);
  } finally {
    await consumer.disconnect();
  }
});

test("a produce is answered before the long polls it wakes: the producer's next batch does not wait behind the readers' answers", { timeout: 60_000 }, async () => {
  await createTopic('answer-order', 1);
  const order: string[] = [];
  for (let round = 0; round < 10; round++) {
    const offset = round; // one record per round
    const poller = await TestKafkaClient.connect(b.bootstrap);
    try {
      const body = {
        replicaId: -1, maxWaitMs: 30_000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], rackId: '',
        topics: [{ topic: 'answer-order', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      };
      const polled = poller.request(1, 11, body).then((res: { responses: Array<{ partitions: Answer[] }> }) => {
        order.push('fetch');
        return res.responses[0].partitions[0];
      });
      await pause(50); // the poll is waiting at the broker
      const records = buildBatch({ records: [{ value: Buffer.from(`round ${round}`) }] });
      const produced = c.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'answer-order', partitionData: [{ index: 0, records }] }] }).then(() => order.push('produce'));
      const [part] = await Promise.all([polled, produced]);
      assert.equal(part.errorCode, 0);
      assert.ok((part.records?.length ?? 0) > 0, `round ${round}: the poll returns the record`);
    } finally {
      poller.close();
    }
  }
  // Both answers are written by the same turn of the broker's event loop or the next: the order
  // they reach this process is the order the broker wrote them.
  assert.deepEqual(order, Array.from({ length: 10 }, () => ['produce', 'fetch']).flat());
});
