// A failed fsync is fatal: the produce that needed it is not acknowledged, the broker stops
// serving, and after a restart (power loss simulated on the file system seam) everything that was
// acknowledged before is still there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { buildBatch } from '../../src/record/index.ts';
import { ErrorCode } from '../../src/protocol/kafka/index.ts';
import { SimFileSystem } from '../../src/storage/index.ts';
import { Rng, silentLogger } from '../../src/util/index.ts';
import { startBroker } from '../../src/broker/index.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

function produce(c: TestKafkaClient, value: string) {
  return c.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'fatal', partitionData: [{ index: 0, records: buildBatch({ records: [{ value }] }) }] }] });
}

test('EIO on fsync: the produce fails, the broker stops, acknowledged data survives a crash and restart', async () => {
  const sim = new SimFileSystem({ rng: new Rng(7) });
  let fatal: Error | null = null;
  const broker = await startBroker({ dataDir: '/data', port: 0, fs: sim.mount(), logger: silentLogger, config: { 'num.partitions': 1 } });
  const bootstrap = `127.0.0.1:${broker.port}`;
  const c = await TestKafkaClient.connect(bootstrap);
  await c.request(3, 6, { topics: [{ name: 'fatal' }], allowAutoTopicCreation: true });
  for (let i = 0; i < 5; i++) assert.equal((await produce(c, `acked-${i}`)).responses[0].partitionResponses[0].errorCode, 0);

  sim.failNext({ op: 'sync', code: 'EIO', path: 'fatal-0' });
  const failed = await produce(c, 'never-acked').catch((err: Error) => {
    fatal = err;
    return null;
  });
  if (failed !== null) assert.equal(failed.responses[0].partitionResponses[0].errorCode, ErrorCode.KAFKA_STORAGE_ERROR, 'not acknowledged');
  else assert.ok(fatal, 'the connection was closed instead of an ack');
  // The broker stopped serving: new connections are refused.
  await new Promise((r) => setTimeout(r, 50));
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: broker.port }, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  assert.ok(refused, 'a broker whose fsync failed must stop accepting clients');
  c.close();
  await broker.close();

  sim.crash(new Rng(11));
  const restarted = await startBroker({ dataDir: '/data', port: 0, fs: sim.mount(), logger: silentLogger });
  const c2 = await TestKafkaClient.connect(`127.0.0.1:${restarted.port}`);
  const { records } = await fetchAll(c2, 'fatal', 0);
  const values = records.map((r) => r.value?.toString());
  assert.deepEqual(values.slice(0, 5), ['acked-0', 'acked-1', 'acked-2', 'acked-3', 'acked-4']);
  assert.ok(values.length <= 6, 'at most the unacknowledged message besides');
  assert.equal((await produce(c2, 'after')).responses[0].partitionResponses[0].errorCode, 0, 'the restarted broker accepts writes');
  c2.close();
  await restarted.close();
});
