// A broker never fills its disk: Produce is refused (KAFKA_STORAGE_ERROR, retriable, with the
// directory, the free bytes and the limit) once an append would leave less than
// disk.min.free.bytes, while reads, offset commits and topic deletion go on; freed space lets
// produce resume. Over the simulated file system with a capacity, and over the real disk.
import { test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { buildBatch } from '../../src/record/index.ts';
import { ErrorCode } from '../../src/protocol/kafka/index.ts';
import { DiskSpace, NodeFileSystem, SimFileSystem } from '../../src/storage/index.ts';
import { Rng, createLogger, silentLogger } from '../../src/util/index.ts';
import { startBroker } from '../../src/broker/index.ts';
import { Producer } from '../../src/client/index.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';
import { assertAll, commit, fetchOffsets, waitFor } from '../groups/wire.ts';

test('DiskSpace: admits appends against the last reading less what it admitted since, and says why it refuses', async () => {
  const sim = new SimFileSystem({ rng: new Rng(1), capacityBytes: 10_000 });
  const fs = sim.mount();
  await fs.mkdir('/d');
  const h = await fs.open('/d/f', 'create');
  await h.write(Buffer.alloc(2_000), 0, 2_000, 0);
  const disk = new DiskSpace(fs, '/d', 3_000, silentLogger);
  await disk.refresh();
  assert.equal(disk.freeBytes, 8_000);
  assert.equal(disk.admit(4_000), null);
  assert.equal(disk.freeBytes, 4_000, 'admitted bytes count before any reading sees them');
  const refusal = disk.admit(1_001);
  assert.ok(refusal !== null && refusal.includes('/d') && refusal.includes('4000 bytes free') && refusal.includes('1001 bytes') && refusal.includes('disk.min.free.bytes (3000)'), String(refusal));
  assert.equal(disk.freeBytes, 4_000, 'a refused append is not counted');
  assert.equal(disk.admit(1_000), null, 'exactly the reserve left is allowed');
  assert.notEqual(disk.admit(1), null);

  // A new reading replaces the estimate: nothing was really written, so the space is back.
  await disk.refresh();
  assert.equal(disk.freeBytes, 8_000);
  // Bytes admitted while a reading is in flight are still subtracted from it.
  const reading = disk.refresh();
  assert.equal(disk.admit(500), null);
  await reading;
  assert.equal(disk.freeBytes, 7_500);

  // What is really written shows at the next reading; a failed reading keeps the last one.
  await h.write(Buffer.alloc(6_000), 0, 6_000, 2_000);
  await disk.refresh();
  assert.equal(disk.freeBytes, 2_000);
  assert.notEqual(disk.admit(1), null);
  sim.failNext({ op: 'statfs', code: 'EIO' });
  await disk.refresh();
  assert.equal(disk.freeBytes, 2_000);
  await h.truncate(0);
  await disk.refresh();
  assert.equal(disk.freeBytes, 10_000);
  assert.equal(disk.admit(7_000), null);
  assert.throws(() => new DiskSpace(fs, '/d', -1, silentLogger), RangeError);
});

function produce(c: TestKafkaClient, topic: string, records: number, bytes: number) {
  const batch = buildBatch({ records: Array.from({ length: records }, (_, i) => ({ value: Buffer.alloc(bytes, i & 0xff) })) });
  return c.request(0, 8, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
}

test('a broker refuses produce before its disk is full; reads and commits go on; deleting a topic lets produce resume', async () => {
  const capacity = 1024 * 1024;
  const reserve = 256 * 1024;
  const sim = new SimFileSystem({ rng: new Rng(3), capacityBytes: capacity });
  let fatal: Error | null = null;
  const broker = await startBroker({
    dataDir: '/data',
    port: 0,
    fs: sim.mount(),
    logger: process.env.DEBUG_DISK ? createLogger({ level: 'debug' }) : silentLogger,
    onFatal: (err) => (fatal = err),
    config: { 'num.partitions': 1, 'disk.min.free.bytes': reserve, 'disk.check.interval.ms': 50 },
  });
  const c = await TestKafkaClient.connect(`127.0.0.1:${broker.port}`);
  try {
    await c.request(3, 6, { topics: [{ name: 'fill' }, { name: 'other' }], allowAutoTopicCreation: true });
    let acked = 0;
    let refusal: { errorCode: number; errorMessage: string | null } | null = null;
    for (let i = 0; i < 200 && refusal === null; i++) {
      const r = (await produce(c, 'fill', 20, 1000)).responses[0].partitionResponses[0];
      if (r.errorCode === 0) acked += 20;
      else refusal = r;
    }
    assert.ok(refusal !== null, 'produce was refused before 200 batches of 20 KB filled a 1 MiB disk');
    assert.equal(refusal.errorCode, ErrorCode.KAFKA_STORAGE_ERROR);
    assert.match(String(refusal.errorMessage), /disk nearly full: \/data has \d+ bytes free .* disk\.min\.free\.bytes \(262144\)/);
    assert.ok(acked > 0);
    assert.equal(fatal, null, 'the broker never ran into ENOSPC');
    assert.ok(sim.usedBytes() < capacity, `${sim.usedBytes()} bytes used of ${capacity}`);
    // Still refused after fresh readings: the space is really used (the estimate was not low).
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await produce(c, 'other', 20, 1000)).responses[0].partitionResponses[0].errorCode, ErrorCode.KAFKA_STORAGE_ERROR);

    // Everything acknowledged reads back; an offset commit (the reserve is for such writes) works.
    const { records } = await fetchAll(c, 'fill', 0);
    assert.equal(records.length, acked);
    assertAll(await commit(c, { groupId: 'g', offsets: [{ topic: 'fill', partition: 0, offset: acked }] }), 0, 'commit while produce is refused');
    assert.equal((await fetchOffsets(c, 'g', [{ name: 'fill', partitions: [0] }])).offsets.get('fill/0')?.offset, acked);

    // Deleting the topic frees its space: produce resumes at once.
    const deleted = await c.request(20, 3, { topicNames: ['fill'], timeoutMs: 5000 });
    assert.equal(deleted.responses[0].errorCode, 0);
    assert.ok(await waitFor(async () => (await produce(c, 'other', 1, 10)).responses[0].partitionResponses[0].errorCode === 0, 5000), 'produce accepted after space was freed');
    assert.equal(fatal, null);
  } finally {
    c.close();
    await broker.close();
  }
});

test('over the real disk: a reserve larger than the free space refuses produce with a clear, retriable error the producer reports', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'holdfast-disk-'));
  const free = await new NodeFileSystem().freeBytes(dataDir);
  assert.ok(free > 0 && Number.isSafeInteger(free), `statfs reads ${free} free bytes`);
  const broker = await startBroker({
    dataDir,
    port: 0,
    logger: silentLogger,
    config: { 'disk.min.free.bytes': Number.MAX_SAFE_INTEGER, 'num.partitions': 1 },
  });
  const producer = new Producer({ brokers: [`127.0.0.1:${broker.port}`], deliveryTimeoutMs: 1500, retryBackoffMs: 50 });
  try {
    const err = await producer.send({ topic: 'refused', value: Buffer.from('x') }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err !== null, 'the send failed');
    // The producer retried the retriable error until its delivery timeout, then reported the
    // broker's words: the directory, the free bytes, the limit, and the Kafka error code.
    assert.ok(err.message.includes(`disk nearly full: ${dataDir} has`) && err.message.includes('KAFKA_STORAGE_ERROR') && err.message.includes('disk.min.free.bytes (9007199254740991)'), err.message);
  } finally {
    await producer.close();
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
