// The Holdfast Consumer against a real (embedded) broker: ordering, group splits, the three delivery
// modes and where each puts the committed offset, seek / seekToTimestamp, pause / resume, handler
// retries that end in a surfaced error, close() leaving the group, and sharing a group with
// librdkafka (kcat) through Kafka's "range" assignor.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { startBroker } from '../../src/broker/index.ts';
import { embeddedBroker, removeDir, tempDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { Consumer, ConsumerErrorCode, HandlerError, type ConsumerMessage, type ConsumerOptions, type RetryEvent } from '../../src/client/index.ts';
import { ConfigError, silentLogger } from '../../src/util/index.ts';
import { committedOffsets, describeGroup, produce, produceValues, sleep, until } from './consumer-helpers.ts';

let b: EmbeddedBroker;
let wire: TestKafkaClient;

before(async () => {
  b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 });
  wire = await TestKafkaClient.connect(b.bootstrap);
});

after(async () => {
  // Consumers a failed test left running (a passing test closes its own).
  await Promise.all(open.map((c) => c.close()));
  wire.close();
  await b.close();
  removeDir(b.dataDir);
});

const open: Consumer[] = [];

/** Fast timings for tests; everything else at its default. */
function consumer(groupId: string, topics: string[], extra: Partial<ConsumerOptions> = {}): Consumer {
  const c = new Consumer({
    brokers: [b.bootstrap],
    groupId,
    topics,
    autoOffsetReset: 'earliest',
    heartbeatIntervalMs: 100,
    sessionTimeoutMs: 3000,
    rebalanceTimeoutMs: 5000,
    maxWaitMs: 100,
    autoCommitIntervalMs: 100,
    ...extra,
  });
  open.push(c);
  return c;
}

const text = (m: ConsumerMessage): string => m.value!.toString();

test('one consumer handles every message once, in order per partition, partitions in parallel, and commits the end', { timeout: 60_000 }, async () => {
  const topic = 'order';
  await b.broker.createTopic(topic, 3, {});
  const values = await produceValues(wire, topic, 3, 200, 'o');
  const c = consumer('order-group', [topic], { concurrency: 3 });
  const seen: ConsumerMessage[] = [];
  let running = 0;
  let maxRunning = 0;
  const done = c.run(async (m) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (m.offset % 10 === 0) await sleep(2); // gives the other partitions a chance to run alongside
    seen.push(m);
    running--;
  });
  await until('all 600 messages handled', () => seen.length >= values.length);
  await c.close();
  await done;
  assert.deepEqual(seen.map(text).sort(), [...values].sort(), 'every message exactly once');
  for (let p = 0; p < 3; p++) {
    const offsets = seen.filter((m) => m.partition === p).map((m) => m.offset);
    assert.deepEqual(offsets, Array.from({ length: 200 }, (_, i) => i), `partition ${p} handled in offset order`);
  }
  assert.ok(maxRunning >= 2 && maxRunning <= 3, `handlers ran ${maxRunning} at a time; concurrency 3 over 3 partitions`);
  assert.deepEqual(await committedOffsets(wire, 'order-group', topic, 3), [200, 200, 200], 'close() committed everything handled');
});

test('two consumers in a group split the partitions without overlap and together handle everything once', { timeout: 60_000 }, async () => {
  const topic = 'split';
  const group = 'split-group';
  await b.broker.createTopic(topic, 4, {});
  const before = await produceValues(wire, topic, 4, 50, 'before');
  const a = consumer(group, [topic]);
  const c = consumer(group, [topic]);
  const handled: Array<{ by: string; m: ConsumerMessage }> = [];
  const violations: string[] = [];
  const handlerFor = (name: string, self: Consumer) => async (m: ConsumerMessage) => {
    // A member only ever handles partitions of its current assignment.
    if (!self.assignment().some((tp) => tp.topic === m.topic && tp.partition === m.partition)) violations.push(`${name} handled ${m.partition}@${m.offset} outside its assignment`);
    handled.push({ by: name, m });
    await sleep(1);
  };
  const runA = a.run(handlerFor('a', a));
  await until('a owns all 4 partitions', () => a.assignment().length === 4);
  const runC = c.run(handlerFor('c', c));
  await until(
    () => `a split: a=${JSON.stringify(a.assignment())} c=${JSON.stringify(c.assignment())}`,
    () => a.assignment().length === 2 && c.assignment().length === 2,
  );
  const owned = [...a.assignment(), ...c.assignment()].map((tp) => tp.partition).sort();
  assert.deepEqual(owned, [0, 1, 2, 3], 'the assignments are disjoint and cover the topic');
  const after = await produceValues(wire, topic, 4, 25, 'after');
  await until('everything handled', () => new Set(handled.map((h) => text(h.m))).size >= before.length + after.length);
  await Promise.all([a.close(), c.close()]);
  await Promise.all([runA, runC]);
  assert.deepEqual(violations, []);
  const values = handled.map((h) => text(h.m));
  assert.deepEqual([...values].sort(), [...before, ...after].sort(), 'every message handled exactly once: the revoke committed what a had handled');
  for (const name of ['a', 'c']) {
    const got = handled.filter((h) => h.by === name && text(h.m).startsWith('after'));
    assert.ok(got.length > 0, `${name} handled a share of the new messages`);
  }
  assert.deepEqual(await committedOffsets(wire, group, topic, 4), [75, 75, 75, 75]);
});

