// The Kafka listener at the wire level: framing exceptions, version handling, pipelining order,
// fetch rules, idempotence and produce validation, each with Kafka's error codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { buildBatch, decodeBatches } from '../../src/record/index.ts';
import { encodeRequestFrame, decodeResponse, FrameDecoder, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { Rng } from '../../src/util/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

let b: EmbeddedBroker;
let c: TestKafkaClient;

before(async () => {
  b = await embeddedBroker({ 'num.partitions': 1 });
  c = await TestKafkaClient.connect(b.bootstrap);
});
after(async () => {
  c.close();
  await b.close();
  removeDir(b.dataDir);
});

function createTopic(name: string, partitions = 1, configs: Array<{ name: string; value: string }> = []) {
  return c.request(19, 3, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs }], timeoutMs: 5000, validateOnly: false });
}

function produce(topic: string, records: Buffer, partition = 0, version = 7, acks = -1) {
  return c.request(0, version, { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
}

function fetchReq(topic: string, offset: number, maxBytes = 1 << 20, maxWaitMs = 0) {
  return { replicaId: -1, maxWaitMs, minBytes: 1, maxBytes, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: maxBytes }] }], forgottenTopicsData: [], rackId: '' };
}

/** Sends raw frames on a fresh socket and collects response frames (correlation ids in arrival order). */
async function raw(frames: Buffer[], expect: number): Promise<Buffer[]> {
  const [host, port] = b.bootstrap.split(':');
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: Number(port) }, () => {
      for (const f of frames) s.write(f);
    });
    const decoder = new FrameDecoder(1 << 26);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      got.push(...decoder.push(d));
      if (got.length >= expect) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

test('an ApiVersions version the broker does not serve gets a v0 body with UNSUPPORTED_VERSION and the ApiVersions range', async () => {
  for (const version of [4, 99]) {
    const frame = Buffer.concat(encodeRequestFrame(18, 0, 77, 'x', {}));
    frame.writeInt16BE(version, 6); // patch the request's api_version
    const [res] = await raw([frame], 1);
    assert.equal(res.readInt32BE(0), 77, 'correlation id, response header v0');
    assert.equal(res.readInt16BE(4), 35, 'UNSUPPORTED_VERSION');
    assert.equal(res.readInt32BE(6), 1, 'one api key entry');
    assert.deepEqual([res.readInt16BE(10), res.readInt16BE(12), res.readInt16BE(14)], [18, 0, 3]);
  }
});

