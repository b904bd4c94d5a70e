// CreatePartitions (API 37): growing a topic, over the wire with Kafka's errors and messages,
// through kafkajs, @platformatic/kafka, the Holdfast Admin and `holdfast topics alter`; the new
// partitions take writes at once and survive a restart, a crash between making their logs and
// recording the count leaves nothing visible, and a deletion racing the change leaves no logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Admin as PlatformaticAdmin } from '@platformatic/kafka';
import { API_KEYS, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { Admin, Consumer, Producer, type ConsumerMessage } from '../../src/client/index.ts';
import { embeddedBroker, removeDir, holdfastCli, withBroker, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

interface Result {
  name: string;
  errorCode: number;
  errorMessage: string | null;
}

function createPartitions(c: TestKafkaClient, topics: Array<{ name: string; count: number; assignments?: Array<{ brokerIds: number[] }> | null }>, validateOnly = false, version = 1): Promise<{ results: Result[] }> {
  return c.request(API_KEYS.CreatePartitions, version, { topics: topics.map((t) => ({ assignments: null, ...t })), timeoutMs: 5000, validateOnly });
}

async function partitionCount(c: TestKafkaClient, topic: string): Promise<number> {
  const res = await c.request(API_KEYS.Metadata, 4, { topics: [{ name: topic }], allowAutoTopicCreation: false });
  return res.topics[0].partitions.length;
}

test('CreatePartitions over the wire: Kafka\'s errors and messages for each way to get it wrong; validate_only changes nothing; a valid request grows the topic', async () => {
  await withBroker({ 'max.partitions.per.topic': 10 }, async (b, c) => {
    await b.broker.createTopic('grow', 2, {});
    await b.broker.createTopic('other', 1, {});
    const res = await createPartitions(c, [
      { name: 'nope', count: 3 },
      { name: 'grow', count: 1 },
      { name: 'other', count: 1 },
      { name: 'other', count: 2 },
      { name: '__consumer_offsets', count: 2 },
    ]);
    assert.deepEqual(res.results, [
      { name: 'nope', errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null },
      { name: 'grow', errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'The topic grow currently has 2 partition(s); 1 would not be an increase.' },
      { name: 'other', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate topic name.' },
      { name: 'other', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate topic name.' },
      { name: '__consumer_offsets', errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: 'topic __consumer_offsets is internal: its partitions cannot be changed' },
    ]);
    const more = await createPartitions(c, [
      { name: 'grow', count: 2 },
      { name: 'other', count: 11 },
      { name: 'grow', count: 4, assignments: [{ brokerIds: [1] }] },
    ]);
    assert.deepEqual(more.results.map((r) => [r.errorCode, r.errorMessage]), [
      [ErrorCode.INVALID_REQUEST, 'Duplicate topic name.'],
      [ErrorCode.INVALID_PARTITIONS, 'topic other: 11 partitions is above 10 (max.partitions.per.topic)'],
      [ErrorCode.INVALID_REQUEST, 'Duplicate topic name.'],
    ]);
    const single = async (count: number, assignments: Array<{ brokerIds: number[] }> | null): Promise<Result> => (await createPartitions(c, [{ name: 'grow', count, assignments }])).results[0];
    assert.deepEqual(await single(2, null), { name: 'grow', errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Topic already has 2 partition(s).' });
    assert.deepEqual(await single(4, [{ brokerIds: [1] }]), { name: 'grow', errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.' });
    assert.equal((await single(3, [{ brokerIds: [2] }])).errorMessage, 'The manual partition assignment includes broker 2, but no such broker is registered (this is broker 1).');
    assert.equal((await single(3, [{ brokerIds: [] }])).errorMessage, 'The manual partition assignment includes an empty replica list.');
    assert.equal((await single(3, [{ brokerIds: [1, 1] }])).errorMessage, 'The manual partition assignment includes the broker 1 more than once.');
    assert.equal(await partitionCount(c, 'grow'), 2, 'nothing changed by the refused requests');

    const dry = await createPartitions(c, [{ name: 'grow', count: 5 }], true);
    assert.deepEqual(dry.results[0], { name: 'grow', errorCode: ErrorCode.NONE, errorMessage: null });
    assert.equal(await partitionCount(c, 'grow'), 2, 'validate_only changes nothing');
    assert.equal(b.broker.partitionLog('grow', 2), undefined, 'and makes no log');

    const done = await createPartitions(c, [{ name: 'grow', count: 5, assignments: [{ brokerIds: [1] }, { brokerIds: [1] }, { brokerIds: [1] }] }, { name: 'other', count: 3 }], false, 0);
    assert.deepEqual(done.results.map((r) => r.errorCode), [ErrorCode.NONE, ErrorCode.NONE]);
    assert.equal(await partitionCount(c, 'grow'), 5);
    assert.equal(await partitionCount(c, 'other'), 3);
    assert.deepEqual(await c.produce('grow', 4, 'into a new partition'), { errorCode: ErrorCode.NONE, baseOffset: 0 });
    assert.equal((await c.produce('grow', 5, 'beyond')).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

test('CreatePartitions: the new partitions and their records survive a restart', async () => {
  const b = await embeddedBroker();
  let reopened: EmbeddedBroker | null = null;
  try {
    await b.broker.createTopic('kept', 1, { 'retention.ms': '3600000' });
    await b.broker.createPartitions('kept', 3);
    let c = await TestKafkaClient.connect(b.bootstrap);
    assert.equal((await c.produce('kept', 2, 'hello')).errorCode, ErrorCode.NONE);
    c.close();
    await b.close();

    reopened = await embeddedBroker({}, b.dataDir);
    c = await TestKafkaClient.connect(reopened.bootstrap);
    assert.equal(await partitionCount(c, 'kept'), 3);
    assert.equal(reopened.broker.partitionLog('kept', 2)?.highWatermark, 1, 'the record in the new partition is there');
    assert.equal(reopened.broker.topicConfig('kept').log.retentionMs, 3_600_000, 'the topic keeps its configs');
    c.close();
  } finally {
    await reopened?.close();
    removeDir(b.dataDir);
  }
});

test('CreatePartitions: a crash after the new logs were made but before the count was recorded shows nothing new; the retry adopts the logs', async () => {
  const b = await embeddedBroker();
  let reopened: EmbeddedBroker | null = null;
  try {
    const record = await b.broker.createTopic('half', 1, {});
    // What createPartitions does before recording the count, and nothing after it.
    await b.broker.logs.createLog('half', 1, b.broker.topicConfig('half').log, record.topicId);
    await b.broker.close();

    reopened = await embeddedBroker({}, b.dataDir);
    const c = await TestKafkaClient.connect(reopened.bootstrap);
    try {
      assert.equal(await partitionCount(c, 'half'), 1, 'the count was not recorded: the partition is not shown');
      assert.equal((await createPartitions(c, [{ name: 'half', count: 2 }])).results[0].errorCode, ErrorCode.NONE);
      assert.equal(await partitionCount(c, 'half'), 2);
      assert.deepEqual(await c.produce('half', 1, 'adopted'), { errorCode: ErrorCode.NONE, baseOffset: 0 });
    } finally {
      c.close();
    }
  } finally {
    await reopened?.close();
    removeDir(b.dataDir);
  }
});

test('CreatePartitions racing DeleteTopics and another CreatePartitions: they run one after the other, and a deleted topic leaves no partition behind', async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('race', 2, {});
    const [grow, grow2] = await Promise.all([createPartitions(c, [{ name: 'race', count: 4 }]), createPartitions(c, [{ name: 'race', count: 6 }])]);
    assert.deepEqual([grow.results[0].errorCode, grow2.results[0].errorCode], [ErrorCode.NONE, ErrorCode.NONE]);
    assert.equal(await partitionCount(c, 'race'), 6);

    const [more, deleted] = await Promise.all([
      createPartitions(c, [{ name: 'race', count: 100 }]),
      c.request(API_KEYS.DeleteTopics, 1, { topicNames: ['race'], timeoutMs: 5000 }),
    ]);
    assert.equal(more.results[0].errorCode, ErrorCode.NONE, 'read first, so it ran first');
    assert.equal(deleted.responses[0].errorCode, ErrorCode.NONE);
    for (let p = 0; p < 100; p++) {
      assert.equal(b.broker.partitionLog('race', p), undefined, `partition ${p} deleted with its topic`);
      assert.equal(existsSync(join(b.dataDir, `race-${p}`)), false, `no directory left for partition ${p}`);
    }
  });
});

test('CreatePartitions through kafkajs, @platformatic/kafka, the Holdfast Admin and holdfast topics alter', { timeout: 60_000 }, async () => {
  await withBroker({}, async (b, c) => {
    const kafka = new Kafka({ clientId: 'partitions-test', brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const kadmin = kafka.admin();
    await kadmin.connect();
    const plt = new PlatformaticAdmin({ clientId: 'partitions-test', bootstrapBrokers: [b.bootstrap], retries: 0 });
    const admin = new Admin({ brokers: [b.bootstrap] });
    try {
      await kadmin.createTopics({ topics: [{ topic: 'clients', numPartitions: 1 }] });
      await kadmin.createPartitions({ topicPartitions: [{ topic: 'clients', count: 3 }] });
      const meta = await kadmin.fetchTopicMetadata({ topics: ['clients'] });
      assert.equal(meta.topics[0].partitions.length, 3, 'kafkajs');
      // kafkajs reports the code with its own text, not the broker's message.
      await assert.rejects(kadmin.createPartitions({ topicPartitions: [{ topic: 'clients', count: 2 }] }), (err: { type?: string }) => err.type === 'INVALID_PARTITIONS');
      const producer = kafka.producer();
      await producer.connect();
      const [sent] = await producer.send({ topic: 'clients', acks: -1, messages: [{ partition: 2, value: 'kafkajs into a new partition' }] });
      assert.equal(sent.partition, 2);
      await producer.disconnect();

      await plt.createPartitions({ topics: [{ name: 'clients', count: 4 }] });
      assert.equal(await partitionCount(c, 'clients'), 4, '@platformatic/kafka');

      await admin.createPartitions('clients', 5);
      assert.equal(await partitionCount(c, 'clients'), 5, 'Holdfast Admin');
      await assert.rejects(admin.createPartitions('clients', 5), /add partitions to topic clients: Topic already has 5 partition\(s\)\./);
      await admin.createPartitions('clients', 9, { validateOnly: true });
      assert.equal(await partitionCount(c, 'clients'), 5, 'validateOnly');

      const cli = await holdfastCli(['topics', 'alter', 'clients', '--partitions', '6', '--brokers', b.bootstrap]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout, 'topic clients now has 6 partition(s)\n');
      assert.equal(await partitionCount(c, 'clients'), 6, 'holdfast topics alter');
    } finally {
      await kadmin.disconnect();
      await plt.close();
      await admin.close();
    }
  });
});

test('a Holdfast consumer group and producer take up partitions added while they run, by their metadata refresh', { timeout: 60_000 }, async () => {
  await withBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 }, async (b) => {
    await b.broker.createTopic('live', 1, {});
    const seen: ConsumerMessage[] = [];
    const options = { brokers: [b.bootstrap], groupId: 'live-group', topics: ['live'], autoOffsetReset: 'earliest' as const, heartbeatIntervalMs: 100, sessionTimeoutMs: 3000, rebalanceTimeoutMs: 5000, maxWaitMs: 100, metadataMaxAgeMs: 200 };
    const consumer = new Consumer(options);
    const running = consumer.run(async (m) => {
      seen.push(m);
    });
    const producer = new Producer({ brokers: [b.bootstrap], metadataMaxAgeMs: 200 });
    try {
      await producer.send({ topic: 'live', value: 'before' });
      const deadline = Date.now() + 20_000;
      while (seen.length < 1) {
        assert.ok(Date.now() < deadline, 'the first message was never consumed');
        await new Promise((r) => setTimeout(r, 20));
      }
      await b.broker.createPartitions('live', 3);
      // The producer's metadata says 1 partition: a record naming partition 2 makes it ask again.
      const sent = await producer.send({ topic: 'live', partition: 2, value: 'after' });
      assert.equal(sent.partition, 2);
      await b.broker.createPartitions('live', 4);
      assert.deepEqual(await producer.sendOneway({ topic: 'live', partition: 3, value: 'oneway' }), { topic: 'live', partition: 3 });
      await assert.rejects(producer.send({ topic: 'live', partition: 4, value: 'nowhere' }), /partition 4 is not a partition of topic live \(it has 4\)/);
      while (!(seen.some((m) => m.partition === 2) && seen.some((m) => m.partition === 3))) {
        assert.ok(Date.now() < deadline, `the group never read partitions 2 and 3 (saw ${seen.map((m) => `${m.partition}:${String(m.value)}`).join(', ')})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // At least once: a rebalance may hand 'before' over again, so compare what was seen.
      assert.deepEqual([...new Set(seen.map((m) => `${m.partition}:${String(m.value)}`))].sort(), ['0:before', '2:after', '3:oneway']);
    } finally {
      await producer.close();
      await consumer.close();
      await running;
    }
  });
});
