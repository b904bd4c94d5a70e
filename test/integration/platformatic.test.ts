// @platformatic/kafka 2.12.1 against Holdfast: the Admin client (create, list, describe, delete
// topics), an idempotent producer sending keyed messages with headers through every codec, and
// the Consumer's low-level fetch() and listOffsets() — no consumer group calls (Holdfast has no
// group coordinator yet). Everything is compared byte for byte with what was sent, and
// cross-checked against the broker's own view over the wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Admin, Consumer, Producer, ProduceAcks, ConfigResourceTypes } from '@platformatic/kafka';
import { Rng } from '../../src/util/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

const NODE_ID = 1;
/** Client calls fail instead of retrying for minutes: a broker error must surface in the test. */
const CLIENT_OPTIONS = { retries: 2, retryDelay: 100, timeout: 10_000 } as const;

let b: EmbeddedBroker;
let client: TestKafkaClient;
let admin: Admin;
let consumer: Consumer;

before(async () => {
  b = await embeddedBroker();
  client = await TestKafkaClient.connect(b.bootstrap);
  admin = new Admin({ clientId: 'plt-admin', bootstrapBrokers: [b.bootstrap], ...CLIENT_OPTIONS });
  // fetch() and listOffsets() need a Consumer, which needs a groupId; neither call touches the group.
  consumer = new Consumer({ clientId: 'plt-consumer', groupId: 'plt-unused-group', bootstrapBrokers: [b.bootstrap], ...CLIENT_OPTIONS });
});

after(async () => {
  await consumer.close();
  await admin.close();
  client.close();
  await b.close();
  removeDir(b.dataDir);
});

function errorText(err: unknown): string {
  return inspect(err, { depth: 8 });
}

// ---------------------------------------------------------------------------------------------
// 1. Admin.

test('Admin: createTopics, listTopics, metadata, describeConfigs and deleteTopics', { timeout: 60_000 }, async () => {
  const topic = 'plt-admin-topic';
  const created = await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1, configs: [{ name: 'retention.ms', value: '3600000' }] });
  assert.deepEqual(created.map((t) => t.name), [topic]);

  assert.ok((await admin.listTopics()).includes(topic), 'listTopics shows the new topic');

  const md = await admin.metadata({ topics: [topic], forceUpdate: true });
  assert.equal(md.controllerId, NODE_ID);
  assert.equal(typeof md.id, 'string');
  assert.ok(md.id.length > 0, 'a cluster id');
  const port = Number(b.bootstrap.split(':')[1]);
  assert.deepEqual([...md.brokers.entries()].map(([id, br]) => [id, br.host, br.port]), [[NODE_ID, '127.0.0.1', port]]);
  const t = md.topics.get(topic);
  assert.ok(t !== undefined, 'metadata has the topic');
  assert.equal(t.partitionsCount, 3);
  assert.deepEqual(
    t.partitions.map((p) => ({ leader: p.leader, replicas: p.replicas, isr: p.isr })),
    [0, 1, 2].map(() => ({ leader: NODE_ID, replicas: [NODE_ID], isr: [NODE_ID] })),
  );

  // The config given at creation is what DescribeConfigs reports for the topic.
  const described = await admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: ['retention.ms', 'cleanup.policy'] }] });
  assert.equal(described.length, 1);
  const values = Object.fromEntries(described[0].configs.map((c) => [c.name, c.value]));
  assert.deepEqual(values, { 'retention.ms': '3600000', 'cleanup.policy': 'delete' });

  // Creating it again fails with TOPIC_ALREADY_EXISTS.
  await assert.rejects(admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 }), (err) => /TOPIC_ALREADY_EXISTS|already exists/i.test(errorText(err)));

  await admin.deleteTopics({ topics: [topic] });
  assert.ok(!(await admin.listTopics()).includes(topic), 'listTopics no longer shows the deleted topic');
  // Deleting it again fails: the topic is unknown.
  await assert.rejects(admin.deleteTopics({ topics: [topic] }), (err) => /UNKNOWN_TOPIC_OR_PARTITION|unknown topic/i.test(errorText(err)));
});

