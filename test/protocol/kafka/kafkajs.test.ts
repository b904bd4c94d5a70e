// Cross-check against kafkajs 2.2.4, an independent implementation: requests encoded by kafkajs
// must decode with our readers, and responses encoded by our writers must decode with kafkajs'
// own response decoders and parsers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  API_KEYS,
  decodeRequest,
  encodeApiVersionsUnsupported,
  encodeResponseFrame,
} from '../../../src/protocol/kafka/index.ts';
import type {
  ApiVersionsRequest,
  CreateTopicsRequest,
  FetchRequest,
  InitProducerIdRequest,
  ListOffsetsRequest,
  MetadataRequest,
  ProduceRequest,
  RecordsData,
  FetchResponse,
} from '../../../src/protocol/kafka/index.ts';
import { readBatchHeader, verifyBatchCrc, batchSizeAt, ATTR_TRANSACTIONAL } from '../../../src/record/index.ts';

const require = createRequire(import.meta.url);
type Any = any;
const kjs = (path: string): Any => require(`kafkajs/src/protocol/${path}`);
const Long: Any = require('kafkajs/src/utils/long');
const createRequest: (args: Any) => Promise<{ buffer: Buffer }> = kjs('request.js');
const Encoder: Any = kjs('encoder.js');
const Decoder: Any = kjs('decoder.js');
const RecordBatch: (args: Any) => Promise<{ buffer: Buffer }> = kjs('recordBatch/v0/index.js').RecordBatch;
const Record: (args: Any) => Any = kjs('recordBatch/record/v0/index.js');

/** Encodes a request with kafkajs and decodes the frame (minus its size prefix) with ours. */
async function viaKafkajs(request: Any, correlationId = 7, clientId = 'kafkajs-client'): Promise<{ header: Any; body: Any }> {
  const encoded = await createRequest({ correlationId, clientId, request });
  const frame: Buffer = encoded.buffer;
  assert.equal(frame.readInt32BE(0), frame.length - 4, 'kafkajs size prefix');
  const decoded = decodeRequest(frame.subarray(4));
  assert.equal(decoded.header.apiKey, request.apiKey);
  assert.equal(decoded.header.apiVersion, request.apiVersion);
  assert.equal(decoded.header.correlationId, correlationId);
  assert.equal(decoded.header.clientId, clientId);
  return decoded;
}

/** Encodes a response with ours; returns kafkajs' decode + parse of it (as its connection does). */
async function toKafkajs(apiKey: number, apiVersion: number, responsePath: string, body: unknown, correlationId = 99): Promise<Any> {
  const frame = Buffer.concat(encodeResponseFrame(apiKey, apiVersion, correlationId, body));
  assert.equal(frame.readInt32BE(0), frame.length - 4);
  assert.equal(frame.readInt32BE(4), correlationId);
  const response = kjs(`requests/${responsePath}`);
  const decoded = await response.decode(frame.subarray(8));
  return response.parse(decoded);
}

const PRODUCER_ID = 4_000_000_123;

