// A stored batch whose CRC is good but whose records are malformed (written by a buggy producer
// before validation, or by a tool that edits segment files): the consumer delivers what comes
// before it, then stops with CORRUPT_MESSAGE at that batch; it never skips it and never commits
// past it. The batch is appended to a segment file while the broker is stopped, since a running
// broker refuses such a batch on produce (INVALID_RECORD).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedBroker, removeDir, tempDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { Consumer, ConsumerError, ConsumerErrorCode } from '../../src/client/index.ts';
import { BATCH_HEADER_BYTES, buildBatch } from '../../src/record/index.ts';
import { fixBatch } from '../record/helpers.ts';
import { committedOffsets, produceValues } from './consumer-helpers.ts';

const BROKER_CONFIG = { 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 };

test('a batch with malformed records under a good CRC stops the consumer when reached, after the messages before it', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const topic = 'damaged';
  const group = 'damaged-group';
  let b = await embeddedBroker(BROKER_CONFIG, dir);
  try {
    await b.broker.createTopic(topic, 1, {});
    let wire = await TestKafkaClient.connect(b.bootstrap);
    const good = await produceValues(wire, topic, 1, 3, 'g'); // offsets 0-2
    wire.close();
    await b.close();

    const bad = buildBatch({ baseOffset: 3, records: [{ value: 'x3' }, { value: 'x4' }], nowMs: Date.now() });
    bad[BATCH_HEADER_BYTES] = 0x7f; // the first record's Length varint becomes -64
    appendFileSync(join(dir, `${topic}-0`, '00000000000000000000.log'), fixBatch(bad));

    b = await embeddedBroker(BROKER_CONFIG, dir);
    wire = await TestKafkaClient.connect(b.bootstrap);
    try {
      const handled: string[] = [];
      const c = new Consumer({ brokers: [b.bootstrap], groupId: group, topics: [topic], autoOffsetReset: 'earliest', maxWaitMs: 100, heartbeatIntervalMs: 100, sessionTimeoutMs: 3000 });
      const outcome = await c.run((m) => void handled.push(m.value!.toString())).then(
        () => null,
        (err: unknown) => err,
      );
      assert.ok(outcome instanceof ConsumerError, `run() rejects with a ConsumerError, got ${String(outcome)}`);
      assert.equal(outcome.code, ConsumerErrorCode.CORRUPT_MESSAGE);
      assert.match(outcome.message, new RegExp(`${topic}-0 is corrupt \\(the batch at offset 3\\)`));
      assert.deepEqual(handled, good, 'the messages before the damaged batch were handled, none of it');
      await c.close();
      assert.deepEqual(await committedOffsets(wire, group, topic, 1), [3], 'committed up to the damaged batch, not past it');
    } finally {
      wire.close();
    }
  } finally {
    await b.close();
    removeDir(dir);
  }
});
