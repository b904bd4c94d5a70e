// TopicReader against an embedded broker: minBytes holds its fetches until that many bytes have
// arrived past its positions, and options are refused by name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TopicReader } from '../../src/client/index.ts';
import { HoldfastError } from '../../src/util/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { produce, sleep, until } from './consumer-helpers.ts';

let b: EmbeddedBroker;
let wire: TestKafkaClient;

before(async () => {
  b = await embeddedBroker();
  wire = await TestKafkaClient.connect(b.bootstrap);
});
after(async () => {
  wire.close();
  await b.close();
  removeDir(b.dataDir);
});

test('minBytes: nothing is read until minBytes have arrived past the positions, then all of it', { timeout: 60_000 }, async () => {
  const topic = 'reader-min-bytes';
  await b.broker.createTopic(topic, 1, {});
  // maxWaitMs well above the pauses below: only min.bytes can end the polls they check.
  const reader = new TopicReader({ brokers: [b.bootstrap], topic, minBytes: 10_000, maxWaitMs: 5000 });
  const seen: string[] = [];
  const reading = (async () => {
    for await (const m of reader) {
      seen.push(m.value!.toString());
      if (seen.length === 10) break;
    }
  })();
  const value = (i: number) => `${i}`.padEnd(1000, '.');
  try {
    // One record of 1,000 bytes a batch, ~1,070 bytes stored: 10 reach minBytes, 9 do not.
    await sleep(300);
    for (let i = 0; i < 5; i++) await produce(wire, topic, 0, [{ value: value(i) }]);
    await sleep(500);
    assert.deepEqual(seen, [], 'read with 5 records stored against minBytes 10,000');
    for (let i = 5; i < 10; i++) await produce(wire, topic, 0, [{ value: value(i) }]);
    await until(() => `${seen.length} of 10 read`, () => seen.length === 10);
    await reading;
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => value(i)));
  } finally {
    await reader.close(); // also ends the loop on a failure, which would otherwise keep reading
  }
});

test('minBytes below 1 or not an integer is refused, naming the option', () => {
  for (const minBytes of [0, -1, 1.5]) {
    assert.throws(() => new TopicReader({ brokers: ['127.0.0.1:1'], topic: 't', minBytes }), (e: unknown) => e instanceof HoldfastError && /minBytes/.test(e.message) && e.message.includes(String(minBytes)));
  }
});
