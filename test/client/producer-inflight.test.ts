// Several batches of one partition in flight (maxInFlight): the producer sends a partition's next
// batch while the one before waits for the broker's durable write, and the broker's sequence check
// keeps the order when a batch ahead fails. The durable write (O_DSYNC write or fsync) is held at
// the file-system seam, so "in flight" is observed on the broker (its log end moves before
// anything is durable), not inferred.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { NodeFileSystem, type FileHandle, type FileSystem, type OpenMode } from '../../src/storage/index.ts';
import { HoldfastError, silentLogger } from '../../src/util/index.ts';
import { Producer, type ProducerOptions, type RecordMetadata } from '../../src/client/index.ts';
import { removeDir, tempDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchBatches } from '../helpers/fetch-all.ts';

/** Real files; fsyncs, and writes through O_DSYNC handles (durable writes), of files whose path contains `pathPart` wait while `held`. */
class HeldSyncFileSystem implements FileSystem {
  private readonly inner = new NodeFileSystem();
  private readonly waiters: Array<() => void> = [];
  private readonly pathPart: string;
  held = false;
  constructor(pathPart: string) {
    this.pathPart = pathPart;
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const w of this.waiters.splice(0)) w();
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await this.inner.open(path, mode);
    if (!path.includes(this.pathPart)) return h;
    const gate = async (): Promise<void> => {
      if (this.held) await new Promise<void>((resolve) => this.waiters.push(resolve));
    };
    const durable = mode === 'dsync';
    return {
      read: (...a) => h.read(...a),
      write: async (...a) => (durable && (await gate()), h.write(...a)),
      writev: async (...a) => (durable && (await gate()), h.writev(...a)),
      sync: async () => (await gate(), h.sync()),
      truncate: (...a) => h.truncate(...a),
      size: () => h.size(),
      close: () => h.close(),
    };
  }
  readFile(path: string) { return this.inner.readFile(path); }
  exists(path: string) { return this.inner.exists(path); }
  fileSize(path: string) { return this.inner.fileSize(path); }
  readdir(path: string) { return this.inner.readdir(path); }
  mkdir(path: string) { return this.inner.mkdir(path); }
  rename(from: string, to: string) { return this.inner.rename(from, to); }
  unlink(path: string) { return this.inner.unlink(path); }
  rmdir(path: string, options: { recursive: boolean }) { return this.inner.rmdir(path, options); }
  fsyncDir(path: string) { return this.inner.fsyncDir(path); }
  freeBytes(path: string) { return this.inner.freeBytes(path); }
}

