// Produce requests that span received chunks are assembled in pooled memory (receiveSlabs) that is
// reused once the listener, the log's writer, the tail cache and every fetch answer holding a view
// of it have given their references back. Recycled buffers are poisoned here, so a holder that
// kept a view without its reference serves garbage, which a consumer's CRC check refuses: a small
// tail cache evicts all the time, one consumer tails the log (answers from the cache) while the
// data is produced, another reads it all afterwards (mostly from the files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/index.ts';
import { API_KEYS } from '../../src/protocol/kafka/index.ts';
import { decodeBatches } from '../../src/record/index.ts';
import { receiveSlabs } from '../../src/util/index.ts';
import { withBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { produce } from '../client/consumer-helpers.ts';

process.env.HOLDFAST_POISON_RECYCLED = '1';

const PARTITIONS = 2;
const PER_PARTITION = 6000;
const VALUE_BYTES = 1000;

function valueOf(partition: number, i: number): Buffer {
  const v = Buffer.alloc(VALUE_BYTES, (partition * 31 + i) & 0xff);
  v.writeUInt32BE(i, 0);
  return v;
}

/** Consumes everything from the earliest offset, checking each value; resolves with the count. */
async function consumeAll(bootstrap: string, group: string, total: number): Promise<number> {
  const seen = Array.from({ length: PARTITIONS }, () => new Set<number>());
  let count = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  let bad: string | null = null;
  const c = new Consumer({ brokers: [bootstrap], groupId: group, topics: ['pooled'], autoOffsetReset: 'earliest', maxWaitMs: 200, maxPartitionFetchBytes: 512 * 1024 });
  const running = c.run((m) => {
    const i = m.value!.readUInt32BE(0);
    if (!m.value!.equals(valueOf(m.partition, i))) bad ??= `partition ${m.partition} offset ${m.offset}: value ${i} differs from what was sent`;
    if (!seen[m.partition].has(i)) {
      seen[m.partition].add(i);
      if (++count === total) done();
    }
  });
  await Promise.race([all, running]);
  await c.close();
  await running;
  assert.equal(bad, null);
  return count;
}

test('pooled produce frames are reused only after every holder let go: no consumer reads a recycled buffer', { timeout: 180_000 }, async () => {
  await withBroker({ 'group.initial.rebalance.delay.ms': 0, 'tail.cache.total.bytes': 3 * 1024 * 1024 }, async (b, wire) => {
    await b.broker.createTopic('pooled', PARTITIONS, {});
    const reusedBefore = receiveSlabs.reused;
    const total = PARTITIONS * PER_PARTITION;
    const tailing = consumeAll(b.bootstrap, 'tail', total);
    // Requests of ~100 KB (carved from shared slabs) and ~400 KB (a buffer each), interleaved
    // across the partitions, so that slabs mix partitions and the cache evicts while consumed.
    for (let i = 0, round = 0; i < PER_PARTITION; round++) {
      const n = Math.min(round % 2 === 0 ? 100 : 400, PER_PARTITION - i);
      for (let p = 0; p < PARTITIONS; p++) {
        await produce(wire, 'pooled', p, Array.from({ length: n }, (_, k) => ({ key: `${p}:${i + k}`, value: valueOf(p, i + k) })), n);
      }
      i += n;
    }
    assert.equal(await tailing, total);
    assert.equal(await consumeAll(b.bootstrap, 'late', total), total);
    assert.ok(receiveSlabs.reused > reusedBefore, `no pooled buffer was reused (${receiveSlabs.reused - reusedBefore}): the test would prove nothing`);
  });
});

test('a fetch answer still waiting to be sent keeps its tail-cache buffers from reuse while the cache moves on', { timeout: 180_000 }, async () => {
  const partitions = 4;
  const batches = 8; // per partition, of 500 values: 16 MiB in all, in the tail caches
  // The caches together hold 40 of these requests (each pins a 512 KiB buffer).
  await withBroker({ 'tail.cache.total.bytes': 20 * 1024 * 1024 }, async (b, wire) => {
    await b.broker.createTopic('held', partitions, {});
    const values = (p: number, from: number, n: number) => Array.from({ length: n }, (_, k) => ({ value: valueOf(p, from + k) }));
    for (let p = 0; p < partitions; p++) {
      for (let i = 0; i < batches; i++) await produce(wire, 'held', p, values(p, i * 500, 500), 500);
    }
    // A reader that does not read: its ~16 MiB answer fills the kernel's buffers, the rest waits in the broker.
    const reader = await TestKafkaClient.connect(b.bootstrap);
    try {
      reader.pause();
      const answer = reader.request(API_KEYS.Fetch, 11, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 64 * 1024 * 1024, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: 'held', partitions: Array.from({ length: partitions }, (_, p) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 8 * 1024 * 1024 })) }],
        forgottenTopicsData: [], rackId: '',
      });
      await new Promise((r) => setTimeout(r, 300));
      // 64 more: every entry the answer was built from is evicted, and so are 24 of these, whose
      // buffers are reused by the last of them (the answer's would be too, had it let go of them).
      const reusedBefore = receiveSlabs.reused;
      for (let round = 0; round < 2 * batches; round++) {
        for (let p = 0; p < partitions; p++) await produce(wire, 'held', p, values(p, (batches + round) * 500, 500), 500);
      }
      assert.ok(receiveSlabs.reused > reusedBefore, 'buffers were reused meanwhile');
      reader.resume();
      const res = await answer;
      let count = 0;
      for (const part of res.responses[0].partitions) {
        assert.equal(part.errorCode, 0);
        for (const batch of decodeBatches(Buffer.isBuffer(part.records) ? part.records : Buffer.concat(part.records))) {
          for (const r of batch.records) {
            assert.ok(r.value!.equals(valueOf(part.partitionIndex, r.offset)), `partition ${part.partitionIndex} offset ${r.offset} changed while its answer waited`);
            count++;
          }
        }
      }
      assert.equal(count, partitions * batches * 500);
    } finally {
      reader.close();
    }
  });
});