// ---------------------------------------------------------------------------------------------
// 2. Idempotent producer, every codec, read back with fetch() and compared byte for byte.

interface Sent {
  id: number;
  partition: number | undefined;
  key: Buffer | undefined;
  value: Buffer | undefined;
  headers: Map<Buffer, Buffer>;
  timestamp: bigint | undefined;
}

interface ReadRecord {
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[Buffer | null, Buffer | null]>;
  attributes: number;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  batchFirstOffset: bigint;
}

const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const CODEC_BITS: Record<(typeof CODECS)[number], number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

/** A message whose id is recoverable from its value (first 4 bytes) or, for null values, its key. */
function makeMessage(rng: Rng, id: number, partitions: number, nowMs: number): Sent {
  const tombstone = id % 23 === 7;
  const value = tombstone ? undefined : Buffer.concat([Buffer.from([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]), rng.bytes(rng.int(0, 40)), Buffer.from('repeat '.repeat(rng.int(0, 100)))]);
  const key = tombstone || id % 5 !== 0 ? Buffer.from(`key-${id}-${rng.int(0, 1000)}`) : undefined; // every 5th has a null key
  const headers = new Map<Buffer, Buffer>();
  if (id % 3 !== 0) {
    headers.set(Buffer.from('seq'), Buffer.from(String(id)));
    headers.set(Buffer.from('bin'), rng.bytes(rng.int(0, 16)));
  }
  return {
    id,
    // Half the messages choose their partition; the rest go through plt's partitioner.
    partition: id % 2 === 0 ? rng.int(0, partitions - 1) : undefined,
    key,
    value,
    headers,
    // Explicit timestamps, earlier than the batch's default "now" ones, so deltas go negative. They
    // stay within 2^31 ms of it: @platformatic/dynamic-buffer 0.3.1 zigzag-encodes int64 varints with
    // `>> 31n` instead of `>> 63n`, so larger negative timestamp deltas are mis-encoded by the client.
    timestamp: id % 4 === 0 ? BigInt(nowMs - id * 1000) : undefined,
  };
}

function idOf(r: { key: Buffer | null; value: Buffer | null }): number {
  if (r.value !== null) return r.value.readUInt32BE(0);
  const m = /^key-(\d+)-/.exec(r.key?.toString() ?? '');
  assert.ok(m, `record without value has an id key: ${inspect(r)}`);
  return Number(m[1]);
}

/** Reads a partition from `from` to its high watermark with plt's low-level Consumer.fetch(). */
async function pltReadPartition(topic: string, partition: number, maxBytes = 1 << 20): Promise<{ records: ReadRecord[]; highWatermark: bigint }> {
  const records: ReadRecord[] = [];
  let offset = 0n;
  for (let round = 0; round < 10_000; round++) {
    const res = await consumer.fetch({
      node: NODE_ID,
      maxWaitTime: 0,
      minBytes: 0,
      maxBytes,
      topics: [{ topicId: topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, partitionMaxBytes: maxBytes }] }],
    });
    assert.equal(res.errorCode, 0);
    const p = res.responses[0].partitions[0];
    assert.equal(p.errorCode, 0, `fetch ${topic}-${partition}@${offset}`);
    let progressed = false;
    for (const batch of p.records ?? []) {
      for (const r of batch.records) {
        const recordOffset = batch.firstOffset + BigInt(r.offsetDelta);
        if (recordOffset < offset) continue; // the fetch starts at the batch that holds `offset`
        records.push({
          partition,
          offset: recordOffset,
          timestamp: batch.firstTimestamp + r.timestampDelta,
          key: r.key,
          value: r.value,
          headers: r.headers,
          attributes: batch.attributes,
          producerId: batch.producerId,
          producerEpoch: batch.producerEpoch,
          firstSequence: batch.firstSequence,
          batchFirstOffset: batch.firstOffset,
        });
        offset = recordOffset + 1n;
        progressed = true;
      }
    }
    if (offset >= p.highWatermark) return { records, highWatermark: p.highWatermark };
    assert.ok(progressed, `fetch ${topic}-${partition}@${offset} returned nothing below the high watermark ${p.highWatermark}`);
  }
  throw new Error(`reading ${topic}-${partition} did not finish`);
}