test('a rebalance waits for the running handler of a revoked partition, which is committed before anyone else gets it', { timeout: 60_000 }, async () => {
  const topic = 'revoke';
  const group = 'revoke-group';
  await b.broker.createTopic(topic, 2, {});
  await produceValues(wire, topic, 2, 5, 'rv');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let blockedAt = -1;
  const handled: Array<{ by: string; partition: number; offset: number }> = [];
  const a = consumer(group, [topic], { concurrency: 2 });
  const c = consumer(group, [topic]);
  const runA = a.run(async (m) => {
    if (m.partition === 0 && m.offset === 2 && blockedAt < 0) {
      blockedAt = m.offset;
      await gate;
    }
    handled.push({ by: 'a', partition: m.partition, offset: m.offset });
  });
  let runC: Promise<void> = Promise.resolve();
  try {
    await until('a is inside the handler of 0@2 and done with partition 1', () => blockedAt === 2 && handled.filter((h) => h.partition === 1).length === 5);
    runC = c.run((m) => {
      handled.push({ by: 'c', partition: m.partition, offset: m.offset });
    });
    await sleep(500); // five heartbeat intervals: a knows of the rebalance and is revoking
    assert.deepEqual(c.assignment(), [], 'the rebalance cannot complete while a still handles a revoked partition');
    assert.equal(handled.filter((h) => h.by === 'c').length, 0);
  } finally {
    release();
  }
  await until('split and everything handled', () => a.assignment().length === 1 && c.assignment().length === 1 && handled.length === 10);
  await sleep(200);
  await Promise.all([a.close(), c.close()]);
  await Promise.all([runA, runC]);
  const p0 = handled.filter((h) => h.partition === 0).map((h) => h.offset);
  assert.deepEqual(p0, [0, 1, 2, 3, 4], 'partition 0 continued after the offset a committed on revoke: no gap, no repeat');
  assert.deepEqual(await committedOffsets(wire, group, topic, 2), [5, 5]);
});

test('prefetch is bounded: a stuck handler stops fetching once maxPrefetchBytes (plus one batch) is buffered', { timeout: 60_000 }, async () => {
  const topic = 'prefetch';
  await b.broker.createTopic(topic, 4, {});
  const valueBytes = 4096;
  const batchMessages = 4;
  for (let p = 0; p < 4; p++) await produce(wire, topic, p, Array.from({ length: 24 }, (_, i) => ({ value: `${p}-${i}-`.padEnd(valueBytes, 'x') })), batchMessages);
  const maxPrefetchBytes = 32 * 1024;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let handled = 0;
  const c = consumer('prefetch-group', [topic], { maxPrefetchBytes });
  const internals = c as unknown as { bufferedBytes: number };
  let maxBuffered = 0;
  const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, internals.bufferedBytes)), 1);
  try {
    const done = c.run(async () => {
      if (handled === 0) await gate;
      handled++;
    });
    await until('assigned', () => c.assignment().length === 4);
    await until('prefetched', () => internals.bufferedBytes > 0);
    await sleep(600); // six long-poll periods with the handler stuck
    const oneBatch = batchMessages * (valueBytes + 64 + 16);
    assert.ok(internals.bufferedBytes > 0, 'something stays prefetched');
    assert.ok(maxBuffered <= maxPrefetchBytes + oneBatch, `buffered up to ${maxBuffered} bytes; bound ${maxPrefetchBytes} + one batch`);
    release();
    await until('all 96 handled', () => handled === 96);
    assert.ok(maxBuffered <= maxPrefetchBytes + oneBatch, `buffered up to ${maxBuffered} bytes while draining; bound ${maxPrefetchBytes} + one batch`);
    await c.close();
    await done;
  } finally {
    clearInterval(sampler);
    release();
  }
});

