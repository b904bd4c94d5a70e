// Consumer lag from the admin API and from `holdfast groups describe`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { buildBatch } from '../../src/record/index.ts';
import { Admin } from '../../src/client/index.ts';
import { groups } from '../../src/cli/index.ts';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';

test('lag = high watermark - committed offset, from Admin.groupLag and holdfast groups describe', { timeout: 60_000 }, async () => {
  const b = await embeddedBroker();
  const c = await TestKafkaClient.connect(b.bootstrap);
  try {
    await c.request(19, 3, { topics: [{ name: 'lagging', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    for (const [partition, n] of [[0, 10], [1, 3]] as const) {
      const records = Array.from({ length: n }, (_, i) => ({ value: `m${i}` }));
      await c.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'lagging', partitionData: [{ index: partition, records: buildBatch({ records }) }] }] });
    }
    const commit = await c.request(8, 2, { groupId: 'g1', generationIdOrMemberEpoch: -1, memberId: '', retentionTimeMs: -1, topics: [{ name: 'lagging', partitions: [{ partitionIndex: 0, committedOffset: 4, committedMetadata: 'meta' }, { partitionIndex: 1, committedOffset: 3, committedMetadata: null }] }] });
    assert.deepEqual(commit.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode), [0, 0]);

    const admin = new Admin({ brokers: [b.bootstrap] });
    const lag = await admin.groupLag('g1');
    admin.close();
    assert.deepEqual(lag.map((p) => [p.partition, p.committedOffset, p.highWatermark, p.lag]), [[0, 4, 10, 6], [1, 3, 3, 0]]);
    assert.equal(lag[0].metadata, 'meta');

    let json = '';
    assert.equal(await groups(['describe', 'g1', '--brokers', b.bootstrap, '--json'], (s) => (json += s)), 0);
    const parsed = JSON.parse(json);
    assert.equal(parsed.totalLag, 6);
    assert.equal(parsed.state, 'Empty');

    // The command line itself, as a user runs it (async: the broker lives in this process).
    const run = promisify(execFile);
    const r = await run(process.execPath, [resolve('src/cli/main.ts'), 'groups', 'describe', 'g1', '--brokers', b.bootstrap]);
    assert.match(r.stdout, /lagging\s+0\s+4\s+10\s+6/);
    assert.match(r.stdout, /total lag: 6/);
    const list = await run(process.execPath, [resolve('src/cli/main.ts'), 'groups', 'list', '--brokers', b.bootstrap]);
    assert.match(list.stdout, /g1/);
  } finally {
    c.close();
    await b.close();
    removeDir(b.dataDir);
  }
});