/** Buffer-or-null/undefined equality that names the message. */
function sameBytes(actual: Buffer | null, expected: Buffer | undefined, what: string): void {
  if (expected === undefined) assert.equal(actual, null, `${what} is null`);
  else {
    assert.ok(actual !== null, `${what} is not null`);
    assert.ok(actual.equals(expected), `${what}: ${actual.toString('hex')} != ${expected.toString('hex')}`);
  }
}

test('idempotent producer: 400 messages with keys and headers over five codecs, read back byte-exact with fetch()', { timeout: 60_000 }, async () => {
  const topic = 'plt-idempotent';
  const PARTITIONS = 3;
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  const producer = new Producer({ clientId: 'plt-producer', bootstrapBrokers: [b.bootstrap], idempotent: true, ...CLIENT_OPTIONS });
  const rng = new Rng(0x9147);
  const sent = new Map<number, Sent>();
  const sendCodec = new Map<number, (typeof CODECS)[number]>();
  // Per send: the base offset plt reported for each partition it wrote to.
  const reported: Array<{ ids: number[]; offsets: Map<number, bigint> }> = [];
  const TOTAL = 400;
  const PER_SEND = 40;
  const nowMs = Date.now();
  try {
    for (let start = 0, n = 0; start < TOTAL; start += PER_SEND, n++) {
      const codec = CODECS[n % CODECS.length];
      const batch: Sent[] = [];
      for (let id = start; id < start + PER_SEND; id++) batch.push(makeMessage(rng, id, PARTITIONS, nowMs));
      for (const m of batch) {
        sent.set(m.id, m);
        sendCodec.set(m.id, codec);
      }
      const result = await producer.send({
        compression: codec,
        messages: batch.map((m) => ({ topic, key: m.key, value: m.value, headers: m.headers, partition: m.partition, timestamp: m.timestamp })),
      });
      assert.ok(result.offsets !== undefined && result.offsets.length > 0, `send ${n} (${codec}) resolves with offsets`);
      const offsets = new Map<number, bigint>();
      for (const o of result.offsets) {
        assert.equal(o.topic, topic);
        assert.ok(o.offset >= 0n, `send ${n}: offset ${o.offset} for partition ${o.partition}`);
        offsets.set(o.partition, o.offset);
      }
      reported.push({ ids: batch.map((m) => m.id), offsets });
    }
    assert.equal(producer.producerEpoch, 0);
    assert.ok(producer.producerId !== undefined && producer.producerId >= 0n, 'the producer got a producer id');
  } finally {
    await producer.close();
  }

  const located = new Map<number, ReadRecord>();
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const { records, highWatermark } = await pltReadPartition(topic, partition);
    assert.equal(highWatermark, BigInt(records.length));
    let lastId = -1;
    let nextSequence = 0;
    let lastBatch = -1n;
    records.forEach((r, i) => {
      assert.equal(r.offset, BigInt(i), `${topic}-${partition}: offsets are contiguous from 0`);
      const id = idOf(r);
      const m = sent.get(id);
      assert.ok(m !== undefined, `${topic}-${partition}@${r.offset}: unknown message ${id}`);
      assert.ok(!located.has(id), `message ${id} read twice`);
      located.set(id, r);
      assert.ok(id > lastId, `${topic}-${partition}: message ${id} after ${lastId} breaks send order`);
      lastId = id;
      if (m.partition !== undefined) assert.equal(partition, m.partition, `message ${id} went to the partition it asked for`);
      sameBytes(r.key, m.key, `message ${id} key`);
      sameBytes(r.value, m.value, `message ${id} value`);
      assert.deepEqual(
        r.headers.map(([k, v]) => [k?.toString('hex'), v?.toString('hex')]),
        [...m.headers].map(([k, v]) => [k.toString('hex'), v.toString('hex')]),
        `message ${id} headers`,
      );
      if (m.timestamp !== undefined) assert.equal(r.timestamp, m.timestamp, `message ${id} timestamp`);
      // Stored batch: the send's codec, this producer, sequences contiguous per partition.
      assert.equal(r.attributes & 0x07, CODEC_BITS[sendCodec.get(id)!], `message ${id}: batch codec`);
      assert.equal(r.producerEpoch, 0);
      if (r.batchFirstOffset !== lastBatch) {
        assert.equal(r.firstSequence, nextSequence, `${topic}-${partition}@${r.batchFirstOffset}: batch sequence`);
        lastBatch = r.batchFirstOffset;
      }
      nextSequence = r.firstSequence + Number(r.offset - r.batchFirstOffset) + 1;
    });

    // The broker's own view of the partition, over the wire, matches what plt decoded.
    const wire = await fetchAll(client, topic, partition);
    assert.equal(wire.records.length, records.length);
    wire.records.forEach((w, i) => {
      const r = records[i];
      assert.equal(w.offset, Number(r.offset));
      assert.equal(w.timestamp, Number(r.timestamp));
      assert.deepEqual(w.key, r.key);
      assert.deepEqual(w.value, r.value);
      assert.deepEqual(
        w.headers.map((h) => [h.key, h.value]),
        r.headers.map(([k, v]) => [k?.toString(), v]),
      );
    });
  }
  assert.equal(located.size, TOTAL, 'every message read back exactly once');
  const producerIds = new Set([...located.values()].map((r) => r.producerId));
  assert.equal(producerIds.size, 1, 'one producer id for the whole run');

  // Every offset plt reported is the offset of the first message of that send in that partition.
  for (const [n, send] of reported.entries()) {
    for (const [partition, offset] of send.offsets) {
      const first = send.ids.map((id) => located.get(id)!).find((r) => r.partition === partition);
      assert.ok(first !== undefined, `send ${n} reported partition ${partition} that none of its messages reached`);
      assert.equal(offset, first.offset, `send ${n}: reported base offset for partition ${partition}`);
    }
    const partitionsUsed = new Set(send.ids.map((id) => located.get(id)!.partition));
    assert.deepEqual([...send.offsets.keys()].sort(), [...partitionsUsed].sort(), `send ${n} reports every partition it wrote to`);
  }
});

