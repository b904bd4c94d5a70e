// KafkaConnection: a per-request timeout (shorter than the connection's) rejects with
// REQUEST_TIMED_OUT and closes the connection; send() writes a request that gets no answer
// (Produce with acks=0) on the same connection as answered ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBatch } from '../../src/record/index.ts';
import { API_KEYS, type FetchResponse, type ProduceResponse } from '../../src/protocol/kafka/index.ts';
import { KafkaConnection } from '../../src/client/index.ts';
import { ClientCluster } from '../../src/client/cluster.ts';
import { HoldfastError, ReceiveSlabs } from '../../src/util/index.ts';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';

function fetchBody(topic: string, offset: number, maxWaitMs: number): object {
  return {
    replicaId: -1, maxWaitMs, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [], rackId: '',
  };
}

test('a request with its own timeout fails with REQUEST_TIMED_OUT and closes the connection', { timeout: 30_000 }, async () => {
  const b = await embeddedBroker();
  try {
    await b.broker.createTopic('quiet', 1, {});
    const conn = await KafkaConnection.open({ host: '127.0.0.1', port: b.broker.port, requestTimeoutMs: 30_000 });
    // The broker parks this long-poll for 10 s (no data); the request gives up after 100 ms.
    const err = await conn.request(API_KEYS.Fetch, 11, fetchBody('quiet', 0, 10_000), { timeoutMs: 100 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof HoldfastError);
    assert.equal(err.code, 'REQUEST_TIMED_OUT');
    assert.equal(err.retriable, true);
    assert.match(err.message, /no response in 100 ms/);
    assert.equal(conn.closed, true);
  } finally {
    await b.close();
    removeDir(b.dataDir);
  }
});

test('send() writes an acks=0 Produce without waiting for an answer; answered requests still match up', { timeout: 30_000 }, async () => {
  const b = await embeddedBroker();
  try {
    await b.broker.createTopic('oneway', 1, {});
    const conn = await KafkaConnection.open({ host: '127.0.0.1', port: b.broker.port });
    const produce = (acks: number, value: string): object => ({ transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: 'oneway', partitionData: [{ index: 0, records: buildBatch({ records: [{ value }] }) }] }] });
    await conn.send(API_KEYS.Produce, 7, produce(0, 'a'));
    await conn.send(API_KEYS.Produce, 7, produce(0, 'b'));
    const answered = await conn.request<ProduceResponse>(API_KEYS.Produce, 7, produce(-1, 'c'));
    assert.equal(answered.responses[0].partitionResponses[0].errorCode, 0);
    assert.equal(answered.responses[0].partitionResponses[0].baseOffset, 2, 'the two acks=0 records came first');
    const fetched = await conn.request<FetchResponse>(API_KEYS.Fetch, 11, fetchBody('oneway', 0, 0));
    assert.equal(fetched.responses[0].partitions[0].highWatermark, 3);
    conn.close();
  } finally {
    await b.close();
    removeDir(b.dataDir);
  }
});

test('ClientCluster.knownLeader: only from metadata held, never a guess', { timeout: 30_000 }, async () => {
  const b = await embeddedBroker();
  const cluster = new ClientCluster({ brokers: [b.bootstrap] });
  try {
    await b.broker.createTopic('leaders', 3, {});
    assert.equal(cluster.knownLeader('leaders', 0), undefined, 'no metadata fetched yet');
    const metadata = await cluster.topic('leaders');
    for (let p = 0; p < 3; p++) assert.equal(cluster.knownLeader('leaders', p), metadata.partitions[p].leader);
    assert.ok((cluster.knownLeader('leaders', 0) ?? -1) >= 0);
    assert.equal(cluster.knownLeader('leaders', 3), undefined, 'a partition the topic does not have');
    assert.equal(cluster.knownLeader('other', 0), undefined, 'a topic never fetched');
    cluster.invalidate('leaders');
    assert.equal(cluster.knownLeader('leaders', 0), undefined, 'forgotten with the metadata');
  } finally {
    await cluster.close();
    await b.close();
    removeDir(b.dataDir);
  }
});

test('requestPooled: a large response is read into the pool; given back, its memory serves the next one; small ones are not pooled', { timeout: 30_000 }, async () => {
  const b = await embeddedBroker();
  const pool = new ReceiveSlabs({ slabBytes: 1 << 20, largeStepBytes: 64 * 1024, poison: true });
  try {
    await b.broker.createTopic('pooled', 1, {});
    const conn = await KafkaConnection.open({ host: '127.0.0.1', port: b.broker.port });
    const value = Buffer.alloc(1000, 7);
    const produce = (n: number): object => ({ transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'pooled', partitionData: [{ index: 0, records: buildBatch({ records: Array.from({ length: n }, () => ({ value })) }) }] }] });
    await conn.request(API_KEYS.Produce, 7, produce(400)); // ~410 KB: more than one read
    const first = await conn.requestPooled<FetchResponse>(API_KEYS.Fetch, 11, fetchBody('pooled', 0, 0), pool);
    const records = first.body.responses[0].partitions[0].records as Buffer;
    assert.ok(records.length > 400_000);
    assert.equal(records.buffer, first.frame.buffer, 'the records are a view of the frame');
    assert.equal(pool.allocated, 1, 'the frame came from the pool');
    const kept = Buffer.from(records);
    pool.release(first.frame);
    assert.ok(pool.freeListBytes > 400_000, 'given back');
    const second = await conn.requestPooled<FetchResponse>(API_KEYS.Fetch, 11, fetchBody('pooled', 0, 0), pool);
    assert.equal(second.frame.buffer, first.frame.buffer, 'the same memory again');
    assert.equal(pool.reused, 1);
    assert.ok((second.body.responses[0].partitions[0].records as Buffer).equals(kept), 'holding the new response whole');
    pool.release(second.frame);
    // A response that arrives in one read is not the pool's: giving it back does nothing.
    const small = await conn.requestPooled<FetchResponse>(API_KEYS.Fetch, 11, fetchBody('pooled', 400, 0), pool);
    assert.equal(small.body.responses[0].partitions[0].highWatermark, 400);
    pool.release(small.frame);
    assert.equal(pool.allocated + pool.reused, 2);
    conn.close();
  } finally {
    await b.close();
    removeDir(b.dataDir);
  }
});