test('a fetch reserves no more of the prefetch budget than its partitions can return', { timeout: 60_000 }, async () => {
  const topic = 'fetch-budget';
  await b.broker.createTopic(topic, 4, {});
  const maxPartitionFetchBytes = 64 * 1024;
  // Nothing to read: every fetch long-polls, holding its reservation for maxWaitMs. Before, a fetch
  // reserved its whole share of maxPrefetchBytes (16 MiB here), so a long poll on a few partitions
  // left the other fetch slot a sliver: one batch per round trip for a consumer that is behind.
  const c = consumer('fetch-budget-group', [topic], { maxPartitionFetchBytes, maxPrefetchBytes: 16 * 1024 * 1024 });
  const internals = c as unknown as { reservedBytes: number };
  let maxReserved = 0;
  const sampler = setInterval(() => (maxReserved = Math.max(maxReserved, internals.reservedBytes)), 1);
  try {
    const done = c.run(() => undefined);
    await until('assigned', () => c.assignment().length === 4);
    await until('a fetch in flight', () => internals.reservedBytes > 0);
    await sleep(300);
    assert.ok(maxReserved > 0 && maxReserved <= 4 * maxPartitionFetchBytes, `reserved up to ${maxReserved} bytes for 4 partitions of ${maxPartitionFetchBytes}`);
    await c.close();
    await done;
  } finally {
    clearInterval(sampler);
  }
});

test('at-least-once: the committed offset never passes a message whose handler has not resolved', { timeout: 60_000 }, async () => {
  const topic = 'alo';
  const group = 'alo-group';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 10, 'alo');
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  let reached = false;
  const handled: number[] = [];
  const commits: number[] = [];
  const c = consumer(group, [topic], { autoCommitIntervalMs: 20 });
  c.on('commit', (offsets) => commits.push(...offsets.map((o) => o.offset)));
  const done = c.run(async (m) => {
    if (m.offset === 5) {
      reached = true;
      await blocked;
    }
    handled.push(m.offset);
  });
  try {
    await until('the handler of offset 5 is running', () => reached);
    await until('offsets 0-4 committed', async () => (await committedOffsets(wire, group, topic, 1))[0] === 5);
    await sleep(300); // 15 auto-commit intervals while offset 5 is still being handled
    assert.deepEqual(await committedOffsets(wire, group, topic, 1), [5], 'nothing past the running handler is committed');
    assert.ok(commits.every((o) => o <= 5), `commits so far: ${commits}`);
  } finally {
    release();
  }
  await until('all handled and committed', async () => handled.length === 10 && (await committedOffsets(wire, group, topic, 1))[0] === 10);
  await c.close();
  await done;
});

test('at-least-once: a commit goes out when half of maxUncommittedMessages are handled beyond what the commit in flight covers, not once per message handled meanwhile', { timeout: 60_000 }, async (t) => {
  const topic = 'commit-pace';
  const group = 'commit-pace-group';
  const total = 40_000;
  const maxUncommittedMessages = 2000;
  await b.broker.createTopic(topic, 1, {});
  await produce(wire, topic, 0, Array.from({ length: total }, (_, i) => ({ value: String(i) })), 2000);
  let handled = 0;
  let commits = 0;
  // Auto-commits by time are out of the way: only the half-full trigger (and close) commits.
  const c = consumer(group, [topic], { maxUncommittedMessages, autoCommitIntervalMs: 600_000 });
  c.on('commit', () => commits++);
  // A handler that yields to the event loop: the next messages are handled while a commit is in
  // flight (the broker runs in this process), as in `holdfast bench`'s consumer process.
  const done = c.run(async () => {
    await new Promise<void>((r) => setImmediate(r));
    handled++;
  });
  await until(`all ${total} handled`, () => handled >= total);
  await c.close();
  await done;
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [total]);
  // A commit every maxUncommittedMessages / 2 = 1000 messages: 40, and one at close. A commit
  // queued while one is in flight that already covers most of what waits made up to twice as many.
  const expected = total / (maxUncommittedMessages / 2);
  t.diagnostic(`${commits} commits for ${total} messages (one per ${maxUncommittedMessages / 2}: ${expected})`);
  assert.ok(commits <= expected + 5, `${commits} commits for ${total} messages; at most ${expected + 5} expected`);
  assert.ok(commits >= expected / 2, `${commits} commits: the half-full trigger must still commit as messages are handled`);
});