test('idempotent producer: concurrent sends to one partition keep their order', { timeout: 60_000 }, async () => {
  const topic = 'plt-concurrent';
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  const producer = new Producer({ clientId: 'plt-concurrent', bootstrapBrokers: [b.bootstrap], idempotent: true, ...CLIENT_OPTIONS });
  const SENDS = 20;
  try {
    const results = await Promise.all(
      Array.from({ length: SENDS }, (_, s) =>
        producer.send({ compression: s % 2 ? 'zstd' : 'none', messages: Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, value: Buffer.from(`s${s}-m${i}`) })) }),
      ),
    );
    const offsets = results.map((r) => r.offsets?.[0]?.offset);
    assert.deepEqual(offsets, Array.from({ length: SENDS }, (_, s) => BigInt(s * 10)), 'each send got the next ten offsets, in send order');
  } finally {
    await producer.close();
  }
  const { records } = await pltReadPartition(topic, 0);
  assert.deepEqual(
    records.map((r) => r.value?.toString()),
    Array.from({ length: SENDS * 10 }, (_, k) => `s${Math.floor(k / 10)}-m${k % 10}`),
  );
});

test('non-idempotent producer with acks=1 and acks=0', { timeout: 60_000 }, async () => {
  for (const acks of [ProduceAcks.LEADER, ProduceAcks.NO_RESPONSE]) {
    const topic = `plt-acks-${acks === ProduceAcks.LEADER ? 'leader' : 'none'}`;
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    const producer = new Producer({ clientId: 'plt-acks', bootstrapBrokers: [b.bootstrap], idempotent: false, acks, ...CLIENT_OPTIONS });
    try {
      for (let s = 0; s < 5; s++) {
        const result = await producer.send({ acks, messages: Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, value: Buffer.from(`a${acks}-${s * 10 + i}`) })) });
        if (acks === ProduceAcks.LEADER) assert.deepEqual(result.offsets?.map((o) => o.offset), [BigInt(s * 10)]);
      }
    } finally {
      await producer.close();
    }
    // acks=0 gets no answer: wait (bounded) until the broker has appended everything.
    let records: ReadRecord[] = [];
    for (let attempt = 0; attempt < 100 && records.length < 50; attempt++) {
      records = (await pltReadPartition(topic, 0)).records;
      if (records.length < 50) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(
      records.map((r) => [r.offset, r.value?.toString(), r.producerId]),
      Array.from({ length: 50 }, (_, k) => [BigInt(k), `a${acks}-${k}`, -1n]),
    );
  }
});

