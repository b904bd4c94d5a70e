// The embedded broker from the package root: in-process (no child process), two side by side
// with their own data directories, a round trip through the package's own Producer and Consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, Producer, Consumer } from '../src/index.ts';
import { silentLogger } from '../src/util/index.ts';
import { tempDir, removeDir } from './helpers/broker.ts';

test('two embedded brokers run side by side in this process and keep their data apart', { timeout: 60_000 }, async () => {
  const dirs = [tempDir(), tempDir()];
  const brokers = await Promise.all(dirs.map((dataDir) => startBroker({ dataDir, port: 0, logger: silentLogger, config: { 'group.initial.rebalance.delay.ms': 0 } })));
  try {
    assert.notEqual(brokers[0].port, brokers[1].port);
    for (const [i, b] of brokers.entries()) {
      const producer = new Producer({ brokers: [`127.0.0.1:${b.port}`] });
      const meta = await producer.send({ topic: 'side', value: `from-broker-${i}` });
      assert.equal(meta.offset, 0);
      await producer.close();
    }
    for (const [i, b] of brokers.entries()) {
      const consumer = new Consumer({ brokers: [`127.0.0.1:${b.port}`], groupId: 'g', topics: ['side'], autoOffsetReset: 'earliest' });
      const seen: string[] = [];
      let done!: () => void;
      const got = new Promise<void>((resolve) => (done = resolve));
      const running = consumer.run(async (m) => {
        seen.push(m.value?.toString() ?? '');
        done();
      });
      await got;
      await consumer.close();
      await running;
      assert.deepEqual(seen, [`from-broker-${i}`]);
    }
  } finally {
    await Promise.all(brokers.map((b) => b.close()));
    dirs.forEach(removeDir);
  }
});
