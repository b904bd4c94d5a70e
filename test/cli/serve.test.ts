// `holdfast serve` as a user runs it: the ready line, a usable broker, a clean exit on SIGTERM,
// and data that survives the restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildBatch } from '../../src/record/index.ts';
import { spawnBroker, tempDir, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

test('serve prints the ready line, serves, shuts down cleanly on SIGTERM and keeps the data', { timeout: 120_000 }, async () => {
  const dir = tempDir();
  try {
    const first = await spawnBroker(dir);
    assert.ok(first.port > 0);
    const c1 = await TestKafkaClient.connect(first.bootstrap);
    const res = await c1.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'auto', partitionData: [{ index: 0, records: buildBatch({ records: [{ value: 'one' }, { value: 'two' }] }) }] }] });
    // Produce does not auto-create (Kafka's behaviour): Metadata does.
    assert.equal(res.responses[0].partitionResponses[0].errorCode, 3);
    const meta = await c1.request(3, 6, { topics: [{ name: 'auto' }], allowAutoTopicCreation: true });
    assert.equal(meta.topics[0].errorCode, 0);
    assert.equal(meta.controllerId, meta.brokers[0].nodeId);
    assert.equal(typeof meta.clusterId, 'string');
    const ok = await c1.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'auto', partitionData: [{ index: 0, records: buildBatch({ records: [{ value: 'one' }, { value: 'two' }] }) }] }] });
    assert.equal(ok.responses[0].partitionResponses[0].errorCode, 0);
    c1.close();
    const exit = await first.kill('SIGTERM');
    assert.equal(exit.code, 0, `clean exit; stderr:\n${first.stderr.join('\n')}`);
    assert.ok(existsSync(join(dir, 'meta.json')));

    const second = await spawnBroker(dir);
    const c2 = await TestKafkaClient.connect(second.bootstrap);
    const { records } = await fetchAll(c2, 'auto', 0);
    assert.deepEqual(records.map((r) => r.value?.toString()), ['one', 'two']);
    c2.close();
    await second.kill('SIGTERM');
  } finally {
    removeDir(dir);
  }
});

test('SIGTERM sent the moment the ready line appears still shuts down cleanly', { timeout: 120_000 }, async () => {
  // The ready line is what supervisors and scripts wait for: the signal handlers must be in place
  // before it is written (a broker that printed it first died of a prompt SIGTERM under load).
  for (let i = 0; i < 5; i++) {
    const dir = tempDir();
    try {
      const b = await spawnBroker(dir);
      const exit = await b.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, `clean exit; stderr:\n${b.stderr.join('\n')}`);
    } finally {
      removeDir(dir);
    }
  }
});

test('a bad flag or config value stops the start with an error naming it', () => {
  const cli = resolve('src/cli/main.ts');
  const dir = tempDir();
  try {
    const r = spawnSync(process.execPath, [cli, 'serve', '--port', '99999', '--data-dir', dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /port: 99999 is above the maximum 65535/);
  } finally {
    removeDir(dir);
  }
  const u = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});
