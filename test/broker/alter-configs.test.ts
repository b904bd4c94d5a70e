// AlterConfigs (33) and IncrementalAlterConfigs (44) for topics: Kafka's semantics (replace all
// overrides; SET/DELETE/APPEND/SUBTRACT), errors and messages over the wire; the change reaches the
// running partitions (retention, batch size limit) and survives a restart; and kafkajs,
// @platformatic/kafka, the Holdfast Admin and `holdfast topics alter` use it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { Admin as PlatformaticAdmin, ConfigResourceTypes as PltResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
import { API_KEYS, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { Admin } from '../../src/client/index.ts';
import { embeddedBroker, removeDir, holdfastCli, withBroker, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

const TOPIC = 2;
const BROKER = 4;
const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;

interface Answer {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
}

type Op = [name: string, op: number, value: string | null];

async function incremental(c: TestKafkaClient, resources: Array<{ type?: number; name: string; ops: Op[] }>, validateOnly = false): Promise<Answer[]> {
  const res = await c.request(API_KEYS.IncrementalAlterConfigs, 0, {
    resources: resources.map((r) => ({ resourceType: r.type ?? TOPIC, resourceName: r.name, configs: r.ops.map(([name, configOperation, value]) => ({ name, configOperation, value })) })),
    validateOnly,
  });
  return res.responses;
}

async function replace(c: TestKafkaClient, name: string, configs: Record<string, string | null>, version = 1): Promise<Answer> {
  const res = await c.request(API_KEYS.AlterConfigs, version, { resources: [{ resourceType: TOPIC, resourceName: name, configs: Object.entries(configs).map(([k, value]) => ({ name: k, value })) }], validateOnly: false });
  return res.responses[0];
}

/** The topic's configs that are not defaults, from DescribeConfigs. */
async function overrides(c: TestKafkaClient, topic: string): Promise<Record<string, string>> {
  const res = await c.request(API_KEYS.DescribeConfigs, 1, { resources: [{ resourceType: TOPIC, resourceName: topic, configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
  const out: Record<string, string> = {};
  for (const e of res.results[0].configs) if (e.configSource === 1) out[e.name] = e.value; // DYNAMIC_TOPIC_CONFIG
  return out;
}

test('IncrementalAlterConfigs: SET and DELETE change only the keys named; APPEND and SUBTRACT only on list configs; every refusal in Kafka\'s code and words changes nothing', async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('t', 1, { 'max.message.bytes': '64000' });
    const ok = (a: Answer[]): void => assert.deepEqual(a.map((r) => [r.errorCode, r.errorMessage]), a.map(() => [ErrorCode.NONE, null]));
    ok(await incremental(c, [{ name: 't', ops: [['retention.ms', SET, '3600000'], ['flush.mode', SET, 'async']] }]));
    assert.deepEqual(await overrides(c, 't'), { 'max.message.bytes': '64000', 'retention.ms': '3600000', 'flush.mode': 'async' });
    ok(await incremental(c, [{ name: 't', ops: [['max.message.bytes', DELETE, null], ['cleanup.policy', APPEND, 'delete']] }]));
    assert.deepEqual(await overrides(c, 't'), { 'retention.ms': '3600000', 'flush.mode': 'async', 'cleanup.policy': 'delete' });

    const refused = await incremental(c, [
      { name: 'nope', ops: [['retention.ms', SET, '1']] },
      { name: '__consumer_offsets', ops: [['retention.ms', SET, '1']] },
      { type: BROKER, name: '1', ops: [['log.level', SET, 'debug']] },
      { type: 8, name: 'root', ops: [['root', SET, 'DEBUG']] },
    ]);
    assert.deepEqual(refused.map((r) => [r.resourceName, r.errorCode]), [
      ['nope', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ['__consumer_offsets', ErrorCode.INVALID_TOPIC_EXCEPTION],
      ['1', ErrorCode.INVALID_REQUEST],
      ['root', ErrorCode.INVALID_REQUEST],
    ]);
    assert.match(refused[2].errorMessage ?? '', /broker configs cannot be changed while it runs: set them in holdfast.yaml and restart broker 1/);

    const one = async (ops: Op[]): Promise<[number, string | null]> => {
      const [r] = await incremental(c, [{ name: 't', ops }]);
      return [r.errorCode, r.errorMessage];
    };
    assert.deepEqual(await one([['retention.ms', APPEND, '5']]), [ErrorCode.INVALID_CONFIG, 'Can\'t APPEND to key retention.ms because its type is not LIST.']);
    assert.deepEqual(await one([['retention.ms', SUBTRACT, '5']]), [ErrorCode.INVALID_CONFIG, 'Can\'t SUBTRACT to key retention.ms because its type is not LIST.']);
    assert.deepEqual(await one([['retention.ms', SET, '1'], ['retention.ms', DELETE, null]]), [ErrorCode.INVALID_REQUEST, 'Error due to duplicate config keys']);
    assert.deepEqual(await one([['retention.ms', SET, null], ['segment.ms', SET, null]]), [ErrorCode.INVALID_REQUEST, 'Null value not supported for : retention.ms, segment.ms']);
    assert.deepEqual(await one([['retention.ms', 7, '1']]), [ErrorCode.INVALID_REQUEST, 'Unknown operation type 7']);
    const [code, message] = await one([['retention.ms', SET, '60000'], ['segment.bytes', SET, '12']]);
    assert.equal(code, ErrorCode.INVALID_CONFIG);
    assert.equal(message, 'topic t: segment.bytes=12 is below the minimum 1024');
    assert.match((await one([['no.such.config', SET, '1']]))[1] ?? '', /unknown topic config "no.such.config" for topic t/);
    assert.match((await one([['cleanup.policy', APPEND, 'compact']]))[1] ?? '', /cleanup.policy=delete,compact is not one of delete/);
    assert.match((await one([['flush.messages', SET, '1']]))[1] ?? '', /flush.messages=1 is not supported with flush.mode=async; set flush.interval.messages/);
    assert.deepEqual(await overrides(c, 't'), { 'retention.ms': '3600000', 'flush.mode': 'async', 'cleanup.policy': 'delete' }, 'no refused request changed anything');

    ok(await incremental(c, [{ name: 't', ops: [['retention.ms', SET, '1']] }], true));
    assert.equal((await overrides(c, 't'))['retention.ms'], '3600000', 'validate_only changes nothing');
    assert.equal(b.broker.topicConfig('t').log.retentionMs, 3_600_000);
  });
});

test('IncrementalAlterConfigs: concurrent changes to one topic each apply to what the one before left (no lost update)', async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('both', 1, {});
    const answers = await Promise.all([
      incremental(c, [{ name: 'both', ops: [['retention.ms', SET, '3600000']] }]),
      incremental(c, [{ name: 'both', ops: [['segment.ms', SET, '600000']] }]),
      incremental(c, [{ name: 'both', ops: [['max.message.bytes', SET, '64000']] }]),
    ]);
    assert.deepEqual(answers.map((a) => a[0].errorCode), [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE]);
    assert.deepEqual(await overrides(c, 'both'), { 'retention.ms': '3600000', 'segment.ms': '600000', 'max.message.bytes': '64000' });
  });
});

test('AlterConfigs: the configs given become all of the topic\'s overrides; null values are refused', async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('r', 1, { 'retention.ms': '3600000', 'max.message.bytes': '64000' });
    assert.deepEqual(await replace(c, 'r', { 'segment.ms': '600000' }, 0), { errorCode: ErrorCode.NONE, errorMessage: null, resourceType: TOPIC, resourceName: 'r' });
    assert.deepEqual(await overrides(c, 'r'), { 'segment.ms': '600000' }, 'the others are back to their defaults');
    const bad = await replace(c, 'r', { 'retention.ms': null });
    assert.deepEqual([bad.errorCode, bad.errorMessage], [ErrorCode.INVALID_REQUEST, 'Null value not supported for : retention.ms']);
    const invalid = await replace(c, 'r', { 'message.timestamp.type': 'WallClockTime' });
    assert.equal(invalid.errorCode, ErrorCode.INVALID_CONFIG);
    assert.deepEqual(await overrides(c, 'r'), { 'segment.ms': '600000' });
  });
});

