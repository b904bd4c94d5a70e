// log.inline.write.max.bytes: through a running broker on the real disk, a producer's durable
// appends to one partition are written on the event loop when it is on, and everything they wrote
// reads back; it is on by default for `holdfast serve` and off for an embedded startBroker(); 0
// keeps every write on the thread pool; an out-of-range value is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBatch } from '../../src/record/index.ts';
import { SimFileSystem } from '../../src/storage/index.ts';
import { Rng, silentLogger } from '../../src/util/index.ts';
import { startBroker } from '../../src/broker/index.ts';
import { loadServeConfig } from '../../src/cli/index.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';
import { removeDir, tempDir } from '../helpers/broker.ts';

test('holdfast serve writes appends up to 256 KiB on the event loop by default; an embedded broker does not', () => {
  assert.equal(loadServeConfig(['--data-dir', '/tmp/unused']).logInlineWriteMaxBytes, 256 * 1024);
});

for (const inlineMax of [262144, 0, undefined]) {
  const setting = inlineMax === undefined ? 'unset (embedded)' : String(inlineMax);
  test(`log.inline.write.max.bytes ${setting}: a partition's durable appends are written ${inlineMax === 262144 ? 'on the event loop' : 'on the thread pool'}, and read back`, async () => {
    const dataDir = tempDir('holdfast-inline-');
    const broker = await startBroker({ dataDir, port: 0, logger: silentLogger, config: { 'num.partitions': 1, ...(inlineMax === undefined ? {} : { 'log.inline.write.max.bytes': inlineMax }) } });
    const c = await TestKafkaClient.connect(`127.0.0.1:${broker.port}`);
    try {
      await c.request(3, 6, { topics: [{ name: 'inline' }], allowAutoTopicCreation: true });
      for (let i = 0; i < 30; i++) {
        const records = buildBatch({ records: Array.from({ length: 10 }, (_, j) => ({ value: Buffer.alloc(1000, (i * 10 + j) & 0xff) })) });
        const r = await c.request(0, 8, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'inline', partitionData: [{ index: 0, records }] }] });
        assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
      }
      const inline = broker.logs.inlineWrites;
      if (inlineMax === 262144) {
        assert.ok(inline !== undefined && inline.maxBytes === 262144);
        // Each ~10 KB request alone in its turn: all but the first (which opens the segment's handle)
        // go inline, unless the disk is so busy (another test run beside this one) that an inline
        // write took 25 ms and paused them, as it should.
        assert.ok(inline.inlineCount >= 1, `no append was written inline (${inline.poolCount} on the pool)`);
        if (inline.pauses === 0) assert.ok(inline.inlineCount >= 25, `only ${inline.inlineCount} of 30 appends were written inline (${inline.poolCount} on the pool), and none was slow`);
      } else {
        assert.equal(inline, undefined);
      }
      const { records } = await fetchAll(c, 'inline', 0);
      const values = records.map((r) => r.value?.[0]);
      assert.deepEqual(values, Array.from({ length: 300 }, (_, k) => k & 0xff));
    } finally {
      c.close();
      await broker.close();
      removeDir(dataDir);
    }
  });
}

test('log.inline.write.max.bytes above 16 MiB or below 0 is refused by name', async () => {
  for (const value of [16 * 1024 * 1024 + 1, -1]) {
    await assert.rejects(startBroker({ dataDir: '/data', port: 0, logger: silentLogger, fs: new SimFileSystem({ rng: new Rng(1) }).mount(), config: { 'log.inline.write.max.bytes': value } }), (err: Error) => {
      assert.match(err.message, /log\.inline\.write\.max\.bytes/);
      assert.match(err.message, value < 0 ? /minimum 0/ : /maximum 16777216/);
      return true;
    });
  }
});
