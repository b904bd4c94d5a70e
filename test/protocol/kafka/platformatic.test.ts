// Cross-check of the flexible versions (compact encodings, tagged fields, nullable structs, UUIDs)
// against @platformatic/kafka 2.12.1, whose hand-written codecs are independent of ours. kafkajs
// (kafkajs.test.ts) only speaks non-flexible versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_KEYS,
  decodeRequest,
  encodeResponseFrame,
  requestHeaderVersion,
  responseHeaderVersion,
} from '../../../src/protocol/kafka/index.ts';
import type {
  ApiVersionsResponse,
  ConsumerGroupHeartbeatRequest,
  ConsumerGroupHeartbeatResponse,
  CreateTopicsResponse,
  DescribeTopicPartitionsRequest,
  DescribeTopicPartitionsResponse,
  FetchRequest,
  FetchResponse,
  MetadataRequest,
  MetadataResponse,
  ProduceRequest,
  ProduceResponse,
  RecordsData,
} from '../../../src/protocol/kafka/index.ts';
import { readBatchHeader, verifyBatchCrc } from '../../../src/record/index.ts';

type Any = any;
const PLT = new URL('../../../node_modules/@platformatic/kafka/dist/', import.meta.url);
const plt = (path: string): Promise<Any> => import(new URL(path, PLT).href);
const { Writer: PWriter } = await plt('protocol/writer.js');
const { Reader: PReader } = await plt('protocol/reader.js');
const { createRecordsBatch } = await plt('protocol/records.js');

const TOPIC_ID = '6b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** Frames a platformatic request body the way its Connection does, then decodes it with ours. */
function pltRequest(apiKey: number, apiVersion: number, payload: Any, clientId = 'plt'): { header: Any; body: Any } {
  const w = PWriter.create().appendInt16(apiKey).appendInt16(apiVersion).appendInt32(1234).appendString(clientId, false);
  if (requestHeaderVersion(apiKey, apiVersion) === 2) w.appendTaggedFields();
  const frame: Buffer = w.appendFrom(payload).buffer;
  const decoded = decodeRequest(frame);
  assert.equal(decoded.header.correlationId, 1234);
  assert.equal(decoded.header.clientId, clientId);
  return decoded;
}

/** Encodes a response with ours and parses the body with platformatic's parser. */
function toPlt(mod: Any, apiKey: number, apiVersion: number, body: unknown): Any {
  const frame = Buffer.concat(encodeResponseFrame(apiKey, apiVersion, 4321, body));
  assert.equal(frame.readInt32BE(4), 4321);
  const headerBytes = 4 + (responseHeaderVersion(apiKey, apiVersion) === 1 ? 1 : 0);
  const reader = PReader.from(frame.subarray(4 + headerBytes));
  const parsed = mod.parseResponse(4321, apiKey, apiVersion, reader);
  assert.equal(reader.position, frame.length - 4 - headerBytes, 'platformatic consumed the whole body');
  return parsed;
}

test('ApiVersions v3: platformatic request decodes; our response with every tagged field parses', async () => {
  const mod = await plt('apis/metadata/api-versions-v3.js');
  const { body } = pltRequest(18, 3, mod.createRequest('plt-client', '2.12.1'));
  assert.deepEqual(body, { clientSoftwareName: 'plt-client', clientSoftwareVersion: '2.12.1' });
  const response: ApiVersionsResponse = {
    errorCode: 0,
    apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 11 }, { apiKey: 18, minVersion: 0, maxVersion: 4 }],
    throttleTimeMs: 3,
    supportedFeatures: [{ name: 'metadata.version', minVersion: 1, maxVersion: 20 }],
    finalizedFeaturesEpoch: 5,
    finalizedFeatures: [{ name: 'metadata.version', maxVersionLevel: 20, minVersionLevel: 19 }],
    zkMigrationReady: true,
  };
  const parsed = toPlt(mod, 18, 3, response);
  assert.deepEqual(parsed.apiKeys.map((a: Any) => [a.apiKey, a.minVersion, a.maxVersion]), [[0, 0, 11], [18, 0, 4]]);
  assert.equal(parsed.throttleTimeMs, 3);
  assert.deepEqual(parsed.supportedFeatures, response.supportedFeatures);
  assert.equal(parsed.finalizedFeaturesEpoch, 5n);
  assert.deepEqual(parsed.finalizedFeatures, response.finalizedFeatures);
  assert.equal(parsed.zkMigrationReady, true);
  // Defaults are not written as tagged fields: platformatic sees its own defaults.
  const bare = toPlt(mod, 18, 3, { errorCode: 0, apiKeys: [] });
  assert.equal(bare.finalizedFeaturesEpoch, -1n);
  assert.deepEqual(bare.supportedFeatures, []);
});

