// The consumer reads Fetch responses into reused memory (KafkaConnection.requestPooled) and hands
// out copies: whatever a handler keeps must stay as it was delivered while the memory it was
// fetched into is poisoned (HOLDFAST_POISON_RECYCLED, set by the test runner and here) and filled
// again by later responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, type ConsumerMessage } from '../../src/client/index.ts';
import { Rng, type ReceiveSlabs } from '../../src/util/index.ts';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { produce } from './consumer-helpers.ts';

// ~8 MB in ~1 KB records: with at most 1 MiB prefetched, the consumer's pool must give back (and
// poison) several buffers while the handler still holds messages fetched into them.
const N = 8000;

test('messages a handler keeps stay intact after the memory they were fetched into is reused', { timeout: 120_000 }, async () => {
  process.env.HOLDFAST_POISON_RECYCLED = '1';
  const b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0 });
  const wire = await TestKafkaClient.connect(b.bootstrap);
  try {
    await b.broker.createTopic('kept', 2, {});
    const rng = new Rng(77);
    const expected = [0, 1].map((p) => Array.from({ length: N / 2 }, (_, i) => ({ key: Buffer.from(`k-${p}-${i}`), value: rng.bytes(rng.int(500, 1500)), headers: { h: Buffer.from(`h-${p}-${i}`) } })));
    // Partition 1's batches are compressed: their records are views of the decompressed bytes,
    // which are never pooled, so they are not copied and must survive just the same.
    await produce(wire, 'kept', 0, expected[0], 100);
    await produce(wire, 'kept', 1, expected[1], 100, 'lz4');
    const kept: ConsumerMessage[] = [];
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => (done = r));
    // 128 KiB per partition to start with: a response (at least one ~100 KB batch) is larger than
    // one 64 KiB read, so it is read into the pool. 1 MiB prefetched at most: a response is at most
    // ~1.1 MiB, and few buffers are held at once, however fast this machine decodes.
    const c = new Consumer({ brokers: [b.bootstrap], groupId: 'g-kept', topics: ['kept'], autoOffsetReset: 'earliest', maxPartitionFetchBytes: 128 * 1024, maxPrefetchBytes: 1024 * 1024 });
    const running = c.run((m) => {
      kept.push(m);
      if (kept.length === N) done();
    });
    try {
      await all;
      // The test is only worth something if memory went back (and was poisoned) under the messages
      // kept, counted in buffers: a slab goes back once every frame carved from it was decoded.
      // ~8 MB through buffers of at most ~1.25 MiB is at least 6 buffers, all but the last two
      // given back by now. A CI run with N = 4000 and 16 MiB prefetched saw only 2 reuses.
      const pool = (c as unknown as { receivePool: ReceiveSlabs }).receivePool;
      const counts = `recycled ${pool.recycled}, reused ${pool.reused}, allocated ${pool.allocated}`;
      assert.ok(pool.recycled >= 4, `too little pooled response memory went back: ${counts}`);
      assert.ok(pool.reused >= 1, `pooled response memory was never reused: ${counts}`);
      console.log(`# ${counts}`);
    } finally {
      await c.close();
      await running;
    }
    for (const p of [0, 1]) {
      const got = kept.filter((m) => m.partition === p);
      assert.equal(got.length, N / 2);
      for (const [i, m] of got.entries()) {
        assert.equal(m.offset, i);
        assert.ok(m.value!.equals(expected[p][i].value), `value of ${p}/${i}`);
        assert.ok(m.key!.equals(expected[p][i].key), `key of ${p}/${i}`);
        assert.ok(m.headers[0].value!.equals(expected[p][i].headers.h), `header of ${p}/${i}`);
      }
    }
  } finally {
    wire.close();
    await b.close();
    removeDir(b.dataDir);
  }
});