async function kafkajsProduce(version: number, compression: number): Promise<void> {
  const request = kjs(`requests/produce/v${version}/request.js`)({
    acks: -1,
    timeout: 30000,
    transactionalId: 'tx-1',
    producerId: Long.fromNumber(PRODUCER_ID),
    producerEpoch: 3,
    compression,
    topicData: [
      {
        topic: 'orders',
        partitions: [
          {
            partition: 2,
            firstSequence: 17,
            messages: [
              { key: 'k1', value: 'value-1', timestamp: 1_700_000_000_000, headers: { h: 'x' } },
              { key: null, value: 'value-2', timestamp: 1_700_000_000_500 },
            ],
          },
        ],
      },
      { topic: 'payments', partitions: [{ partition: 0, firstSequence: 0, messages: [{ key: 'a', value: 'b', timestamp: 1 }] }] },
    ],
  });
  const { body } = await viaKafkajs(request);
  const m = body as ProduceRequest;
  assert.equal(m.transactionalId, 'tx-1');
  assert.equal(m.acks, -1);
  assert.equal(m.timeoutMs, 30000);
  assert.deepEqual(m.topicData.map((t) => t.name), ['orders', 'payments']);
  const p = m.topicData[0].partitionData[0];
  assert.equal(p.index, 2);
  const records = p.records as Buffer;
  const header = readBatchHeader(records);
  assert.equal(header.magic, 2);
  assert.equal(header.producerId, PRODUCER_ID);
  assert.equal(header.producerEpoch, 3);
  assert.equal(header.baseSequence, 17);
  assert.equal(header.recordsCount, 2);
  assert.equal(header.lastOffsetDelta, 1);
  assert.equal(header.attributes & 0x07, compression);
  assert.ok((header.attributes & ATTR_TRANSACTIONAL) !== 0);
  assert.equal(batchSizeAt(records), records.length);
  assert.ok(verifyBatchCrc(records, 0, records.length), 'CRC of the batch kafkajs wrote');
  // Records are a zero-copy view into the frame.
  assert.equal(records.buffer, m.topicData[1].partitionData[0].records?.buffer);
  // kafkajs can read the batch we hand back.
  const batch = await kjs('recordBatch/v0/decoder.js')(new Decoder(records));
  assert.deepEqual(batch.records.map((r: Any) => r.value.toString()), ['value-1', 'value-2']);
  assert.equal(batch.records[0].headers.h.toString(), 'x');
}

test('kafkajs Produce v3 request (uncompressed) decodes with readProduceRequest', async () => {
  await kafkajsProduce(3, 0);
});

test('kafkajs Produce v7 request (gzip) decodes with readProduceRequest', async () => {
  await kafkajsProduce(7, 1);
});

test('kafkajs Fetch v11 request decodes with readFetchRequest', async () => {
  const request = kjs('requests/fetch/v11/request.js')({
    replicaId: -1,
    maxWaitTime: 5000,
    minBytes: 1,
    maxBytes: 10485760,
    isolationLevel: 1,
    sessionId: 0,
    sessionEpoch: -1,
    rackId: 'rack-a',
    topics: [
      {
        topic: 'orders',
        partitions: [
          { partition: 0, currentLeaderEpoch: 5, fetchOffset: '12345678901', logStartOffset: -1, maxBytes: 1048576 },
          { partition: 1, fetchOffset: '0', maxBytes: 65536 },
        ],
      },
    ],
    forgottenTopics: [{ topic: 'old', partitions: [3, 4] }],
  });
  const body = (await viaKafkajs(request)).body as FetchRequest;
  assert.equal(body.replicaId, -1);
  assert.equal(body.maxWaitMs, 5000);
  assert.equal(body.minBytes, 1);
  assert.equal(body.maxBytes, 10485760);
  assert.equal(body.isolationLevel, 1);
  assert.equal(body.sessionId, 0);
  assert.equal(body.sessionEpoch, -1);
  assert.equal(body.rackId, 'rack-a');
  assert.equal(body.topics[0].topic, 'orders');
  assert.deepEqual(body.topics[0].partitions, [
    { partition: 0, currentLeaderEpoch: 5, fetchOffset: 12345678901, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1048576, replicaDirectoryId: '00000000-0000-0000-0000-000000000000' },
    { partition: 1, currentLeaderEpoch: -1, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 65536, replicaDirectoryId: '00000000-0000-0000-0000-000000000000' },
  ]);
  assert.deepEqual(body.forgottenTopicsData, [{ topic: 'old', topicId: '00000000-0000-0000-0000-000000000000', partitions: [3, 4] }]);
});

test('kafkajs Metadata v6 request decodes, with a topic list and with null (all topics)', async () => {
  const some = (await viaKafkajs(kjs('requests/metadata/v6/request.js')({ topics: ['a', 'b'], allowAutoTopicCreation: false }))).body as MetadataRequest;
  assert.deepEqual(some.topics?.map((t) => t.name), ['a', 'b']);
  assert.equal(some.allowAutoTopicCreation, false);
  // kafkajs encodes "all topics" as an empty list, which it writes as a null array.
  const all = (await viaKafkajs(kjs('requests/metadata/v6/request.js')({ topics: [] }))).body as MetadataRequest;
  assert.equal(all.topics, null);
  assert.equal(all.allowAutoTopicCreation, true);
});

