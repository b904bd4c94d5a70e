// log.preallocate.bytes: a flush.mode=sync partition keeps zeros written ahead of its data, so a
// durable append overwrites allocated blocks. Through a running broker: the segment file runs
// ahead of the data while it runs and is cut back when it closes; 0 turns it off; a kill -9 leaves
// zeros that the restart trims, with every acknowledged record kept; the zeros never eat into
// disk.min.free.bytes; an out-of-range value is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBatch } from '../../src/record/index.ts';
import { SimFileSystem } from '../../src/storage/index.ts';
import { Rng, silentLogger } from '../../src/util/index.ts';
import { startBroker, type StartBrokerOptions } from '../../src/broker/index.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';
import { wholeBatchesEnd } from '../storage/helpers.ts';
import { removeDir, spawnBroker, tempDir } from '../helpers/broker.ts';

/** Produces `batches` batches of 100 records of 1,000 bytes (~100 KB each) to partition 0. */
async function produce(c: TestKafkaClient, topic: string, batches: number): Promise<void> {
  for (let i = 0; i < batches; i++) {
    const records = buildBatch({ records: Array.from({ length: 100 }, (_, j) => ({ value: Buffer.alloc(1000, (i + j) & 0xff) })) });
    const r = await c.request(0, 8, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0, `batch ${i} refused: ${r.responses[0].partitionResponses[0].errorMessage}`);
  }
}

async function withBroker<T>(options: Omit<StartBrokerOptions, 'port'>, fn: (c: TestKafkaClient) => Promise<T>): Promise<T> {
  const broker = await startBroker({ port: 0, logger: silentLogger, ...options });
  const c = await TestKafkaClient.connect(`127.0.0.1:${broker.port}`);
  try {
    await c.request(3, 6, { topics: [{ name: 'p' }], allowAutoTopicCreation: true });
    return await fn(c);
  } finally {
    c.close();
    await broker.close();
  }
}

test('by default a busy partition\'s segment runs ahead of its data in zeros while the broker runs, and is cut back when it stops; 0 turns it off', async () => {
  for (const preallocate of [undefined, 0]) {
    const dataDir = await mkdtemp(join(tmpdir(), 'holdfast-prealloc-'));
    try {
      const config = { 'num.partitions': 1, ...(preallocate === undefined ? {} : { 'log.preallocate.bytes': preallocate }) };
      let file = '';
      await withBroker({ dataDir, config }, async (c) => {
        await produce(c, 'p', 13); // ~1.3 MB: past the 1 MiB a segment holds before its first fill
        file = join(dataDir, 'p-0', (await readdir(join(dataDir, 'p-0'))).find((f) => f.endsWith('.log')) as string);
        let longer = false;
        for (let i = 0; i < 100 && !longer; i++) {
          const bytes = await readFile(file);
          longer = bytes.length > wholeBatchesEnd(bytes);
          if (!longer) await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(longer, preallocate === undefined, preallocate === undefined ? 'zeros ahead of the data by default' : 'no zeros with log.preallocate.bytes 0');
      });
      const bytes = await readFile(file);
      assert.ok(wholeBatchesEnd(bytes) > 1_000_000);
      assert.equal((await stat(file)).size, wholeBatchesEnd(bytes), 'after the broker stops the file ends with its last batch');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
});

/** Polls (bounded) until the segment file holds more than its whole batches; returns its bytes. */
async function waitForZeros(file: string): Promise<Buffer> {
  for (let i = 0; i < 200; i++) {
    const bytes = await readFile(file);
    if (bytes.length > wholeBatchesEnd(bytes)) return bytes;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${file} never ran ahead of its data`);
}

test('a holdfast serve process killed with -9 while its segment runs ahead in zeros restarts with every acknowledged record, the zeros trimmed', async () => {
  const dataDir = tempDir('holdfast-prealloc-kill-');
  try {
    const first = await spawnBroker(dataDir);
    let file = '';
    try {
      const c = await TestKafkaClient.connect(first.bootstrap);
      try {
        await c.request(3, 6, { topics: [{ name: 'p' }], allowAutoTopicCreation: true });
        await produce(c, 'p', 13);
      } finally {
        c.close();
      }
      file = join(dataDir, 'p-0', (await readdir(join(dataDir, 'p-0'))).find((f) => f.endsWith('.log')) as string);
      await waitForZeros(file);
    } finally {
      await first.kill('SIGKILL');
    }
    const crashed = await readFile(file);
    assert.ok(crashed.length > wholeBatchesEnd(crashed), 'the kill left zeros after the data');
    const second = await spawnBroker(dataDir);
    try {
      const c = await TestKafkaClient.connect(second.bootstrap);
      try {
        const { records } = await fetchAll(c, 'p', 0);
        assert.equal(records.length, 1300, 'every acknowledged record');
        await produce(c, 'p', 1);
      } finally {
        c.close();
      }
      assert.ok(second.stderr.some((l) => l.includes('trimming zeros')), second.stderr.join('\n'));
      assert.ok(!second.stderr.some((l) => l.includes('torn tail')), second.stderr.join('\n'));
    } finally {
      await second.kill('SIGTERM');
    }
    const bytes = await readFile(file);
    assert.equal(bytes.length, wholeBatchesEnd(bytes), 'cut back to its data when the second broker stopped');
  } finally {
    removeDir(dataDir);
  }
});

test('zeros are written only where disk.min.free.bytes leaves room for them', async () => {
  const MiB = 1024 * 1024;
  // 1.3 MB of data on a 4 MiB disk with 2.5 MiB in reserve: a 1 MiB fill would leave less than the
  // reserve, the data alone does not. On an 8 MiB disk the same fill fits.
  for (const capacity of [4 * MiB, 8 * MiB]) {
    const sim = new SimFileSystem({ rng: new Rng(7), capacityBytes: capacity });
    await withBroker({ dataDir: '/data', fs: sim.mount(), config: { 'num.partitions': 1, 'disk.min.free.bytes': 2.5 * MiB } }, async (c) => {
      await produce(c, 'p', 13);
      let longer = false;
      for (let i = 0; i < 50 && !longer; i++) {
        const [, bytes] = [...sim.filesUnder('/data/p-0')].find(([path]) => path.endsWith('.log')) as [string, Buffer];
        longer = bytes.length > wholeBatchesEnd(bytes);
        if (!longer) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(longer, capacity === 8 * MiB, `capacity ${capacity}: ${sim.usedBytes()} bytes used`);
      await produce(c, 'p', 1); // still room for data
    });
  }
});

test('log.preallocate.bytes above 64 MiB or below 0 is refused by name', async () => {
  for (const value of [64 * 1024 * 1024 + 1, -1]) {
    await assert.rejects(startBroker({ dataDir: '/data', port: 0, logger: silentLogger, fs: new SimFileSystem({ rng: new Rng(1) }).mount(), config: { 'log.preallocate.bytes': value } }), (err: Error) => {
      assert.match(err.message, /log\.preallocate\.bytes/);
      assert.match(err.message, value < 0 ? /minimum 0/ : /maximum 67108864/);
      return true;
    });
  }
});