test('ApiVersions v3 (flexible request) is answered with response header v0 and advertises min version 0 everywhere', async () => {
  const [res] = await raw([Buffer.concat(encodeRequestFrame(18, 3, 5, 'x', { clientSoftwareName: 'test', clientSoftwareVersion: '1' }))], 1);
  assert.equal(res.readInt32BE(0), 5);
  assert.equal(res.readInt16BE(4), 0, 'error code directly after the v0 header');
  const parsed = await c.request(18, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
  assert.ok(parsed.apiKeys.length >= 20);
  for (const k of parsed.apiKeys) assert.equal(k.minVersion, 0, `api ${k.apiKey} must advertise min version 0`);
});

test('pipelined requests are answered in order even when an earlier one long-polls', async () => {
  await createTopic('pipeline');
  const frames = [
    Buffer.concat(encodeRequestFrame(1, 11, 1, 'x', fetchReq('pipeline', 0, 1 << 20, 300))),
    Buffer.concat(encodeRequestFrame(18, 2, 2, 'x', {})),
    Buffer.concat(encodeRequestFrame(3, 6, 3, 'x', { topics: null, allowAutoTopicCreation: false })),
  ];
  const res = await raw(frames, 3);
  assert.deepEqual(res.map((r) => r.readInt32BE(0)), [1, 2, 3]);
});

test('a long poll on several partitions wakes when any of them gets data, and when its topic is deleted', { timeout: 60_000 }, async () => {
  // maxWaitMs far above the test's timeout: only a wake can end these polls in time.
  const poll = (topic: string, partitions: number[]) => ({
    ...fetchReq(topic, 0, 1 << 20, 600_000),
    topics: [{ topic, partitions: partitions.map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 })) }],
  });
  const waiter = await TestKafkaClient.connect(b.bootstrap);
  try {
    await createTopic('longpoll', 3);
    const pending = waiter.request(1, 11, poll('longpoll', [0, 1, 2]));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await produce('longpoll', buildBatch({ records: [{ value: 'x' }] }), 2)).responses[0].partitionResponses[0].errorCode, 0);
    const res = await pending;
    const parts = res.responses[0].partitions;
    assert.equal(parts.find((p: { partitionIndex: number }) => p.partitionIndex === 2).records.length > 0, true);
    assert.deepEqual(parts.map((p: { errorCode: number }) => p.errorCode), [0, 0, 0]);

    await createTopic('doomed', 2);
    const doomed = waiter.request(1, 11, poll('doomed', [0, 1]));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await c.request(20, 3, { topicNames: ['doomed'], timeoutMs: 5000 })).responses[0].errorCode, 0);
    // Deleting a partition wakes its polls; the read after the wake may still find the other
    // partition, not yet deleted, empty.
    const gone: Array<{ errorCode: number; records: Buffer | null }> = (await doomed).responses[0].partitions;
    assert.ok(gone.some((p) => p.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), JSON.stringify(gone.map((p) => p.errorCode)));
    assert.ok(gone.every((p) => p.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || (p.errorCode === 0 && (p.records?.length ?? 0) === 0)));
  } finally {
    waiter.close();
  }
});

test('versions advertised but not served answer UNSUPPORTED_VERSION in the body', async () => {
  await createTopic('old-versions');
  const p = await produce('old-versions', buildBatch({ records: [{ value: 'x' }] }), 0, 2);
  assert.equal(p.responses[0].partitionResponses[0].errorCode, ErrorCode.UNSUPPORTED_VERSION);
  const f = await c.request(1, 3, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1000, topics: [{ topic: 'old-versions', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1000 }] }] });
  assert.equal(f.responses[0].partitions[0].errorCode, ErrorCode.UNSUPPORTED_VERSION);
});

test('an api version above the advertised range closes the connection (as Kafka does)', async () => {
  const frame = Buffer.concat(encodeRequestFrame(3, 6, 9, 'x', { topics: null, allowAutoTopicCreation: false }));
  frame.writeInt16BE(12, 6);
  const res = await raw([frame], 1);
  assert.equal(res.length, 0);
});

test('fetch returns whole batches from the one containing the offset, LSO = HWM, no aborted transactions, preferred replica -1', async () => {
  await createTopic('fetch-rules');
  await produce('fetch-rules', buildBatch({ records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] }));
  await produce('fetch-rules', buildBatch({ records: [{ value: 'd' }] }));
  const res = await c.request(1, 11, fetchReq('fetch-rules', 1));
  const p = res.responses[0].partitions[0];
  assert.equal(p.errorCode, 0);
  assert.equal(p.highWatermark, 4);
  assert.equal(p.lastStableOffset, 4);
  assert.deepEqual(p.abortedTransactions, []);
  assert.equal(p.preferredReadReplica, -1);
  assert.equal(p.records.readBigInt64BE(0), 0n, 'starts with the batch containing offset 1');
  const past = await c.request(1, 11, fetchReq('fetch-rules', 5));
  assert.equal(past.responses[0].partitions[0].errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  const atEnd = await c.request(1, 11, fetchReq('fetch-rules', 4, 1 << 20, 200));
  assert.equal(atEnd.responses[0].partitions[0].errorCode, 0, 'a long-poll at the end answers by max_wait');
  assert.equal(atEnd.responses[0].partitions[0].records?.length ?? 0, 0);
});