test('kafkajs ListOffsets v2 request decodes with readListOffsetsRequest', async () => {
  const request = kjs('requests/listOffsets/v2/request.js')({
    replicaId: -1,
    isolationLevel: 1,
    topics: [{ topic: 'orders', partitions: [{ partition: 0, timestamp: -2 }, { partition: 1, timestamp: 1_700_000_000_000 }] }],
  });
  const body = (await viaKafkajs(request)).body as ListOffsetsRequest;
  assert.equal(body.replicaId, -1);
  assert.equal(body.isolationLevel, 1);
  assert.equal(body.topics[0].name, 'orders');
  assert.deepEqual(body.topics[0].partitions.map((p) => [p.partitionIndex, p.timestamp]), [[0, -2], [1, 1_700_000_000_000]]);
});

test('kafkajs InitProducerId v1 request decodes (null and non-null transactional id)', async () => {
  const plain = (await viaKafkajs(kjs('requests/initProducerId/v1/request.js')({ transactionalId: null, transactionTimeout: 60000 }))).body as InitProducerIdRequest;
  assert.equal(plain.transactionalId, null);
  assert.equal(plain.transactionTimeoutMs, 60000);
  const tx = (await viaKafkajs(kjs('requests/initProducerId/v1/request.js')({ transactionalId: 'tx', transactionTimeout: 1000 }))).body as InitProducerIdRequest;
  assert.equal(tx.transactionalId, 'tx');
  assert.equal(tx.producerId, -1); // absent in v1: the default
});

test('kafkajs CreateTopics v3 request decodes with readCreateTopicsRequest', async () => {
  const request = kjs('requests/createTopics/v3/request.js')({
    topics: [
      { topic: 'orders', numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: 'manual', replicaAssignment: [{ partition: 0, replicas: [1, 2] }] },
    ],
    validateOnly: true,
    timeout: 5000,
  });
  const body = (await viaKafkajs(request)).body as CreateTopicsRequest;
  assert.equal(body.timeoutMs, 5000);
  assert.equal(body.validateOnly, true);
  assert.deepEqual(body.topics[0], {
    name: 'orders',
    numPartitions: 3,
    replicationFactor: 1,
    assignments: [],
    configs: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  assert.deepEqual(body.topics[1].assignments, [{ partitionIndex: 0, brokerIds: [1, 2] }]);
  assert.equal(body.topics[1].numPartitions, -1);
});

test('kafkajs ApiVersions v0 and v2 requests decode (empty body)', async () => {
  for (const v of [0, 1, 2]) {
    const { body } = await viaKafkajs(kjs(`requests/apiVersions/v${v}/request.js`)());
    assert.deepEqual(body as ApiVersionsRequest, { clientSoftwareName: '', clientSoftwareVersion: '' });
  }
});

// --- our responses, kafkajs' decoders ---------------------------------------------------------

test('our Produce v3 and v7 responses decode with kafkajs', async () => {
  const body = {
    responses: [
      { name: 'orders', partitionResponses: [{ index: 2, errorCode: 0, baseOffset: 9_007_199_254_740_000, logAppendTimeMs: -1, logStartOffset: 42 }] },
    ],
    throttleTimeMs: 12,
  };
  const v3 = await toKafkajs(API_KEYS.Produce, 3, 'produce/v3/response.js', body);
  assert.deepEqual(v3, {
    topics: [{ topicName: 'orders', partitions: [{ partition: 2, errorCode: 0, baseOffset: '9007199254740000', logAppendTime: '-1' }] }],
    throttleTime: 12,
  });
  const v7 = await toKafkajs(API_KEYS.Produce, 7, 'produce/v7/response.js', body);
  assert.equal(v7.topics[0].partitions[0].logStartOffset, '42');
  assert.equal(v7.clientSideThrottleTime, 12);
  // kafkajs' parse turns error codes into its typed errors.
  const failing = { responses: [{ name: 'orders', partitionResponses: [{ index: 0, errorCode: 45, baseOffset: -1 }] }] };
  await assert.rejects(toKafkajs(API_KEYS.Produce, 7, 'produce/v7/response.js', failing), (err: Any) => err.type === 'OUT_OF_ORDER_SEQUENCE_NUMBER');
});

async function kafkajsBatch(firstOffset: number, values: string[]): Promise<Buffer> {
  const records = values.map((value, i) => Record({ key: `key-${i}`, value, offsetDelta: i, timestampDelta: i, headers: {} }));
  const batch = await RecordBatch({
    firstOffset: Long.fromNumber(firstOffset),
    firstTimestamp: 1_700_000_000_000,
    maxTimestamp: 1_700_000_000_000 + values.length,
    lastOffsetDelta: values.length - 1,
    records,
  });
  return batch.buffer;
}

test('our Fetch v11 response (records as zero-copy Buffer[] chunks) decodes with kafkajs', async () => {
  const batchA = await kafkajsBatch(100, ['a0', 'a1', 'a2']);
  const batchB = await kafkajsBatch(103, ['b0']);
  // Split the first batch mid-way: chunks are spliced into the frame without copying.
  const chunks = [batchA.subarray(0, 20), batchA.subarray(20), batchB];
  const body: FetchResponse<RecordsData> = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: 'orders',
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: 104,
            lastStableOffset: 104,
            logStartOffset: 0,
            abortedTransactions: [{ producerId: PRODUCER_ID, firstOffset: 7 }],
            preferredReadReplica: -1,
            records: chunks,
          },
          { partitionIndex: 1, errorCode: 1, highWatermark: -1, records: null },
        ],
      },
    ],
  };
  const frameChunks = encodeResponseFrame(API_KEYS.Fetch, 11, 5, body);
  for (const c of chunks) assert.ok(frameChunks.includes(c), 'record chunk emitted without copying');
  const decoded = await kjs('requests/fetch/v11/response.js').decode(Buffer.concat(frameChunks).subarray(8));
  const [p0, p1] = decoded.responses[0].partitions;
  assert.equal(decoded.responses[0].topicName, 'orders');
  assert.equal(p0.highWatermark, '104');
  assert.equal(p0.lastStableOffset, '104');
  assert.equal(p0.preferredReadReplica, -1);
  assert.deepEqual(p0.abortedTransactions, [{ producerId: String(PRODUCER_ID), firstOffset: '7' }]);
  assert.deepEqual(p0.messages.map((m: Any) => [m.offset, m.value.toString()]), [['100', 'a0'], ['101', 'a1'], ['102', 'a2'], ['103', 'b0']]);
  assert.equal(p1.errorCode, 1);
  assert.equal(p1.highWatermark, '-1');
  assert.equal(p1.lastStableOffset, '-1'); // default filled in by our writer
  assert.deepEqual(p1.messages, []);
});