test('Metadata v12: platformatic request decodes; our response parses', async () => {
  const mod = await plt('apis/metadata/metadata-v12.js');
  const body = pltRequest(3, 12, mod.createRequest(['a', { name: 'b', topicId: TOPIC_ID }], false, true)).body as MetadataRequest;
  assert.deepEqual(body.topics, [{ topicId: ZERO_UUID, name: 'a' }, { topicId: TOPIC_ID, name: 'b' }]);
  assert.equal(body.allowAutoTopicCreation, false);
  assert.equal(body.includeTopicAuthorizedOperations, true);
  const response: MetadataResponse = {
    throttleTimeMs: 0,
    brokers: [{ nodeId: 1, host: 'h1', port: 9092, rack: 'r1' }, { nodeId: 2, host: 'h2', port: 9093, rack: null }],
    clusterId: 'cluster-é',
    controllerId: 1,
    topics: [
      {
        errorCode: 0,
        name: 'orders',
        topicId: TOPIC_ID,
        isInternal: false,
        partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 7, replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: [2] }],
        topicAuthorizedOperations: -2147483648,
      },
    ],
  };
  assert.deepEqual(toPlt(mod, 3, 12, response), response);
});

test('Produce v9 / v11: platformatic request decodes; our response with tagged fields parses', async () => {
  for (const version of [9, 11]) {
    const mod = await plt(`apis/producer/produce-v${version}.js`);
    const messages = [
      { topic: 'orders', partition: 1, key: Buffer.from('k'), value: Buffer.from('v1'), timestamp: 1_700_000_000_000n, headers: new Map() },
      { topic: 'orders', partition: 1, key: null, value: Buffer.from('v2'), timestamp: 1_700_000_000_001n, headers: new Map() },
    ];
    const payload = mod.createRequest(-1, 5000, messages, { producerId: 77n, producerEpoch: 2, transactionalId: 'tx' });
    const body = pltRequest(0, version, payload).body as ProduceRequest;
    assert.equal(body.transactionalId, 'tx');
    assert.equal(body.acks, -1);
    assert.equal(body.timeoutMs, 5000);
    assert.equal(body.topicData[0].name, 'orders');
    assert.equal(body.topicData[0].partitionData[0].index, 1);
    const records = body.topicData[0].partitionData[0].records as Buffer;
    assert.equal(readBatchHeader(records).producerId, 77);
    assert.equal(readBatchHeader(records).recordsCount, 2);
    assert.ok(verifyBatchCrc(records, 0, records.length));

    const response: ProduceResponse = {
      responses: [
        {
          name: 'orders',
          partitionResponses: [
            {
              index: 1,
              errorCode: 0,
              baseOffset: 1000,
              logAppendTimeMs: -1,
              logStartOffset: 0,
              recordErrors: [],
              errorMessage: null,
              currentLeader: { leaderId: 3, leaderEpoch: 9 },
            },
          ],
        },
      ],
      throttleTimeMs: 0,
      nodeEndpoints: [{ nodeId: 3, host: 'broker-3', port: 9094, rack: null }],
    };
    const parsed = toPlt(mod, 0, version, response);
    const p = parsed.responses[0].partitionResponses[0];
    assert.equal(p.baseOffset, 1000n);
    if (version >= 10) {
      // Tagged fields exist from v10; in v9 they are simply not written.
      assert.deepEqual(p.currentLeader, { leaderId: 3, leaderEpoch: 9 });
      assert.deepEqual(parsed.nodeEndpoints, response.nodeEndpoints);
    }
  }
});

test('Fetch v16: platformatic request decodes; our response (chunked records, tagged fields) parses', async () => {
  const mod = await plt('apis/consumer/fetch-v16.js');
  const payload = mod.createRequest(500, 1, 1 << 20, 1, 0, -1, [
    { topicId: TOPIC_ID, partitions: [{ partition: 0, currentLeaderEpoch: 4, fetchOffset: 2n ** 40n, lastFetchedEpoch: 3, partitionMaxBytes: 65536 }] },
  ], [{ topicId: TOPIC_ID, partitions: [5] }], 'rack-z');
  const req = pltRequest(1, 16, payload).body as FetchRequest;
  assert.equal(req.maxWaitMs, 500);
  assert.equal(req.isolationLevel, 1);
  assert.equal(req.rackId, 'rack-z');
  assert.equal(req.topics[0].topicId, TOPIC_ID);
  assert.deepEqual(req.topics[0].partitions[0], {
    partition: 0,
    currentLeaderEpoch: 4,
    fetchOffset: 2 ** 40,
    lastFetchedEpoch: 3,
    logStartOffset: -1,
    partitionMaxBytes: 65536,
    replicaDirectoryId: ZERO_UUID,
  });
  assert.deepEqual(req.forgottenTopicsData, [{ topic: '', topicId: TOPIC_ID, partitions: [5] }]);

  const batch: Buffer = createRecordsBatch([
    { topic: 't', partition: 0, key: Buffer.from('key'), value: Buffer.from('hello'), timestamp: 5n, headers: new Map() },
  ]).buffer;
  const response: FetchResponse<RecordsData> = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topicId: TOPIC_ID,
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: 2 ** 40 + 1,
            lastStableOffset: 2 ** 40 + 1,
            logStartOffset: 0,
            currentLeader: { leaderId: 2, leaderEpoch: 4 },
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: [batch.subarray(0, 30), batch.subarray(30)],
          },
        ],
      },
    ],
    nodeEndpoints: [{ nodeId: 2, host: 'b2', port: 1, rack: 'r' }],
  };
  const parsed = toPlt(mod, 1, 16, response);
  const p = parsed.responses[0].partitions[0];
  assert.equal(parsed.responses[0].topicId, TOPIC_ID);
  assert.equal(p.highWatermark, 2n ** 40n + 1n);
  assert.deepEqual(p.currentLeader, { leaderId: 2, leaderEpoch: 4 });
  assert.deepEqual(p.divergingEpoch, { epoch: -1, endOffset: -1n });
  assert.equal(p.abortedTransactions, null);
  assert.equal(p.records[0].records[0].value.toString(), 'hello');
  assert.deepEqual(parsed.nodeEndpoints, [{ nodeId: 2, host: 'b2', port: 1, rack: 'r' }]);
});