test('idempotence: an exact retry gets the original offsets, a gap OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH', async () => {
  await createTopic('idem');
  const init = await c.request(22, 1, { transactionalId: null, transactionTimeoutMs: 60000 });
  assert.equal(init.errorCode, 0);
  const pid = init.producerId;
  const batch = (seq: number, epoch = init.producerEpoch, n = 2) => buildBatch({ records: Array.from({ length: n }, (_, i) => ({ value: `v${seq + i}` })), producerId: pid, producerEpoch: epoch, baseSequence: seq });
  const first = await produce('idem', batch(0));
  assert.equal(first.responses[0].partitionResponses[0].baseOffset, 0);
  await produce('idem', batch(2));
  const retry = await produce('idem', batch(0));
  assert.equal(retry.responses[0].partitionResponses[0].errorCode, 0);
  assert.equal(retry.responses[0].partitionResponses[0].baseOffset, 0, 'duplicate answered with the original offset');
  const gap = await produce('idem', batch(10));
  assert.equal(gap.responses[0].partitionResponses[0].errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  const bumped = await produce('idem', batch(0, init.producerEpoch + 1));
  assert.equal(bumped.responses[0].partitionResponses[0].errorCode, 0, 'a new epoch starts at sequence 0');
  const stale = await produce('idem', batch(4, init.producerEpoch));
  assert.equal(stale.responses[0].partitionResponses[0].errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  const list = await c.request(2, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'idem', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] });
  assert.equal(list.topics[0].partitions[0].offset, 6, 'nothing was appended twice');
  const again = await c.request(22, 1, { transactionalId: null, transactionTimeoutMs: 60000 });
  assert.notEqual(again.producerId, pid, 'every InitProducerId gets a fresh producer id');
});