test('our Metadata v6 response decodes with kafkajs', async () => {
  const body = {
    throttleTimeMs: 0,
    brokers: [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }],
    clusterId: 'holdfast-cluster',
    controllerId: 1,
    topics: [
      {
        errorCode: 0,
        name: 'orders',
        isInternal: false,
        partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }],
      },
    ],
  };
  const parsed = await toKafkajs(API_KEYS.Metadata, 6, 'metadata/v6/response.js', body);
  assert.deepEqual(parsed.brokers, [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }]);
  assert.equal(parsed.clusterId, 'holdfast-cluster');
  assert.equal(parsed.controllerId, 1);
  assert.deepEqual(parsed.topicMetadata, [
    {
      topicErrorCode: 0,
      topic: 'orders',
      isInternal: false,
      partitionMetadata: [{ partitionErrorCode: 0, partitionId: 0, leader: 1, replicas: [1], isr: [1], offlineReplicas: [] }],
    },
  ]);
});

test('our ListOffsets v2 response decodes with kafkajs', async () => {
  const body = { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0, timestamp: -1, offset: 123456789012 }] }] };
  const parsed = await toKafkajs(API_KEYS.ListOffsets, 2, 'listOffsets/v2/response.js', body);
  assert.deepEqual(parsed.responses, [{ topic: 'orders', partitions: [{ partition: 0, errorCode: 0, timestamp: '-1', offset: '123456789012' }] }]);
});

