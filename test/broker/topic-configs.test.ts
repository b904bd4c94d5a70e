// Kafka's topic configs that Holdfast does not build on: accepted where the value is what Holdfast
// does anyway or where Kafka itself ignores the setting (compaction settings under
// cleanup.policy=delete), refused with INVALID_CONFIG naming the config and the reason otherwise,
// and shown by kafkajs's describeConfigs with Kafka's defaults. Topics are created at the wire level,
// because kafkajs reports a refusal only as "Configuration is invalid", without the broker's message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { applyConfig, defaultBrokerConfig, startBroker } from '../../src/broker/index.ts';
import { createMemoryLogger } from '../../src/util/index.ts';
import { API_KEYS, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { buildBatch } from '../../src/record/index.ts';
import { embeddedBroker, removeDir, tempDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

const require = createRequire(import.meta.url);
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs');
const HOUR = 3_600_000;

let b: EmbeddedBroker;
let admin: any;
let wire: TestKafkaClient;

before(async () => {
  b = await embeddedBroker();
  admin = new Kafka({ clientId: 'topic-configs', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  await admin.connect();
  wire = await TestKafkaClient.connect(b.bootstrap);
});

after(async () => {
  await admin.disconnect();
  wire.close();
  await b.close();
  removeDir(b.dataDir);
});

/** Creates `topic` with `configs`; resolves to null, or to the broker's message for INVALID_CONFIG. */
async function create(topic: string, configs: Record<string, string>): Promise<string | null> {
  const configList = Object.entries(configs).map(([name, value]) => ({ name, value }));
  const res = await wire.request(API_KEYS.CreateTopics, 3, { topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: configList }], timeoutMs: 5000, validateOnly: false });
  const t = res.topics[0];
  if (t.errorCode === ErrorCode.NONE) return null;
  assert.equal(t.errorCode, ErrorCode.INVALID_CONFIG, `${topic}: ${t.errorMessage}`);
  return t.errorMessage as string;
}

async function describe(topic: string): Promise<Map<string, { configValue: string; isDefault: boolean }>> {
  const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
  return new Map(res.resources[0].configEntries.map((e: any) => [e.configName, e]));
}

test('Kafka\'s own documented example (flush.messages=1) and values Holdfast already honours are accepted and shown', async () => {
  assert.equal(await create('kafka-example', { 'max.message.bytes': '64000', 'flush.messages': '1', 'flush.ms': '1000', 'unclean.leader.election.enable': 'FALSE', preallocate: 'false', 'segment.jitter.ms': '0', 'remote.storage.enable': 'false' }), null);
  const d = await describe('kafka-example');
  assert.equal(d.get('flush.messages')?.configValue, '1');
  assert.equal(d.get('flush.messages')?.isDefault, false);
  assert.equal(d.get('unclean.leader.election.enable')?.configValue, 'FALSE');
  assert.equal(b.broker.topicConfig('kafka-example').log.flushMode, 'sync', 'every batch is durable before its acknowledgement, as flush.messages=1 asks');

  assert.equal(d.get('max.compaction.lag.ms')?.configValue, '9223372036854775807', 'Kafka\'s Long.MAX_VALUE default, exactly');
  assert.equal(d.get('min.cleanable.dirty.ratio')?.configValue, '0.5');
  assert.equal(d.get('local.retention.ms')?.configValue, '-2');
});

test('compaction and tiered-storage settings, which Kafka ignores under cleanup.policy=delete and without remote storage, are accepted within Kafka\'s ranges', async () => {
  assert.equal(await create('compaction-knobs', { 'delete.retention.ms': '3600000', 'min.compaction.lag.ms': '0', 'max.compaction.lag.ms': '9223372036854775807', 'min.cleanable.dirty.ratio': '0.25', 'local.retention.ms': '-2', 'local.retention.bytes': '1000' }), null);
  assert.equal((await describe('compaction-knobs')).get('min.cleanable.dirty.ratio')?.configValue, '0.25');
  assert.match((await create('ratio-high', { 'min.cleanable.dirty.ratio': '1.5' })) ?? '', /topic ratio-high: min\.cleanable\.dirty\.ratio=1\.5 is above the maximum 1/);
  assert.match((await create('ratio-nan', { 'min.cleanable.dirty.ratio': 'half' })) ?? '', /min\.cleanable\.dirty\.ratio=half is not a number/);
  assert.match((await create('lag-overflow', { 'max.compaction.lag.ms': '9223372036854775808' })) ?? '', /max\.compaction\.lag\.ms=9223372036854775808 is out of range/);
  assert.match((await create('lag-zero', { 'max.compaction.lag.ms': '0' })) ?? '', /is below the minimum 1/);
});

test('values Holdfast would not honour are refused, naming the config and why; nothing is created', async () => {
  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['unclean', { 'unclean.leader.election.enable': 'true' }, /unclean\.leader\.election\.enable=true is not supported: Holdfast never makes a replica that may lack acknowledged records the leader \(only false\)/],
    ['prealloc', { preallocate: 'true' }, /preallocate=true is not supported: Holdfast does not preallocate segment files/],
    ['jitter', { 'segment.jitter.ms': '5000' }, /segment\.jitter\.ms=5000 is not supported: Holdfast rolls segments at segment\.ms exactly/],
    ['tiered', { 'remote.storage.enable': 'true' }, /remote\.storage\.enable=true is not supported: tiered storage is not built/],
    ['not-bool', { preallocate: 'yes' }, /preallocate=yes is not true or false/],
    ['async-kafka-flush', { 'flush.mode': 'async', 'flush.messages': '1' }, /flush\.messages=1 is not supported with flush\.mode=async; set flush\.interval\.messages/],
    ['async-kafka-flush-ms', { 'flush.mode': 'async', 'flush.ms': '10' }, /flush\.ms=10 is not supported with flush\.mode=async; set flush\.interval\.ms/],
    ['unknown', { 'file.delete.delay.ms': '60000' }, /unknown topic config "file\.delete\.delay\.ms" for topic unknown/],
  ];
  for (const [topic, configs, message] of refused) {
    assert.match((await create(topic, configs)) ?? `${topic} was created`, message);
  }
  const names: string[] = await admin.listTopics();
  for (const [topic] of refused) assert.ok(!names.includes(topic), `${topic} must not exist`);
  // Kafka's default (never) is what an async topic has anyway.
  assert.equal(await create('async-kafka-default', { 'flush.mode': 'async', 'flush.messages': '9223372036854775807' }), null);
});

test('topic.defaults: Kafka\'s fsync interval with flush.mode async is refused at start-up, naming the Holdfast key', () => {
  const base = defaultBrokerConfig();
  assert.throws(() => applyConfig(base, { 'topic.defaults': { 'flush.mode': 'async', 'flush.ms': 100 } }, 'test'), /\(broker default\): flush\.ms=100 is not supported with flush\.mode=async; set flush\.interval\.ms/);
  assert.equal(applyConfig(base, { 'topic.defaults': { 'flush.mode': 'sync', 'flush.ms': 100 } }, 'test').topicDefaults['flush.ms'], '100');
});

test('topic.defaults changed to flush.mode async under a topic with flush.messages: the broker starts, keeps the topic, and warns naming it', async () => {
  const dataDir = tempDir();
  try {
    const first = await startBroker({ dataDir, port: 0, config: {}, logger: createMemoryLogger([], 'error') });
    await first.createTopic('kafka-flush', 1, { 'flush.messages': '1' });
    await first.close();
    const lines: string[] = [];
    const second = await startBroker({ dataDir, port: 0, config: { 'topic.defaults': { 'flush.mode': 'async' } }, logger: createMemoryLogger(lines, 'warn') });
    try {
      assert.equal(second.topicConfig('kafka-flush').log.flushMode, 'async');
      const warning = lines.find((l) => l.includes('kafka-flush'));
      assert.ok(warning !== undefined, `no warning names the topic: ${lines.join(' | ')}`);
      assert.match(warning, /flush\.messages=1 is not supported with flush\.mode=async/);
    } finally {
      await second.close();
    }
  } finally {
    removeDir(dataDir);
  }
});

/** Produces one batch of `timestamps` to partition 0 of `topic` (Produce v8, which has record_errors). */
async function produceAt(topic: string, timestamps: number[], compression: 'none' | 'gzip' = 'none') {
  const records = buildBatch({ compression, records: timestamps.map((timestamp, i) => ({ value: `v${i}`, timestamp })) });
  const res = await wire.request(API_KEYS.Produce, 8, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
  return res.responses[0].partitionResponses[0];
}

test('message.timestamp.before.max.ms / after.max.ms: a CreateTime batch with a record outside the bounds around the broker\'s time is refused with INVALID_TIMESTAMP naming the record; nothing is appended', async () => {
  assert.equal(await create('ts-bounded', { 'message.timestamp.before.max.ms': String(HOUR), 'message.timestamp.after.max.ms': String(HOUR) }), null);
  const now = Date.now();
  assert.equal((await produceAt('ts-bounded', [now, now - 60_000, now + 60_000])).errorCode, ErrorCode.NONE, 'within an hour either way');

  const old = await produceAt('ts-bounded', [now, now - 2 * HOUR, now]);
  assert.equal(old.errorCode, ErrorCode.INVALID_TIMESTAMP);
  assert.match(old.errorMessage, new RegExp(`topic ts-bounded: record 1 has timestamp ${now - 2 * HOUR}, outside \\[\\d+, \\d+\\]: message.timestamp.before.max.ms is ${HOUR}`));
  assert.deepEqual(old.recordErrors.map((e: { batchIndex: number }) => e.batchIndex), [1]);

  const future = await produceAt('ts-bounded', [now + 2 * HOUR]);
  assert.equal(future.errorCode, ErrorCode.INVALID_TIMESTAMP);
  assert.deepEqual(future.recordErrors.map((e: { batchIndex: number }) => e.batchIndex), [0]);

  const compressed = await produceAt('ts-bounded', [now, now, now - 3 * HOUR], 'gzip');
  assert.equal(compressed.errorCode, ErrorCode.INVALID_TIMESTAMP, 'records are checked inside a compressed batch too');
  assert.deepEqual(compressed.recordErrors.map((e: { batchIndex: number }) => e.batchIndex), [2]);

  assert.equal(b.broker.partitionLog('ts-bounded', 0)?.highWatermark, 3, 'only the first batch was appended');
});

test('timestamp bounds: unset (Kafka\'s default) any timestamp is accepted; a LogAppendTime topic ignores them; kafkajs sees INVALID_TIMESTAMP', async () => {
  assert.equal(await create('ts-default', {}), null);
  assert.equal((await produceAt('ts-default', [1000, Date.now() + 1000 * HOUR])).errorCode, ErrorCode.NONE);
  assert.equal(await create('ts-append', { 'message.timestamp.type': 'LogAppendTime', 'message.timestamp.before.max.ms': '0', 'message.timestamp.after.max.ms': '0' }), null);
  assert.equal((await produceAt('ts-append', [1000])).errorCode, ErrorCode.NONE, 'the broker stamps its own time');

  assert.equal(await create('ts-kafkajs', { 'message.timestamp.before.max.ms': String(HOUR) }), null);
  const producer = new Kafka({ clientId: 'ts', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).producer();
  await producer.connect();
  try {
    await assert.rejects(producer.send({ topic: 'ts-kafkajs', acks: -1, messages: [{ value: 'stale', timestamp: String(Date.now() - 2 * HOUR) }] }), (err: any) => err.type === 'INVALID_TIMESTAMP' || err.cause?.type === 'INVALID_TIMESTAMP');
    const sent = await producer.send({ topic: 'ts-kafkajs', acks: -1, messages: [{ value: 'fresh' }] });
    assert.equal(sent[0].errorCode, 0);
  } finally {
    await producer.disconnect();
  }
});