test('altered configs reach the running partitions at once (batch size limit, retention) and survive a restart', { timeout: 30_000 }, async () => {
  const b = await embeddedBroker({ 'retention.check.interval.ms': 100 });
  let reopened: EmbeddedBroker | null = null;
  try {
    await b.broker.createTopic('live', 1, { 'segment.bytes': '4096' });
    let c = await TestKafkaClient.connect(b.bootstrap);
    for (let i = 0; i < 20; i++) assert.equal((await c.produce('live', 0, Buffer.alloc(1000, 0x61))).errorCode, ErrorCode.NONE);
    const log = b.broker.partitionLog('live', 0);
    assert.ok(log !== undefined);
    assert.equal(log.logStartOffset, 0);

    assert.deepEqual((await incremental(c, [{ name: 'live', ops: [['max.message.bytes', SET, '500'], ['retention.bytes', SET, '5000']] }])).map((r) => r.errorCode), [ErrorCode.NONE]);
    assert.equal((await c.produce('live', 0, Buffer.alloc(1000, 0x61))).errorCode, ErrorCode.MESSAGE_TOO_LARGE, 'the next produce is held to the new limit');
    const deadline = Date.now() + 10_000;
    while (log.logStartOffset === 0) {
      assert.ok(Date.now() < deadline, 'retention never applied the new retention.bytes');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(log.sizeBytes <= 5000 + 4096, `${log.sizeBytes} bytes kept under retention.bytes 5000 (plus the active segment)`);
    c.close();
    await b.close();

    reopened = await embeddedBroker({}, b.dataDir);
    c = await TestKafkaClient.connect(reopened.bootstrap);
    assert.deepEqual(await overrides(c, 'live'), { 'segment.bytes': '4096', 'max.message.bytes': '500', 'retention.bytes': '5000' });
    assert.equal((await c.produce('live', 0, Buffer.alloc(1000, 0x61))).errorCode, ErrorCode.MESSAGE_TOO_LARGE);
    c.close();
  } finally {
    await b.close(); // closing twice is harmless; on a failed assertion it is still open
    await reopened?.close();
    removeDir(b.dataDir);
  }
});

test('kafkajs alterConfigs, @platformatic/kafka incrementalAlterConfigs, the Holdfast Admin and holdfast topics alter change topic configs', { timeout: 60_000 }, async () => {
  await withBroker({}, async (b, c) => {
    await b.broker.createTopic('clients', 1, {});
    const kadmin = new Kafka({ clientId: 'alter-configs-test', brokers: [b.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await kadmin.connect();
    const plt = new PlatformaticAdmin({ clientId: 'alter-configs-test', bootstrapBrokers: [b.bootstrap], retries: 0 });
    const admin = new Admin({ brokers: [b.bootstrap] });
    try {
      await kadmin.alterConfigs({ validateOnly: false, resources: [{ type: 2 /* kafkajs ConfigResourceTypes.TOPIC */, name: 'clients', configEntries: [{ name: 'retention.ms', value: '7200000' }] }] });
      assert.deepEqual(await overrides(c, 'clients'), { 'retention.ms': '7200000' }, 'kafkajs');

      await plt.incrementalAlterConfigs({ resources: [{ resourceType: PltResourceTypes.TOPIC, resourceName: 'clients', configs: [{ name: 'segment.ms', configOperation: IncrementalAlterConfigOperationTypes.SET, value: '600000' }] }] });
      assert.deepEqual(await overrides(c, 'clients'), { 'retention.ms': '7200000', 'segment.ms': '600000' }, '@platformatic/kafka');

      await admin.alterTopicConfigs('clients', { set: { 'max.message.bytes': '2000000' }, remove: ['retention.ms'] });
      assert.deepEqual(await overrides(c, 'clients'), { 'segment.ms': '600000', 'max.message.bytes': '2000000' }, 'Holdfast Admin');
      await assert.rejects(admin.alterTopicConfigs('clients', { set: { 'flush.mode': 'sometimes' } }), /alter configs of topic clients: topic clients: flush.mode=sometimes is not one of sync, async/);

      const cli = await holdfastCli(['topics', 'alter', 'clients', '--config', 'flush.mode=async', '--delete-config', 'segment.ms', '--partitions', '2', '--brokers', b.bootstrap]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout, 'topic clients now has 2 partition(s)\ntopic clients: configs changed: flush.mode, segment.ms\n');
      const refused = await holdfastCli(['topics', 'alter', 'clients', '--config', 'retention.ms=1', '--partitions', '1', '--brokers', b.bootstrap]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /currently has 2 partition\(s\); 1 would not be an increase/);
      assert.equal((await overrides(c, 'clients'))['retention.ms'], undefined, 'the config part of a refused alter was not applied');
      assert.deepEqual(await overrides(c, 'clients'), { 'max.message.bytes': '2000000', 'flush.mode': 'async' }, 'holdfast topics alter');
      assert.equal(b.broker.topicConfig('clients').log.flushMode, 'async');
    } finally {
      await kadmin.disconnect();
      await plt.close();
      admin.close();
    }
  });
});