async function withBroker(topic: string, configs: Record<string, string>, body: (broker: Broker, fs: HeldSyncFileSystem, bootstrap: string) => Promise<void>): Promise<void> {
  const fs = new HeldSyncFileSystem(`${topic}-0`);
  const dataDir = tempDir();
  const broker = await startBroker({ dataDir, port: 0, fs, logger: silentLogger });
  try {
    await broker.createTopic(topic, 1, configs);
    await body(broker, fs, `127.0.0.1:${broker.port}`);
  } finally {
    fs.release();
    await broker.close();
    removeDir(dataDir);
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function send(p: Producer, topic: string, value: string | Buffer): Promise<RecordMetadata> {
  return new Promise((resolve, reject) => p.sendAsync({ topic, value }, (err, md) => (err === null ? resolve(md as RecordMetadata) : reject(err))));
}

async function logBatches(bootstrap: string, topic: string): Promise<Array<{ producerId: number; baseSequence: number; values: string[] }>> {
  const client = await TestKafkaClient.connect(bootstrap);
  try {
    return (await fetchBatches(client, topic, 0)).batches.map((b) => ({
      producerId: Number(b.header.producerId),
      baseSequence: b.header.baseSequence,
      values: b.records.map((r) => r.value?.toString() ?? ''),
    }));
  } finally {
    client.close();
  }
}

for (const maxInFlight of [5, 1]) {
  test(`maxInFlight ${maxInFlight}: ${maxInFlight > 1 ? 'the next batch reaches the broker' : 'the next batch waits'} while the one before waits for its fsync`, async () => {
    await withBroker('pipe', {}, async (broker, fs, bootstrap) => {
      // A 150-byte value fills a batch of 200 bytes on its own: only full batches go out behind one in flight.
      const options: ProducerOptions = { brokers: [bootstrap], lingerMs: 0, maxInFlight, batchBytes: 200 };
      const full = (name: string): Buffer => Buffer.concat([Buffer.from(name), Buffer.alloc(150 - name.length, 0x2e)]);
      const p = new Producer(options);
      try {
        await send(p, 'pipe', 'warm-up'); // producer id and metadata known
        const log = broker.partitionLog('pipe', 0);
        assert.ok(log !== undefined);
        fs.hold();
        const sends = [send(p, 'pipe', 'a')];
        await until('the first batch to reach the log', () => log.logEndOffset === 2);
        for (let i = 0; i < 3; i++) {
          sends.push(send(p, 'pipe', full(`b${i}`)));
          await tick(); // a batch each
          await tick();
        }
        if (maxInFlight > 1) {
          await until('the next batches to reach the log while the fsync is held', () => log.logEndOffset === 5);
          // A batch that is not full waits for those in flight, collecting records meanwhile.
          sends.push(send(p, 'pipe', 'c'));
          await new Promise((r) => setTimeout(r, 200));
          assert.equal(log.logEndOffset, 5, 'a batch still filling does not go out behind batches in flight');
        } else {
          await new Promise((r) => setTimeout(r, 200));
          assert.equal(log.logEndOffset, 2, 'with maxInFlight 1 nothing goes out behind the batch in flight');
        }
        fs.release();
        const expected = ['warm-up', 'a', full('b0'), full('b1'), full('b2'), ...(maxInFlight > 1 ? ['c'] : [])].map(String);
        assert.deepEqual((await Promise.all(sends)).map((m) => m.offset), expected.slice(1).map((_, i) => i + 1));
        const batches = await logBatches(bootstrap, 'pipe');
        assert.deepEqual(batches.flatMap((b) => b.values), expected, 'each record once, in send order');
        let sequence = 0;
        for (const b of batches) {
          assert.equal(b.producerId, p.currentProducerId);
          assert.equal(b.baseSequence, sequence, 'contiguous sequence numbers');
          sequence += b.values.length;
        }
      } finally {
        fs.release();
        await p.close();
      }
    });
  });
}

test('the first batch of a producer on a partition is written before others follow it (the broker accepts any sequence from an unknown producer)', async () => {
  await withBroker('first', {}, async (broker, fs, bootstrap) => {
    const p = new Producer({ brokers: [bootstrap], lingerMs: 0, batchBytes: 200 });
    try {
      const log = broker.partitionLog('first', 0);
      assert.ok(log !== undefined);
      fs.hold();
      const full = (name: string): Buffer => Buffer.concat([Buffer.from(name), Buffer.alloc(150 - name.length, 0x2e)]);
      const sends = [send(p, 'first', full('a'))];
      await until('the first batch to reach the log', () => log.logEndOffset === 1);
      sends.push(send(p, 'first', full('b')), send(p, 'first', full('c')));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(log.logEndOffset, 1, 'full batches wait while the producer\'s first batch is in flight');
      fs.release();
      assert.deepEqual((await Promise.all(sends)).map((m) => m.offset), [0, 1, 2]);
    } finally {
      fs.release();
      await p.close();
    }
  });
});

test('a batch refused for good ahead of batches in flight: they are numbered again under a new producer id and written once, in order', async () => {
  await withBroker('gap', { 'max.message.bytes': '2000' }, async (broker, fs, bootstrap) => {
    const p = new Producer({ brokers: [bootstrap], lingerMs: 0, batchBytes: 1000 });
    try {
      await send(p, 'gap', 'first');
      const firstId = p.currentProducerId;
      const log = broker.partitionLog('gap', 0);
      assert.ok(log !== undefined);
      fs.hold();
      const held = send(p, 'gap', 'held'); // in flight until its fsync is released
      await until('the held batch to reach the log', () => log.logEndOffset === 2);
      // Then, behind it: a batch the broker refuses (over max.message.bytes, a batch of its own as
      // it exceeds batchBytes), a full batch numbered after the refused one (a second 600-byte
      // record does not fit beside the first), and the batch that second record opened.
      const tooLarge = send(p, 'gap', Buffer.alloc(5000, 1)).then(
        () => assert.fail('the oversized record must be refused'),
        (err: unknown) => err,
      );
      const after = [send(p, 'gap', 'x'.repeat(600)), send(p, 'gap', 'y'.repeat(600))];
      await tick();
      await tick();
      const numberedBehind = p.currentProducerId;
      fs.release();
      assert.equal((await held).offset, 1);
      const err = await tooLarge;
      assert.ok(err instanceof HoldfastError && err.code === 'MESSAGE_TOO_LARGE', `expected MESSAGE_TOO_LARGE, got ${String(err)}`);
      assert.deepEqual((await Promise.all(after)).map((m) => m.offset), [2, 3], 'the batches behind the refused one follow the held one');
      assert.equal(numberedBehind, firstId);
      assert.notEqual(p.currentProducerId, firstId, 'numbered behind the gap, the full batch was renumbered under a new producer id');
      const batches = await logBatches(bootstrap, 'gap');
      assert.deepEqual(batches.map((b) => b.values), [['first'], ['held'], ['x'.repeat(600)], ['y'.repeat(600)]]);
      assert.deepEqual(batches.map((b) => [b.producerId, b.baseSequence]), [[firstId, 0], [firstId, 1], [p.currentProducerId, 0], [p.currentProducerId, 1]]);
    } finally {
      await p.close();
    }
  });
});

test('maxInFlight must be 1 to 5, and above 1 needs idempotence', () => {
  for (const bad of [0, 6, 1.5]) {
    assert.throws(() => new Producer({ brokers: ['127.0.0.1:9'], maxInFlight: bad }), /maxInFlight/);
  }
  assert.throws(() => new Producer({ brokers: ['127.0.0.1:9'], maxInFlight: 6 }), /maxInFlight 6 exceeds 5: the broker remembers only the last 5 batches/);
  assert.throws(() => new Producer({ brokers: ['127.0.0.1:9'], maxInFlight: 2, idempotent: false, acks: 1 }), /maxInFlight 2 needs idempotent: true/);
  new Producer({ brokers: ['127.0.0.1:9'], idempotent: false, acks: 1 }); // the default gives way to 1 without idempotence
});