test('at-most-once: the offset past a message is committed before its handler runs', { timeout: 60_000 }, async () => {
  const topic = 'amo';
  const group = 'amo-group';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 30, 'amo');
  const observed: Array<{ offset: number; committed: number }> = [];
  const c = consumer(group, [topic], { delivery: 'at-most-once', maxMessagesPerTurn: 7 });
  const done = c.run(async (m) => {
    observed.push({ offset: m.offset, committed: (await committedOffsets(wire, group, topic, 1))[0] });
  });
  await until('30 handled', () => observed.length === 30);
  await c.close();
  await done;
  for (const o of observed) {
    assert.ok(o.committed > o.offset, `offset ${o.offset} was handled while the committed offset was ${o.committed}`);
    assert.ok(o.committed <= o.offset + 7, `offset ${o.offset}: committed ${o.committed} is at most one turn (7) ahead`);
  }
  assert.deepEqual(observed.map((o) => o.offset), Array.from({ length: 30 }, (_, i) => i));
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [30]);
});

test('manual delivery commits only when commit() is called, and commit() covers what was handled', { timeout: 60_000 }, async () => {
  const topic = 'manual';
  const group = 'manual-group';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 10, 'm1');
  const handled: number[] = [];
  const c = consumer(group, [topic], { delivery: 'manual' });
  const done = c.run((m) => {
    handled.push(m.offset);
  });
  await until('10 handled', () => handled.length === 10);
  await sleep(300);
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [-1], 'nothing committed on its own');
  await c.commit();
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [10], 'commit() committed past the last handled message');
  await produceValues(wire, topic, 1, 5, 'm2');
  await until('15 handled', () => handled.length === 15);
  await c.close();
  await done;
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [10], 'close() does not commit in manual mode');
  await assert.rejects(c.commit(), (err: unknown) => (err as { code?: string }).code === ConsumerErrorCode.CONSUMER_CLOSED);
});

test('starting positions: the committed offset, else autoOffsetReset (latest by default); an out-of-range offset is reset', { timeout: 60_000 }, async () => {
  const topic = 'start';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 10, 'old');

  // Default policy (latest): only what is produced after the assignment.
  const latest = new Consumer({ brokers: [b.bootstrap], groupId: 'start-latest', topics: [topic], heartbeatIntervalMs: 100, sessionTimeoutMs: 3000, maxWaitMs: 100 });
  open.push(latest);
  const fromLatest: number[] = [];
  const runLatest = latest.run((m) => {
    fromLatest.push(m.offset);
  });
  await until('assigned', () => latest.assignment().length === 1);
  await produceValues(wire, topic, 1, 3, 'new');
  await until('3 new handled', () => fromLatest.length === 3);
  await latest.close();
  await runLatest;
  assert.deepEqual(fromLatest, [10, 11, 12]);
  assert.deepEqual(await committedOffsets(wire, 'start-latest', topic, 1), [13]);

  // A committed offset wins over the policy; one past the end is out of range and is reset (earliest).
  for (const [group, offset, expected] of [['start-committed', 7, [7, 8, 9, 10, 11, 12]], ['start-out-of-range', 1000, Array.from({ length: 13 }, (_, i) => i)]] as const) {
    const r = await wire.request(8, 7, { groupId: group, generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1, topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: '' }] }] });
    assert.equal(r.topics[0].partitions[0].errorCode, 0);
    const c = consumer(group, [topic]);
    const handled: number[] = [];
    const run = c.run((m) => {
      handled.push(m.offset);
    });
    await until(`${group}: ${expected.length} handled`, () => handled.length === expected.length);
    await sleep(100);
    await c.close();
    await run;
    assert.deepEqual(handled, [...expected], group);
    assert.deepEqual(await committedOffsets(wire, group, topic, 1), [13]);
  }
});

test("a subscribed topic created later is assigned at the group leader's next metadata check", { timeout: 60_000 }, async () => {
  const group = 'later-group';
  await b.broker.createTopic('now', 1, {});
  const c = consumer(group, ['now', 'later'], { metadataMaxAgeMs: 200 });
  const handled: string[] = [];
  const run = c.run((m) => {
    handled.push(`${m.topic}-${m.partition}:${text(m)}`);
  });
  await until('assigned the existing topic', () => c.assignment().length === 1);
  await b.broker.createTopic('later', 2, {});
  await until(() => `the new topic assigned: ${JSON.stringify(c.assignment())}`, () => c.assignment().length === 3);
  await produce(wire, 'later', 1, [{ value: 'hello' }]);
  await until('the new topic consumed', () => handled.includes('later-1:hello'));
  await c.close();
  await run;
});