// ---------------------------------------------------------------------------------------------
// 3. listOffsets.

test('listOffsets: earliest and latest match what was produced; by timestamp finds the first record at or after it', { timeout: 60_000 }, async () => {
  const topic = 'plt-list-offsets';
  await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  const producer = new Producer({ clientId: 'plt-offsets', bootstrapBrokers: [b.bootstrap], idempotent: true, ...CLIENT_OPTIONS });
  const BASE = 1_650_000_000_000n;
  try {
    // Partition 0: 7 records in two sends; partition 1: 3; partition 2: none.
    // Timestamps +0, +10, ... +60 on partition 0.
    await producer.send({ messages: [0, 1, 2, 3].map((i) => ({ topic, partition: 0, value: Buffer.from(`p0-${i}`), timestamp: BASE + BigInt(i * 10) })) });
    await producer.send({ compression: 'gzip', messages: [4, 5, 6].map((i) => ({ topic, partition: 0, value: Buffer.from(`p0-${i}`), timestamp: BASE + BigInt(i * 10) })) });
    await producer.send({ messages: [0, 1, 2].map((i) => ({ topic, partition: 1, value: Buffer.from(`p1-${i}`) })) });
  } finally {
    await producer.close();
  }

  const latest = await consumer.listOffsets({ topics: [topic] });
  assert.deepEqual(latest.get(topic), [7n, 3n, 0n]);
  const earliest = await consumer.listOffsets({ topics: [topic], timestamp: -2n });
  assert.deepEqual(earliest.get(topic), [0n, 0n, 0n]);
  const latestExplicit = await consumer.listOffsets({ topics: [topic], timestamp: -1n, partitions: { [topic]: [0] } });
  assert.equal(latestExplicit.get(topic)?.[0], 7n);
  // The same answers plt's fetch() reports as the high watermark.
  assert.equal((await pltReadPartition(topic, 0)).highWatermark, 7n);

  // By timestamp (ListOffsets v1+): the first record whose timestamp is >= the target, with that
  // record's timestamp; -1 past the end.
  const byTime = async (target: bigint) => (await consumer.listOffsetsWithTimestamps({ topics: [topic], partitions: { [topic]: [0] }, timestamp: target })).get(topic)?.get(0);
  const cases: Array<[bigint, bigint, bigint]> = [
    [BASE - 1000n, 0n, BASE],
    [BASE + 15n, 2n, BASE + 20n],
    [BASE + 40n, 4n, BASE + 40n],
    [BASE + 45n, 5n, BASE + 50n],
    [BASE + 60n, 6n, BASE + 60n],
    [BASE + 61n, -1n, -1n],
  ];
  const got: string[] = [];
  for (const [target] of cases) {
    const r = await byTime(target);
    got.push(`+${target - BASE} -> offset ${r?.offset} timestamp ${r === undefined || r.timestamp < 0n ? r?.timestamp : `+${r.timestamp - BASE}`}`);
  }
  assert.deepEqual(
    got,
    cases.map(([target, offset, ts]) => `+${target - BASE} -> offset ${offset} timestamp ${ts < 0n ? ts : `+${ts - BASE}`}`),
  );
});
