// Fetch answers read from segment files (a consumer behind the tail cache) are read into pooled
// memory (receiveSlabs.takeOwn) and go back to it once the answer is sent, instead of taking fresh
// memory for every read. Recycled buffers are poisoned here, so an answer whose buffer went back
// before it was sent would carry garbage, and its values would not match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEYS } from '../../src/protocol/kafka/index.ts';
import { decodeBatches } from '../../src/record/index.ts';
import { receiveSlabs } from '../../src/util/index.ts';
import { withBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { produce } from '../client/consumer-helpers.ts';

process.env.HOLDFAST_POISON_RECYCLED = '1';

const PARTITIONS = 4;
const PER_PARTITION = 6000; // ~6 MB of 1,000-byte values each, in batches of 500
const VALUE_BYTES = 1000;
const MiB = 1024 * 1024;

function valueOf(partition: number, i: number): Buffer {
  const v = Buffer.alloc(VALUE_BYTES, (partition * 31 + i) & 0xff);
  v.writeUInt32BE(i, 0);
  return v;
}

function fetchRequest(offsets: readonly number[], partitionMaxBytes: number) {
  return {
    replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 64 * MiB, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic: 'files', partitions: offsets.map((fetchOffset, p) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes })) }],
    forgottenTopicsData: [], rackId: '',
  };
}

/** Checks every value of a Fetch answer against what was produced; returns the number of records. */
function checkAnswer(res: { responses: Array<{ partitions: Array<{ partitionIndex: number; errorCode: number; records: Buffer | Buffer[] }> }> }, what: string): number {
  let count = 0;
  for (const part of res.responses[0].partitions) {
    assert.equal(part.errorCode, 0, `${what}: partition ${part.partitionIndex}`);
    for (const batch of decodeBatches(Buffer.isBuffer(part.records) ? part.records : Buffer.concat(part.records))) {
      for (const r of batch.records) {
        assert.ok(r.value!.equals(valueOf(part.partitionIndex, r.offset)), `${what}: partition ${part.partitionIndex} offset ${r.offset} is not what was produced`);
        count++;
      }
    }
  }
  return count;
}

test('reads from segment files go into pooled memory, kept by their answer until it is sent, then reused', { timeout: 180_000 }, async () => {
  // No tail cache: every answer is read from the files.
  await withBroker({ 'tail.cache.total.bytes': 0 }, async (b, wire) => {
    await b.broker.createTopic('files', PARTITIONS, {});
    for (let p = 0; p < PARTITIONS; p++) {
      await produce(wire, 'files', p, Array.from({ length: PER_PARTITION }, (_, i) => ({ value: valueOf(p, i) })), 500);
    }
    const budget = b.broker.fetchFileReads;
    const held = await TestKafkaClient.connect(b.bootstrap);
    const other = await TestKafkaClient.connect(b.bootstrap);
    try {
      // A reader that does not read: its ~16 MB answer (4 MiB a partition, read into 4 pooled
      // buffers) fills the kernel's buffers, and the rest waits in the broker.
      held.pause();
      const heldAnswer = held.request(API_KEYS.Fetch, 11, fetchRequest([0, 0, 0, 0], 4 * MiB));
      heldAnswer.catch(() => undefined); // its connection closes unanswered if an assertion below fails first
      const deadline = Date.now() + 10_000;
      while (budget.used === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(budget.used >= 4 * 4 * MiB, `the waiting answer pins its four reads (${budget.used} bytes in the file-read budget)`);

      // Meanwhile other fetches, from other offsets, 1 MiB a partition: their buffers go back once
      // each answer is sent and the next reads take them again. Had the waiting answer's buffers
      // gone back early, these reads would have overwritten them.
      const reusedBefore = receiveSlabs.reused;
      const allocatedBefore = receiveSlabs.allocated;
      let reads = 0;
      for (let round = 0; round < 20; round++) {
        const from = 1000 + round * 200;
        const res = await other.request(API_KEYS.Fetch, 11, fetchRequest([from, from + 50, from + 100, from + 150], MiB));
        assert.ok(checkAnswer(res, `round ${round}`) >= PARTITIONS * 500, `round ${round} returned whole batches from every partition`);
        reads += PARTITIONS;
      }
      const reused = receiveSlabs.reused - reusedBefore;
      const allocated = receiveSlabs.allocated - allocatedBefore;
      assert.ok(reused >= reads - 2 * PARTITIONS, `${reads} reads took ${reused} pooled buffers again and ${allocated} new ones`);
      assert.ok(allocated <= 2 * PARTITIONS, `${reads} reads allocated ${allocated} new pooled buffers: reads should reuse them`);

      held.resume();
      assert.equal(checkAnswer(await heldAnswer, 'the answer that waited'), PARTITIONS * 4 * 1000, 'the answer that waited carries its 4 MiB of whole batches a partition');
      const settled = Date.now() + 10_000;
      while (budget.used > 0 && Date.now() < settled) await new Promise((r) => setTimeout(r, 20));
      assert.equal(budget.used, 0, 'every read was given back once its answer was sent');
    } finally {
      held.close();
      other.close();
    }
  });
});