test('seek before run replaces the committed offset; seek while running re-delivers from there', { timeout: 60_000 }, async () => {
  const topic = 'seek';
  const group = 'seek-group';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 20, 's');
  const handled: number[] = [];
  const c = consumer(group, [topic]);
  c.seek(topic, 0, 12);
  const done = c.run((m) => {
    handled.push(m.offset);
  });
  await until('12..19 handled', () => handled.length === 8);
  c.seek(topic, 0, 3);
  await until('3..19 handled again', () => handled.length === 25);
  await sleep(200);
  await c.close();
  await done;
  assert.deepEqual(handled, [...Array.from({ length: 8 }, (_, i) => 12 + i), ...Array.from({ length: 17 }, (_, i) => 3 + i)]);
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [20]);
});

test('seekToTimestamp goes to the first message at or after the time, or to the end', { timeout: 60_000 }, async () => {
  const topic = 'seek-ts';
  const group = 'seek-ts-group';
  await b.broker.createTopic(topic, 1, {});
  const base = Date.now() - 60_000;
  await produce(wire, topic, 0, Array.from({ length: 10 }, (_, i) => ({ value: `ts-${i}`, timestamp: base + i * 1000 })), 3);
  const handled: ConsumerMessage[] = [];
  const c = consumer(group, [topic]);
  const done = c.run((m) => {
    handled.push(m);
  });
  await until('10 handled', () => handled.length === 10);
  assert.deepEqual(handled.map((m) => m.timestamp), Array.from({ length: 10 }, (_, i) => base + i * 1000), 'record timestamps come through');
  assert.equal(await c.seekToTimestamp(topic, 0, base + 4500), 5);
  await until('5..9 handled again', () => handled.length === 15);
  assert.deepEqual(handled.slice(10).map((m) => m.offset), [5, 6, 7, 8, 9]);
  assert.equal(await c.seekToTimestamp(topic, 0, base + 3000), 3, 'an exact timestamp matches its message');
  await until('3..9 handled again', () => handled.length === 22);
  assert.equal(await c.seekToTimestamp(topic, 0, base + 3_600_000), 10, 'past the last message: the end of the partition');
  await sleep(200);
  assert.equal(handled.length, 22);
  await c.close();
  await done;
});

test('pause stops a partition (buffered messages wait), resume continues it; a topic pause covers all its partitions', { timeout: 60_000 }, async () => {
  const topic = 'pause';
  const group = 'pause-group';
  await b.broker.createTopic(topic, 2, {});
  await produceValues(wire, topic, 2, 10, 'p1');
  const handled: ConsumerMessage[] = [];
  const c = consumer(group, [topic], { concurrency: 2 });
  c.pause(topic, [0]);
  const done = c.run((m) => {
    handled.push(m);
  });
  await until('partition 1 handled', () => handled.length === 10);
  await sleep(300);
  assert.deepEqual(new Set(handled.map((m) => m.partition)), new Set([1]), 'nothing of paused partition 0');
  assert.deepEqual(c.paused(), [{ topic, partition: 0 }]);
  c.resume(topic, [0]);
  await until('partition 0 handled after resume', () => handled.length === 20);
  assert.deepEqual(handled.filter((m) => m.partition === 0).map((m) => m.offset), Array.from({ length: 10 }, (_, i) => i));

  c.pause(topic);
  assert.equal(c.paused().length, 2);
  await produceValues(wire, topic, 2, 5, 'p2');
  await sleep(300);
  assert.equal(handled.length, 20, 'nothing handled while the topic is paused');
  c.resume(topic, [1]);
  await until('partition 1 resumed', () => handled.length === 25);
  assert.deepEqual(c.paused(), [{ topic, partition: 0 }], 'resuming one partition keeps the other paused');
  c.resume(topic);
  await until('everything handled', () => handled.length === 30);
  await c.close();
  await done;
});

