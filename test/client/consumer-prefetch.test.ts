// A caught-up partition must not hold back a busy one: while a long-poll Fetch waits for new data of
// an empty partition, a partition whose buffer has drained is fetched again at once (the consumer
// fetches on three connections per broker, and long-polls for caught-up partitions alone never
// take the third, kept for fetches with records to read). Compared as a ratio with the same data on a
// topic with one partition, in one run; with a 3 s long-poll, each stall would cost 3 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/index.ts';
import { withBroker } from '../helpers/broker.ts';
import { produce } from './consumer-helpers.ts';

const N = 5000;
const MAX_WAIT_MS = 3000;

async function timeToConsume(bootstrap: string, topic: string, group: string, total = N): Promise<number> {
  let n = 0;
  let first = 0;
  let done: (t: number) => void = () => undefined;
  const all = new Promise<number>((r) => (done = r));
  // Small per-partition buffers, so partition 0 is refilled many times during the run.
  const c = new Consumer({ brokers: [bootstrap], groupId: group, topics: [topic], autoOffsetReset: 'earliest', maxWaitMs: MAX_WAIT_MS, maxPartitionFetchBytes: 64 * 1024 });
  const running = c.run(() => {
    if (n++ === 0) first = performance.now();
    if (n === total) done(performance.now());
  });
  const end = await all;
  await c.close();
  await running;
  return end - first;
}

/** `n` records of 1 KiB. */
function records(n: number): Array<{ value: Buffer }> {
  return Array.from({ length: n }, (_, i) => ({ value: Buffer.alloc(1024, i & 0xff) }));
}

test('a long-poll on a caught-up partition does not stall another partition of the same broker', { timeout: 120_000 }, async () => {
  await withBroker({ 'group.initial.rebalance.delay.ms': 0 }, async (b, wire) => {
    await b.broker.createTopic('uneven', 2, {});
    await b.broker.createTopic('single', 1, {});
    await produce(wire, 'uneven', 0, records(N), 500); // partition 1 stays empty
    await produce(wire, 'single', 0, records(N), 500);
    const single = await timeToConsume(b.bootstrap, 'single', 'g-single');
    const uneven = await timeToConsume(b.bootstrap, 'uneven', 'g-uneven');
    // About 80 refills of 64 KiB; each stall would cost a whole long-poll (MAX_WAIT_MS). One pause
    // of this shared machine is tolerated; the bug costs dozens of long-polls.
    assert.ok(uneven < single * 5 + MAX_WAIT_MS || uneven < MAX_WAIT_MS / 2, `uneven topic took ${uneven.toFixed(0)} ms vs ${single.toFixed(0)} ms for the same data on one partition`);
  });
});

test('long-polls of partitions that caught up one after another do not stall a partition with a backlog', { timeout: 120_000 }, async () => {
  await withBroker({ 'group.initial.rebalance.delay.ms': 0 }, async (b, wire) => {
    await b.broker.createTopic('staggered', 4, {});
    await b.broker.createTopic('single', 1, {});
    // Partition 0 has the backlog; 1-3 have a little each, so they catch up at different times and
    // each starts a long-poll of its own once its buffer is handled: with two fetch connections,
    // two such polls took both and partition 0 waited out a whole poll for every refill.
    await produce(wire, 'staggered', 0, records(N), 500);
    const small = [60, 180, 420];
    for (const [i, n] of small.entries()) await produce(wire, 'staggered', i + 1, records(n), 60);
    await produce(wire, 'single', 0, records(N), 500);
    const total = N + small.reduce((a, n) => a + n, 0);
    const single = await timeToConsume(b.bootstrap, 'single', 'g-single-2');
    const staggered = await timeToConsume(b.bootstrap, 'staggered', 'g-staggered', total);
    assert.ok(staggered < single * 5 + MAX_WAIT_MS || staggered < MAX_WAIT_MS / 2, `staggered topic took ${staggered.toFixed(0)} ms vs ${single.toFixed(0)} ms for partition 0's data on one partition`);
  });
});