test('produce validation answers with Kafka error codes', async () => {
  await createTopic('valid', 1, [{ name: 'max.message.bytes', value: '2000' }]);
  const good = buildBatch({ records: [{ value: 'ok' }] });
  const badCrc = Buffer.from(good);
  badCrc[badCrc.length - 1] ^= 1;
  const nonZeroBase = Buffer.from(good);
  nonZeroBase.writeBigInt64BE(5n, 0);
  const huge = buildBatch({ records: [{ value: Buffer.alloc(3000, 1) }] });
  const cases: Array<[string, Buffer, number]> = [
    ['bad CRC', badCrc, ErrorCode.CORRUPT_MESSAGE],
    ['base offset not 0', nonZeroBase, ErrorCode.INVALID_RECORD],
    ['over max.message.bytes', huge, ErrorCode.MESSAGE_TOO_LARGE],
    ['two batches', Buffer.concat([good, good]), ErrorCode.INVALID_RECORD],
    ['truncated', good.subarray(0, good.length - 3), ErrorCode.CORRUPT_MESSAGE],
  ];
  for (const [what, records, code] of cases) {
    const res = await produce('valid', records);
    assert.equal(res.responses[0].partitionResponses[0].errorCode, code, what);
  }
  const unknown = await produce('no-such-topic', good);
  assert.equal(unknown.responses[0].partitionResponses[0].errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const badPartition = await produce('valid', good, 7);
  assert.equal(badPartition.responses[0].partitionResponses[0].errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const internal = await produce('__consumer_offsets', good);
  assert.equal(internal.responses[0].partitionResponses[0].errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
  const acks = await produce('valid', good, 0, 7, 2);
  assert.equal(acks.responses[0].partitionResponses[0].errorCode, ErrorCode.INVALID_REQUIRED_ACKS);
  const list = await c.request(2, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'valid', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] });
  assert.equal(list.topics[0].partitions[0].offset, 0, 'no rejected batch was stored');
});

test('min.insync.replicas above 1 refuses acks=all with NOT_ENOUGH_REPLICAS before appending; acks=1 and acks=0 are written', async () => {
  await createTopic('min-isr', 1, [{ name: 'min.insync.replicas', value: '2' }]);
  const all = await produce('min-isr', buildBatch({ records: [{ value: 'refused' }] }), 0, 8, -1);
  const refused = all.responses[0].partitionResponses[0];
  assert.equal(refused.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
  assert.match(refused.errorMessage, /topic min-isr has min\.insync\.replicas=2 but partition 0 has 1 in-sync replica/);
  // Refused before the records are looked at, as Kafka's leader does: even a damaged batch gets it.
  const damaged = buildBatch({ records: [{ value: 'x' }] }).subarray(0, 30);
  assert.equal((await produce('min-isr', damaged, 0, 8, -1)).responses[0].partitionResponses[0].errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
  // acks=0 first: the acks=1 answer behind it on this connection comes after both are appended.
  c.send(0, 8, { transactionalId: null, acks: 0, timeoutMs: 5000, topicData: [{ name: 'min-isr', partitionData: [{ index: 0, records: buildBatch({ records: [{ value: 'zero' }] }) }] }] });
  const one = await produce('min-isr', buildBatch({ records: [{ value: 'one' }] }), 0, 8, 1);
  assert.equal(one.responses[0].partitionResponses[0].errorCode, ErrorCode.NONE);
  assert.equal(one.responses[0].partitionResponses[0].baseOffset, 1, 'the acks=0 batch took offset 0; the refused ones took none');
  // A topic without the setting takes acks=all as before.
  await createTopic('min-isr-default');
  assert.equal((await produce('min-isr-default', buildBatch({ records: [{ value: 'ok' }] }), 0, 8, -1)).responses[0].partitionResponses[0].errorCode, ErrorCode.NONE);
  const list = await c.request(2, 2, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'min-isr', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] });
  assert.equal(list.topics[0].partitions[0].offset, 2, 'the acks=1 and acks=0 records, nothing else');
});

test('topic administration errors: invalid name, bad partitions, existing topic, bad config, bad replication factor', async () => {
  const res = await c.request(19, 3, {
    topics: [
      { name: 'bad/name', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
      { name: 'zero-parts', numPartitions: 0, replicationFactor: 1, assignments: [], configs: [] },
      { name: 'valid', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
      { name: 'bad-config', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'flush.mode', value: 'maybe' }] },
      { name: 'rf3', numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.deepEqual(res.topics.map((t: { errorCode: number }) => t.errorCode), [
    ErrorCode.INVALID_TOPIC_EXCEPTION,
    ErrorCode.INVALID_PARTITIONS,
    ErrorCode.TOPIC_ALREADY_EXISTS,
    ErrorCode.INVALID_CONFIG,
    ErrorCode.INVALID_REPLICATION_FACTOR,
  ]);
  assert.match(res.topics[3].errorMessage, /flush.mode=maybe is not one of sync, async/);
  const del = await c.request(20, 1, { topicNames: ['nope', '__consumer_offsets'], timeoutMs: 5000 });
  assert.deepEqual(del.responses.map((r: { errorCode: number }) => r.errorCode), [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_TOPIC_EXCEPTION]);
});

test('DescribeConfigs returns the real topic and broker entries', async () => {
  await createTopic('described', 1, [{ name: 'retention.ms', value: '1234' }]);
  const res = await c.request(32, 2, { resources: [{ resourceType: 2, resourceName: 'described', configurationKeys: null }, { resourceType: 4, resourceName: '1', configurationKeys: null }], includeSynonyms: false });
  const topic = new Map(res.results[0].configs.map((e: { name: string; value: string }) => [e.name, e]));
  for (const key of ['cleanup.policy', 'retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'flush.mode', 'max.message.bytes']) assert.ok(topic.has(key), key);
  assert.equal((topic.get('retention.ms') as { value: string }).value, '1234');
  assert.equal((topic.get('flush.mode') as { value: string }).value, 'sync');
  assert.ok(res.results[1].configs.some((e: { name: string }) => e.name === 'node.id'));
});

test('requests written in random pieces (size prefixes, API keys and large produces split across reads) are all read, answered in order and appended', { timeout: 60_000 }, async () => {
  // The listener reads into a per-connection scratch and large requests straight into their own
  // buffers (FrameReader with onread): every way TCP can cut the stream must give the same requests.
  await createTopic('pieces');
  const rng = new Rng(31);
  const frames: Buffer[] = [];
  const kinds: Array<'produce' | 'apiVersions'> = [];
  const values: Buffer[] = [];
  const counts: number[] = [];
  for (let i = 0; i < 60; i++) {
    if (rng.int(0, 4) === 0) {
      frames.push(Buffer.concat(encodeRequestFrame(18, 0, i, 'pieces', {})));
      kinds.push('apiVersions');
      counts.push(0);
      continue;
    }
    // Up to ~300 KB: some come whole in one read, others span many.
    const recs = Array.from({ length: rng.int(1, 4) }, () => rng.bytes(rng.pick([10, 1000, 70_000])));
    values.push(...recs);
    counts.push(recs.length);
    frames.push(Buffer.concat(encodeRequestFrame(0, 7, i, 'pieces', { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'pieces', partitionData: [{ index: 0, records: buildBatch({ records: recs.map((value) => ({ value })) }) }] }] })));
    kinds.push('produce');
  }
  const stream = Buffer.concat(frames);
  const [host, port] = b.bootstrap.split(':');
  const answers = await new Promise<Buffer[]>((resolve, reject) => {
    const s = connect({ host, port: Number(port), noDelay: true }, async () => {
      // Cuts near frame boundaries (inside a size prefix or an API key, or just after them), so a
      // read may hold whole frames and then the start of the next; and random cuts inside large
      // frames. Each piece is written after the last has left, so reads see the cuts.
      const cuts = new Set<number>([stream.length]);
      let start = 0;
      for (const f of frames) {
        if (rng.int(0, 1) === 0) cuts.add(Math.max(1, start + rng.int(-3, 6)));
        for (let at = start + rng.int(1, 60_000); at < start + f.length; at += rng.int(1, 60_000)) cuts.add(at);
        start += f.length;
      }
      let at = 0;
      for (const cut of [...cuts].sort((x, y) => x - y)) {
        await new Promise<void>((r) => s.write(stream.subarray(at, cut), () => setTimeout(r, 1)));
        at = cut;
      }
    });
    const decoder = new FrameDecoder(1 << 26);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      got.push(...decoder.push(d));
      if (got.length === frames.length) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`the broker closed the connection after ${got.length} of ${frames.length} answers`)));
  });
  let next = 0;
  for (const [i, frame] of answers.entries()) {
    if (kinds[i] === 'apiVersions') {
      const r = decodeResponse(18, 0, frame);
      assert.equal(r.correlationId, i);
      assert.equal((r.body as { errorCode: number }).errorCode, 0);
      continue;
    }
    const r = decodeResponse(0, 7, frame);
    assert.equal(r.correlationId, i, 'answered in order');
    const p = (r.body as { responses: Array<{ partitionResponses: Array<{ errorCode: number; baseOffset: bigint | number }> }> }).responses[0].partitionResponses[0];
    assert.equal(p.errorCode, 0);
    assert.equal(Number(p.baseOffset), next, `request ${i} appended after the ones before it`);
    next += counts[i];
  }
  // Every record reads back as sent.
  const read: Buffer[] = [];
  while (read.length < values.length) {
    const res = await c.request(1, 11, fetchReq('pieces', read.length, 4 << 20));
    const part = res.responses[0].partitions[0];
    assert.equal(part.errorCode, 0);
    for (const batch of decodeBatches(part.records)) for (const rec of batch.records) if (rec.offset >= read.length) read.push(rec.value as Buffer);
  }
  assert.equal(read.length, values.length);
  for (const [i, v] of values.entries()) assert.ok(read[i].equals(v), `record ${i}`);
});