// A handler that returns synchronously is called inline (no await per message); one that returns
// a promise is awaited: both kinds of failure are retried the same way.
for (const kind of ['throws', 'rejects'] as const) {
  test(`a handler that ${kind} transiently is retried with backoff and the partition stays in order`, { timeout: 60_000 }, async () => {
    const topic = `retry-ok-${kind}`;
    await b.broker.createTopic(topic, 1, {});
    await produceValues(wire, topic, 1, 10, 'r');
    const retries: RetryEvent[] = [];
    const handled: number[] = [];
    let failures = 0;
    const c = consumer(`retry-ok-${kind}-group`, [topic], { retry: { retries: 3, initialMs: 10, maxMs: 100 } });
    c.on('retry', (e) => retries.push(e));
    const handle = (m: ConsumerMessage): void => {
      if (m.offset === 3 && failures < 2) {
        failures++;
        throw new Error(`transient ${failures}`);
      }
      handled.push(m.offset);
    };
    const done = c.run(kind === 'throws' ? handle : async (m) => {
      await new Promise((r) => setImmediate(r));
      handle(m);
    });
    await until('10 handled', () => handled.length === 10);
    await c.close();
    await done;
    assert.deepEqual(handled, Array.from({ length: 10 }, (_, i) => i), 'offset 3 handled once, after its retries, before offset 4');
    assert.deepEqual(retries.map((e) => [e.offset, e.attempt, e.delayMs]), [[3, 1, 10], [3, 2, 20]]);
  });
}