test('ConsumerGroupHeartbeat v1: nullable struct Assignment both ways', async () => {
  const mod = await plt('apis/consumer/consumer-group-heartbeat-v1.js');
  const payload = mod.createRequest('g', 'm', 3, null, 'rack', 30000, ['t1', 't2'], null, 'uniform', [{ topicId: TOPIC_ID, partitions: [0, 1] }]);
  const req = pltRequest(68, 1, payload).body as ConsumerGroupHeartbeatRequest;
  assert.deepEqual(req, {
    groupId: 'g',
    memberId: 'm',
    memberEpoch: 3,
    instanceId: null,
    rackId: 'rack',
    rebalanceTimeoutMs: 30000,
    subscribedTopicNames: ['t1', 't2'],
    subscribedTopicRegex: null,
    serverAssignor: 'uniform',
    topicPartitions: [{ topicId: TOPIC_ID, partitions: [0, 1] }],
  });
  const base: ConsumerGroupHeartbeatResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    memberId: 'm',
    memberEpoch: 4,
    heartbeatIntervalMs: 5000,
    assignment: { topicPartitions: [{ topicId: TOPIC_ID, partitions: [2] }] },
  };
  assert.deepEqual(toPlt(mod, 68, 1, base), base);
  assert.deepEqual(toPlt(mod, 68, 1, { ...base, assignment: null }), { ...base, assignment: null });
});

test('DescribeTopicPartitions v0: nullable Cursor struct both ways', async () => {
  const mod = await plt('apis/admin/describe-topic-partitions-v0.js');
  const withCursor = pltRequest(75, 0, mod.createRequest([{ name: 'a' }], 100, { topicName: 'a', partitionIndex: 3 })).body as DescribeTopicPartitionsRequest;
  assert.deepEqual(withCursor, { topics: [{ name: 'a' }], responsePartitionLimit: 100, cursor: { topicName: 'a', partitionIndex: 3 } });
  const without = pltRequest(75, 0, mod.createRequest([{ name: 'a' }], 100, null)).body as DescribeTopicPartitionsRequest;
  assert.equal(without.cursor, null);
  const response: DescribeTopicPartitionsResponse = {
    throttleTimeMs: 0,
    topics: [
      {
        errorCode: 0,
        name: 'a',
        topicId: TOPIC_ID,
        isInternal: false,
        partitions: [
          { errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 0, replicaNodes: [1], isrNodes: [1], eligibleLeaderReplicas: null, lastKnownElr: [1], offlineReplicas: [] },
        ],
        topicAuthorizedOperations: 0,
      },
    ],
    nextCursor: { topicName: 'a', partitionIndex: 1 },
  };
  assert.deepEqual(toPlt(mod, 75, 0, response), response);
  assert.equal(toPlt(mod, 75, 0, { ...response, nextCursor: null }).nextCursor, null);
});

test('CreateTopics v7: tagged TopicConfigErrorCode is written only when set', async () => {
  const mod = await plt('apis/admin/create-topics-v7.js');
  const response: CreateTopicsResponse = {
    throttleTimeMs: 0,
    topics: [
      { name: 't', topicId: TOPIC_ID, errorCode: 0, errorMessage: null, topicConfigErrorCode: 40, numPartitions: 3, replicationFactor: 1, configs: [{ name: 'cleanup.policy', value: 'delete', readOnly: false, configSource: 5, isSensitive: false }] },
      { name: 'u', topicId: ZERO_UUID, errorCode: 0, errorMessage: null, numPartitions: -1, replicationFactor: -1, configs: null },
    ],
  };
  const parsed = toPlt(mod, API_KEYS.CreateTopics, 7, response);
  assert.equal(parsed.topics[0].topicConfigErrorCode, 40);
  assert.equal(parsed.topics[1].topicConfigErrorCode ?? 0, 0);
  assert.equal(parsed.topics[0].configs[0].name, 'cleanup.policy');
});