test('our InitProducerId v1 response decodes with kafkajs', async () => {
  const parsed = await toKafkajs(API_KEYS.InitProducerId, 1, 'initProducerId/v1/response.js', { throttleTimeMs: 0, errorCode: 0, producerId: PRODUCER_ID, producerEpoch: 0 });
  assert.equal(parsed.producerId, String(PRODUCER_ID));
  assert.equal(parsed.producerEpoch, 0);
  assert.equal(parsed.errorCode, 0);
});

test('our CreateTopics v3 response decodes with kafkajs', async () => {
  const body = { throttleTimeMs: 0, topics: [{ name: 'b', errorCode: 0, errorMessage: null }, { name: 'a', errorCode: 0, errorMessage: null }] };
  const parsed = await toKafkajs(API_KEYS.CreateTopics, 3, 'createTopics/v3/response.js', body);
  assert.deepEqual(parsed.topicErrors, [{ topic: 'a', errorCode: 0, errorMessage: null }, { topic: 'b', errorCode: 0, errorMessage: null }]);
  const failing = { topics: [{ name: 'a', errorCode: 36, errorMessage: 'exists' }] };
  await assert.rejects(toKafkajs(API_KEYS.CreateTopics, 3, 'createTopics/v3/response.js', failing), (err: Any) => err.errors[0].type === 'TOPIC_ALREADY_EXISTS');
});

test('our ApiVersions v0-v2 responses decode with kafkajs', async () => {
  const apiKeys = [
    { apiKey: 0, minVersion: 0, maxVersion: 7 },
    { apiKey: 18, minVersion: 0, maxVersion: 3 },
  ];
  for (const v of [0, 1, 2]) {
    const parsed = await toKafkajs(API_KEYS.ApiVersions, v, `apiVersions/v${v}/response.js`, { errorCode: 0, apiKeys, throttleTimeMs: 0 });
    assert.deepEqual(parsed.apiVersions, apiKeys);
  }
});

test('the unsupported-ApiVersions reply is what kafkajs expects', async () => {
  // kafkajs' own test fixture for this reply is the body [0, 35, 0, 0, 0, 0] (no entries).
  const empty = Buffer.concat(encodeApiVersionsUnsupported(77, null));
  assert.deepEqual([...empty.subarray(8)], [0, 35, 0, 0, 0, 0]);
  // With the ApiVersions entry kafkajs' v0 decoder reads the error and raises UNSUPPORTED_VERSION,
  // which is what makes it step down to an older ApiVersions version.
  const frame = Buffer.concat(encodeApiVersionsUnsupported(77, [0, 3]));
  assert.equal(frame.readInt32BE(4), 77);
  await assert.rejects(kjs('requests/apiVersions/v0/response.js').decode(frame.subarray(8)), (err: Any) => err.type === 'UNSUPPORTED_VERSION');
  await assert.rejects(kjs('requests/apiVersions/v2/response.js').decode(frame.subarray(8)), (err: Any) => err.type === 'UNSUPPORTED_VERSION');
  // And the array parses with kafkajs' primitives as [18, 0, 3].
  const d = new Decoder(frame.subarray(8));
  assert.equal(d.readInt16(), 35);
  assert.deepEqual(d.readArray((x: Any) => [x.readInt16(), x.readInt16(), x.readInt16()]), [[18, 0, 3]]);
  assert.equal(d.canReadBytes(1), false);
});

test('kafkajs Encoder and our Writer agree on varints and compact lengths', async () => {
  const { Writer } = await import('../../../src/protocol/kafka/index.ts');
  for (const v of [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 20, -(2 ** 20), 2 ** 31 - 1, -(2 ** 31)]) {
    const ours = new Writer();
    ours.varint(v);
    assert.deepEqual(ours.toBuffer(), new Encoder().writeVarInt(v).buffer, `varint ${v}`);
  }
  for (const v of [0, 1, 127, 128, 16383, 16384, 2 ** 28, 2 ** 31 - 1]) {
    const ours = new Writer();
    ours.uvarint(v);
    assert.deepEqual(ours.toBuffer(), new Encoder().writeUVarInt(v).buffer, `uvarint ${v}`);
  }
  for (const v of [0, 1, -1, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
    const ours = new Writer();
    ours.varlong(v);
    assert.deepEqual(ours.toBuffer(), new Encoder().writeVarLong(Long.fromNumber(v)).buffer, `varlong ${v}`);
  }
});