test('a handler that keeps failing is retried with exponential backoff, then run() rejects with HandlerError and the consumer closes', { timeout: 60_000 }, async () => {
  const topic = 'retry-fail';
  const group = 'retry-fail-group';
  await b.broker.createTopic(topic, 1, {});
  await produceValues(wire, topic, 1, 10, 'f');
  const attemptsAt: number[] = [];
  const retries: RetryEvent[] = [];
  const handled: number[] = [];
  const c = consumer(group, [topic], { retry: { retries: 3, initialMs: 20, maxMs: 50 } });
  c.on('retry', (e) => retries.push(e));
  const done = c.run((m) => {
    if (m.offset === 5) {
      attemptsAt.push(performance.now());
      throw new Error('boom');
    }
    handled.push(m.offset);
  });
  const err = await done.then(
    () => assert.fail('run() resolved although the handler kept failing'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HandlerError, `run() rejected with ${err}`);
  assert.equal(err.code, ConsumerErrorCode.HANDLER_FAILED);
  assert.deepEqual([err.topic, err.partition, err.offset, err.attempts], [topic, 0, 5, 4]);
  assert.equal((err.cause as Error).message, 'boom');
  assert.deepEqual(retries.map((e) => e.delayMs), [20, 40, 50], 'exponential backoff, capped at maxMs');
  for (let i = 1; i < attemptsAt.length; i++) {
    assert.ok(attemptsAt[i] - attemptsAt[i - 1] >= retries[i - 1].delayMs - 1, `attempt ${i + 1} came ${attemptsAt[i] - attemptsAt[i - 1]} ms after the previous one, before its ${retries[i - 1].delayMs} ms backoff`);
  }
  assert.deepEqual(handled, [0, 1, 2, 3, 4], 'nothing after the failed message was handled');
  assert.deepEqual(await committedOffsets(wire, group, topic, 1), [5], 'what succeeded was committed; the failed message was not');
  assert.equal((await describeGroup(wire, group)).state, 'Empty', 'the consumer left the group');
  await c.close(); // already closed: resolves
  await assert.rejects(c.run(() => undefined), (e: unknown) => (e as { code?: string }).code === ConsumerErrorCode.CONSUMER_CLOSED);
});

test('close() does not wait out a long poll: a caught-up consumer closes, commits what it handled and leaves well within maxWaitMs', { timeout: 60_000 }, async () => {
  const topic = 'close-long-poll';
  const group = 'close-long-poll-group';
  await b.broker.createTopic(topic, 2, {});
  await produceValues(wire, topic, 2, 20, 'c');
  // A long poll of 20 s: before the fix close() waited for the fetches in flight to come back.
  const maxWaitMs = 20_000;
  const c = consumer(group, [topic], { maxWaitMs, minBytes: 1 });
  let handled = 0;
  const done = c.run(() => {
    handled++;
  });
  await until('all 40 handled', () => handled === 40);
  await sleep(300); // the fetches of the caught-up partitions are long polls now
  const t0 = performance.now();
  await c.close();
  const closeMs = performance.now() - t0;
  await done; // run() resolves: an abandoned poll is no failure
  assert.ok(closeMs < maxWaitMs / 4, `close() took ${Math.round(closeMs)} ms with long polls of ${maxWaitMs} ms in flight`);
  assert.deepEqual(await committedOffsets(wire, group, topic, 2), [20, 20], 'close() committed everything handled');
  assert.equal((await describeGroup(wire, group)).state, 'Empty', 'close() left the group');
});

test('close() leaves the group: the remaining member takes over long before the session timeout', { timeout: 60_000 }, async () => {
  const topic = 'leave';
  const group = 'leave-group';
  await b.broker.createTopic(topic, 2, {});
  const sessionTimeoutMs = 30_000;
  const a = consumer(group, [topic], { sessionTimeoutMs });
  const c = consumer(group, [topic], { sessionTimeoutMs });
  const runA = a.run(() => undefined);
  await until('a assigned', () => a.assignment().length === 2);
  const runC = c.run(() => undefined);
  await until('split', () => a.assignment().length === 1 && c.assignment().length === 1);
  assert.equal((await describeGroup(wire, group)).members.length, 2);
  const closedAt = Date.now();
  await a.close();
  await runA;
  await until('c owns both partitions', () => c.assignment().length === 2, sessionTimeoutMs / 2);
  assert.ok(Date.now() - closedAt < sessionTimeoutMs, 'the takeover did not wait for a session to expire');
  const d = await describeGroup(wire, group);
  assert.equal(d.state, 'Stable');
  assert.deepEqual(d.members, [c.memberId]);
  assert.equal(d.protocol, 'range');
  await c.close();
  await runC;
  assert.equal((await describeGroup(wire, group)).state, 'Empty');
});

test('the consumer rides out a broker restart: it reconnects and goes on from where it was, nothing lost or repeated', { timeout: 60_000 }, async () => {
  const dataDir = tempDir();
  const config = { 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 };
  let broker = await startBroker({ dataDir, port: 0, config, logger: silentLogger });
  const port = broker.port;
  const bootstrap = `127.0.0.1:${port}`;
  let w = await TestKafkaClient.connect(bootstrap);
  try {
    await broker.createTopic('restart', 2, {});
    const first = await produceValues(w, 'restart', 2, 20, 'before');
    const c = new Consumer({ brokers: [bootstrap], groupId: 'restart-group', topics: ['restart'], autoOffsetReset: 'earliest', heartbeatIntervalMs: 100, sessionTimeoutMs: 3000, maxWaitMs: 100, autoCommitIntervalMs: 50 });
    open.push(c);
    const seen: string[] = [];
    const run = c.run((m) => {
      seen.push(text(m));
    });
    await until('all handled before the restart', () => seen.length === first.length);
    await until('and committed', async () => (await committedOffsets(w, 'restart-group', 'restart', 2)).every((o) => o === 20));
    w.close();
    await broker.close();
    broker = await startBroker({ dataDir, port, config, logger: silentLogger });
    w = await TestKafkaClient.connect(bootstrap);
    const second = await produceValues(w, 'restart', 2, 20, 'after');
    await until('everything produced after the restart handled', () => seen.length >= first.length + second.length);
    await sleep(200);
    await c.close();
    await run;
    assert.deepEqual([...seen].sort(), [...first, ...second].sort());
  } finally {
    w.close();
    await broker.close();
    removeDir(dataDir);
  }
});

test('options are validated with ConfigError naming the option', () => {
  const base = { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] };
  assert.throws(() => new Consumer({ ...base, heartbeatIntervalMs: 5000, sessionTimeoutMs: 5000 }), (e: unknown) => e instanceof ConfigError && /heartbeatIntervalMs/.test(e.message));
  assert.throws(() => new Consumer({ ...base, concurrency: 0 }), (e: unknown) => e instanceof ConfigError && /concurrency/.test(e.message));
  assert.throws(() => new Consumer({ ...base, topics: [] }), (e: unknown) => e instanceof ConfigError && /topics/.test(e.message));
  assert.throws(() => new Consumer({ ...base, delivery: 'exactly-once' as never }), (e: unknown) => e instanceof ConfigError && /delivery/.test(e.message));
  assert.throws(() => new Consumer({ ...base, assignors: ['sticky' as never] }), (e: unknown) => e instanceof ConfigError && /assignors/.test(e.message));
  assert.throws(() => new Consumer({ ...base, retry: { initialMs: 100, maxMs: 10 } }), (e: unknown) => e instanceof ConfigError && /retry\.maxMs/.test(e.message));
  assert.throws(() => new Consumer({ ...base, minBytes: 0 }), (e: unknown) => e instanceof ConfigError && /minBytes = 0/.test(e.message));
});

test('minBytes: at the end of the log nothing is handled until minBytes have arrived, then all of it', { timeout: 60_000 }, async () => {
  const topic = 'min-bytes';
  await b.broker.createTopic(topic, 1, {});
  // Every check that a poll holds comes well inside maxWaitMs of that poll's start; close() waits
  // for the poll in flight, so maxWaitMs also bounds how long it takes.
  const c = consumer('min-bytes-group', [topic], { minBytes: 10_000, maxWaitMs: 5000 });
  const seen: string[] = [];
  const done = c.run(async (m) => {
    seen.push(text(m));
  });
  const value = (i: number) => `${i}`.padEnd(1000, '.');
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; i++) await produce(wire, topic, 0, [{ value: value(i) }]);
  };
  // One record of 1,000 bytes a batch, ~1,070 bytes stored: 10 reach minBytes, 9 do not.
  await sleep(500);
  await send(0, 5);
  await sleep(500);
  assert.deepEqual(seen, [], 'handled with 5 records stored against minBytes 10,000');
  await send(5, 10);
  await until(() => `${seen.length} of 10 handled`, () => seen.length === 10);
  await send(10, 14);
  await sleep(500);
  assert.equal(seen.length, 10, 'the next poll, at the end of the log, holds for minBytes too');
  await send(14, 20);
  await until(() => `${seen.length} of 20 handled`, () => seen.length === 20);
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => value(i)));
  await c.close();
  await done;
});

// ---- interoperability: a librdkafka member in the same group ----------------------------------

const probe = spawnSync('kcat', ['-V'], { encoding: 'utf8', timeout: 10_000 });
const noKcat: string | false = probe.error ? `kcat is not on PATH (${probe.error.message})` : false;

test('a Holdfast consumer and a librdkafka (kcat -G) member share a group through the range assignor', { skip: noKcat, timeout: 90_000 }, async () => {
  const topic = 'interop';
  const group = 'interop-group';
  await b.broker.createTopic(topic, 4, {});
  const c = consumer(group, [topic], { sessionTimeoutMs: 6000 });
  const ours: ConsumerMessage[] = [];
  const run = c.run((m) => {
    ours.push(m);
  });
  await until('the Holdfast consumer owns all partitions', () => c.assignment().length === 4);
  const kcat = spawn('kcat', ['-b', b.bootstrap, '-G', group, topic, '-u', '-f', '%p %o %s\n', '-X', 'auto.offset.reset=earliest', '-X', 'partition.assignment.strategy=range'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const theirs: Array<{ partition: number; value: string }> = [];
  const kcatLog: string[] = [];
  let kcatAssigned: number[] = [];
  createInterface({ input: kcat.stdout! }).on('line', (line) => {
    const m = /^(\d+) (\d+) (.*)$/.exec(line);
    if (m) theirs.push({ partition: Number(m[1]), value: m[3] });
  });
  createInterface({ input: kcat.stderr! }).on('line', (line) => {
    kcatLog.push(line);
    const r = /rebalanced \(memberid [^)]*\): (assigned|revoked): ?(.*)$/.exec(line);
    if (r) kcatAssigned = r[1] === 'assigned' ? [...r[2].matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1])).sort() : [];
  });
  try {
    await until(
      () => `a split between kcat ${JSON.stringify(kcatAssigned)} and Holdfast ${JSON.stringify(c.assignment())}\n${kcatLog.join('\n')}`,
      () => kcatAssigned.length === 2 && c.assignment().length === 2,
      45_000,
    );
    const mine = c.assignment().map((tp) => tp.partition).sort();
    assert.deepEqual([...mine, ...kcatAssigned].sort(), [0, 1, 2, 3], 'disjoint and complete');
    // Kafka's RangeAssignor: members sorted by id, each gets a consecutive range.
    assert.ok(JSON.stringify(mine) === '[0,1]' || JSON.stringify(mine) === '[2,3]', `range gives consecutive partitions, got ${mine}`);
    const values = await produceValues(wire, topic, 4, 10, 'i');
    await until('both members receive their share', () => ours.length + theirs.length >= values.length, 30_000);
    for (const m of ours) assert.ok(mine.includes(m.partition));
    for (const m of theirs) assert.ok(kcatAssigned.includes(m.partition));
    assert.deepEqual([...ours.map(text), ...theirs.map((m) => m.value)].sort(), [...values].sort());
    assert.equal((await describeGroup(wire, group)).protocol, 'range');
  } finally {
    kcat.kill('SIGTERM');
    await new Promise((r) => kcat.once('close', r));
    await c.close();
    await run;
  }
});
