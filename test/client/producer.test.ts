// Producer against a real embedded broker over real sockets: send / sendAsync / sendOneway / flush /
// close, partitioning, record contents, compression, idempotence headers, typed errors and
// backpressure. Everything is read back from the broker's log (Fetch), not taken on trust.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { buildBatch, compressionOf, Compression, type DecodedBatch, type CompressionName } from '../../src/record/index.ts';
import { HoldfastError } from '../../src/util/index.ts';
import { Producer, ProducerError, KafkaProtocolError, partitionForKey, type ProducerOptions, type RecordMetadata } from '../../src/client/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { FaultProxy, freePort } from '../../src/cli/verify/index.ts';
import { fetchAll, fetchBatches, type FetchedRecord } from '../helpers/fetch-all.ts';

let b: EmbeddedBroker;
let client: TestKafkaClient;
const producers: Producer[] = [];

before(async () => {
  b = await embeddedBroker();
  client = await TestKafkaClient.connect(b.bootstrap);
});

after(async () => {
  for (const p of producers) await p.close().catch(() => {});
  client.close();
  await b.close();
  removeDir(b.dataDir);
});

function producer(options: Partial<ProducerOptions> = {}): Producer {
  const p = new Producer({ brokers: [b.bootstrap], ...options });
  producers.push(p);
  return p;
}

async function topic(name: string, partitions = 1, configs: Record<string, string> = {}): Promise<string> {
  await b.broker.createTopic(name, partitions, configs);
  return name;
}

/** Every batch of a partition, headers included (fetchAll flattens them away). */
async function batchesOf(name: string, partition: number): Promise<DecodedBatch[]> {
  return (await fetchBatches(client, name, partition)).batches;
}

async function rejection(promise: Promise<unknown>): Promise<HoldfastError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HoldfastError, `expected a HoldfastError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('send() resolves with consecutive offsets, and the log holds the records in send order', async () => {
  const name = await topic('send-order');
  const p = producer();
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => p.send({ topic: name, value: `v${i}` })));
  assert.deepEqual(results.map((r) => r.offset), Array.from({ length: 500 }, (_, i) => i));
  for (const r of results) assert.deepEqual([r.topic, r.partition], [name, 0]);
  const { records } = await fetchAll(client, name, 0);
  assert.deepEqual(records.map((r) => r.value?.toString()), Array.from({ length: 500 }, (_, i) => `v${i}`));
});

test('sendAsync(): callbacks never run inside the call, and one that throws disturbs neither the producer nor the other callbacks', async () => {
  const name = await topic('send-async-callbacks', 2);
  const p = producer();
  await p.send({ topic: name, value: 'warm-up' }); // metadata known: a bad partition now fails at once
  let returned = false;
  const early = await new Promise<Error | null>((resolve) => {
    p.sendAsync({ topic: name, value: 'x', partition: 7 }, (err) => resolve(returned ? err : new Error('called inside sendAsync')));
    returned = true;
  });
  assert.ok(early instanceof ProducerError, String(early));
  assert.notEqual(early.message, 'called inside sendAsync');

  // 100 records in one batch; the callback of the 10th throws. Its error is rethrown on its own
  // (seen here by the process-wide handler), the other 99 callbacks still run, once each.
  const thrown: unknown[] = [];
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', (err) => thrown.push(err));
  try {
    const calls = new Map<number, number>();
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 100; i++) {
        p.sendAsync({ topic: name, value: `v${i}`, partition: 0 }, (err) => {
          assert.equal(err, null);
          calls.set(i, (calls.get(i) ?? 0) + 1);
          if (calls.size === 100) resolve();
          if (i === 9) throw new Error('callback 9 throws');
        });
      }
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([...calls.values()].filter((n) => n !== 1), []);
    assert.deepEqual(thrown.map(String), ['Error: callback 9 throws']);
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of listeners) process.on('uncaughtException', l);
  }
  // The producer carries on.
  assert.equal((await p.send({ topic: name, value: 'after', partition: 0 })).partition, 0);
});

test('sendAsync() reports through the callback exactly once', async () => {
  const name = await topic('send-async');
  const p = producer();
  const calls: Array<[Error | null, RecordMetadata | undefined]> = [];
  await new Promise<void>((resolve) => {
    p.sendAsync({ topic: name, value: 'a' }, (err, metadata) => {
      calls.push([err, metadata]);
      resolve();
    });
  });
  const failed = await new Promise<Error | null>((resolve) => p.sendAsync({ topic: '', value: 'x' }, (err) => resolve(err)));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0], null);
  assert.deepEqual(calls[0][1], { topic: name, partition: 0, offset: 0 });
  assert.ok(failed instanceof ProducerError);
  assert.equal(failed.code, 'INVALID_TOPIC_EXCEPTION');
});

test('min.insync.replicas above 1: acks=all records fail after deliveryTimeoutMs naming NOT_ENOUGH_REPLICAS; acks=1 records are stored', async () => {
  const name = await topic('min-isr-client', 1, { 'min.insync.replicas': '2' });
  const all = producer({ deliveryTimeoutMs: 3000, retryBackoffMs: 50, retryBackoffMaxMs: 100 }); // room for the first attempt on a slow machine
  const err = await rejection(all.send({ topic: name, value: 'needs two replicas' }));
  assert.ok(err instanceof ProducerError && err.code === 'DELIVERY_TIMEOUT', String(err));
  assert.match(err.message, /min\.insync\.replicas=2 but partition 0 has 1 in-sync replica/);
  const one = producer({ acks: 1, idempotent: false });
  assert.deepEqual(await one.send({ topic: name, value: 'leader only' }), { topic: name, partition: 0, offset: 0 });
  const { records } = await fetchAll(client, name, 0);
  assert.deepEqual(records.map((r) => r.value?.toString()), ['leader only']);
});

test('keyless records stay on one partition for batchBytes of records and until its open batch is full, then move to the next', async () => {
  const name = await topic('keyless-sticky', 4);
  const p = producer({ batchBytes: 4096 });
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => p.send({ topic: name, value: Buffer.alloc(100, i) })));
  // Runs of consecutive records on one partition, round-robin from a random first one.
  const runs: number[][] = [];
  results.forEach((r, i) => {
    if (i === 0 || r.partition !== results[i - 1].partition) runs.push([]);
    runs[runs.length - 1].push(i);
  });
  runs.forEach((run, k) => assert.equal(results[run[0]].partition, (results[0].partition + k) % 4, `run ${k}`));
  assert.ok(runs.length >= 4, `200 records of ~110 bytes fill several 4 KiB batches: ${runs.length} runs`);
  // A 100-byte value counts as 136 bytes (36 of framing at most), so 31 records reach stickyBytes
  // (= batchBytes); the move waits until the open batch cannot take another record, so every run
  // but the last is exactly one full batch.
  for (const [k, run] of runs.slice(0, -1).entries()) {
    const partition = results[run[0]].partition;
    const batch = (await batchesOf(name, partition)).find((x) => x.header.baseOffset === results[run[0]].offset);
    assert.ok(batch !== undefined, `run ${k} starts a batch`);
    assert.equal(batch.records.length, run.length, `run ${k} is one batch`);
    assert.ok(run.length > 31, `run ${k} went past stickyBytes while its batch had room (${run.length} records)`);
    const size = batch.header.batchLength + 12;
    assert.ok(size <= 4096 && size + 136 > 4096, `run ${k}'s batch is full: ${size} bytes`);
  }
  for (let partition = 0; partition < 4; partition++) {
    const { records } = await fetchAll(client, name, partition);
    assert.deepEqual(records.map((r) => r.value?.[0]), results.flatMap((r, i) => (r.partition === partition ? [i] : [])));
  }
});

test('a burst that fits one batch by its exact size is one batch on one partition, though its records\' upper bounds add up to more', async () => {
  const name = await topic('burst-one-batch', 4);
  const batchBytes = 64 * 1024;
  const p = producer({ batchBytes });
  // A 1 KiB value takes 1,033 bytes in the batch but counts 1,060 as an upper bound: 63 records are
  // 61 + 63 × 1,033 = 65,140 bytes (fits), 61 + 63 × 1,060 = 66,841 by the bounds (does not), and
  // the bounds reach stickyBytes (= batchBytes) at the 62nd record.
  const results = await Promise.all(Array.from({ length: 63 }, (_, i) => p.send({ topic: name, value: Buffer.alloc(1024, i) })));
  assert.deepEqual(new Set(results.map((r) => r.partition)).size, 1, 'one partition');
  const batches = await batchesOf(name, results[0].partition);
  assert.deepEqual(batches.map((x) => x.records.length), [63], 'one batch');
  assert.ok(batches[0].header.batchLength + 12 <= batchBytes);
  // The next burst moves on: the first partition's batch was sent.
  const next = await Promise.all(Array.from({ length: 3 }, (_, i) => p.send({ topic: name, value: Buffer.alloc(1024, i) })));
  assert.deepEqual(next.map((r) => r.partition), Array(3).fill((results[0].partition + 1) % 4));
});

test('a custom partitioner is asked for each record without a partition, and a choice out of range fails that record by name', async () => {
  const name = await topic('custom-partitioner', 3);
  const seen: Array<{ topic: string; key: string | null; numPartitions: number; recordBytes: number }> = [];
  const p = producer({
    partitioner: (input) => {
      seen.push({ topic: input.topic, key: input.key?.toString() ?? null, numPartitions: input.numPartitions, recordBytes: input.recordBytes });
      return input.key?.toString() === 'out' ? 3 : 2;
    },
  });
  const a = await p.send({ topic: name, key: 'k', value: Buffer.alloc(10) });
  const b2 = await p.send({ topic: name, value: 'x', partition: 1 });
  const err = await rejection(p.send({ topic: name, key: 'out', value: 'y' }));
  assert.equal(a.partition, 2);
  assert.equal(b2.partition, 1); // an explicit partition does not ask the partitioner
  assert.ok(err instanceof ProducerError && err.code === 'INVALID_PARTITION', String(err));
  assert.match(err.message, /partition 3 is not a partition of topic custom-partitioner \(it has 3\)/);
  assert.deepEqual(seen, [
    { topic: name, key: 'k', numPartitions: 3, recordBytes: 36 + 1 + 10 },
    { topic: name, key: 'out', numPartitions: 3, recordBytes: 36 + 3 + 1 },
  ]);
});

test('keyed records land on the partition Kafka\'s default partitioner gives the key', async () => {
  const name = await topic('keyed', 6);
  const p = producer();
  const keys = Array.from({ length: 600 }, (_, i) => `user-${i % 150}`);
  const results = await Promise.all(keys.map((key, i) => p.send({ topic: name, key, value: String(i) })));
  results.forEach((r, i) => assert.equal(r.partition, partitionForKey(keys[i], 6), `key ${keys[i]}`));
  let total = 0;
  for (let partition = 0; partition < 6; partition++) {
    const { records } = await fetchAll(client, name, partition);
    total += records.length;
    for (const r of records) assert.equal(partitionForKey(r.key as Buffer, 6), partition);
    // Per partition, send order is log order.
    const sent = records.map((r) => Number(r.value?.toString()));
    assert.deepEqual(sent, [...sent].sort((x, y) => x - y));
  }
  assert.equal(total, 600);
});

test('headers, null key, null value, explicit partition and timestamp round-trip', async () => {
  const name = await topic('contents', 2);
  const p = producer();
  const binary = Buffer.from([0, 255, 1, 254]);
  await p.send({ topic: name, partition: 1, key: null, value: 'no key', headers: { a: 'x', b: binary, empty: '' }, timestamp: 1_600_000_000_000 });
  await p.send({ topic: name, partition: 1, key: binary, value: null });
  await p.send({ topic: name, partition: 1, key: 'k', value: Buffer.alloc(0) });
  const { records } = await fetchAll(client, name, 1);
  assert.equal(records.length, 3);
  assert.equal(records[0].key, null);
  assert.equal(records[0].value?.toString(), 'no key');
  assert.equal(records[0].timestamp, 1_600_000_000_000);
  assert.deepEqual(records[0].headers.map((h) => [h.key, h.value]), [['a', Buffer.from('x')], ['b', binary], ['empty', Buffer.alloc(0)]]);
  assert.deepEqual(records[1].key, binary);
  assert.equal(records[1].value, null);
  assert.deepEqual(records[1].headers, []);
  assert.deepEqual(records[2].value, Buffer.alloc(0));
  assert.equal((await fetchAll(client, name, 0)).records.length, 0);
});

test('send(), sendAsync() and sendOneway() copy a record\'s buffers before they return: the caller may reuse them at once', async () => {
  const name = await topic('reuse-buffers', 2);
  // Small buffer space, so later records also wait for it; the first ones wait for the topic's metadata.
  const p = producer({ maxBufferedBytes: 2_000, lingerMs: 2 });
  const key = Buffer.alloc(6);
  const value = Buffer.alloc(120);
  const header = Buffer.alloc(6);
  const want = new Map<number, string[]>([[0, []], [1, []]]);
  const sends: Array<Promise<unknown>> = [];
  const fill = (i: number): void => {
    key.fill(0).write(`k${i}`);
    value.fill(0).write(`value-${i}`);
    header.fill(0).write(`h${i}`);
  };
  const expect = (partition: number): void => {
    want.get(partition)?.push(`${key.toString('hex')}|${value.toString('hex')}|${header.toString('hex')}`);
  };
  for (let i = 0; i < 300; i++) {
    fill(i);
    const partition = i % 2;
    expect(partition);
    if (i % 3 === 0) {
      sends.push(p.send({ topic: name, partition, key, value, headers: { h: header } }));
    } else {
      sends.push(new Promise<void>((resolve, reject) => p.sendAsync({ topic: name, partition, key, value, headers: { h: header } }, (err) => (err === null ? resolve() : reject(err)))));
    }
    if (i === 150) await Promise.all(sends); // metadata known and the buffer free: records go straight into batches
  }
  await Promise.all(sends);
  fill(300);
  expect(1);
  const oneway = p.sendOneway({ topic: name, partition: 1, key, value, headers: { h: header } });
  fill(-1); // sendOneway waits for metadata and a connection: the bytes were taken before
  value.fill(1);
  await oneway;
  const show = (r: FetchedRecord): string => `${r.key?.toString('hex')}|${r.value?.toString('hex')}|${r.headers[0]?.value?.toString('hex')}`;
  assert.deepEqual((await fetchAll(client, name, 0)).records.map(show), want.get(0));
  let records: FetchedRecord[] = [];
  for (let tries = 0; tries < 100 && records.length < 151; tries++) {
    records = (await fetchAll(client, name, 1)).records; // acks=0: the last one lands when it lands
    if (records.length < 151) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(records.map(show), want.get(1));
});

test('batches are built in the chunks of acknowledged ones: with requests held in the socket by a stalled network and several batches of several partitions in flight, every record reads back byte-exact', { timeout: 60_000 }, async () => {
  // A proxy that stops reading now and then holds requests in the producer's socket: a chunk given
  // back before its batch was acknowledged would be written over while its bytes wait to be sent.
  const proxyPort = await freePort();
  const own = await embeddedBroker({ 'advertised.port': proxyPort });
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: own.broker.port }, proxyPort);
  const partitions = 4;
  const name = 'chunk-reuse';
  await own.broker.createTopic(name, partitions, {});
  const p = new Producer({ brokers: [`127.0.0.1:${proxyPort}`], batchBytes: 262_144, lingerMs: 0, deliveryTimeoutMs: 15_000 });
  const reader = await TestKafkaClient.connect(own.bootstrap);
  try {
    await p.send({ topic: name, partition: 0, value: 'first' }); // metadata, producer id, connection: buffers still small
    const want: string[][] = [['first'], [], [], []].map((w) => w.map((v) => Buffer.from(v).toString('hex')));
    const sends: Array<Promise<unknown>> = [];
    for (let n = 0; n < 24_000; n++) {
      const partition = n % partitions;
      // Sizes vary so that a reused chunk still holds longer records of an earlier batch past the new ones.
      const value = Buffer.alloc(200 + ((n * 7919) % 1800), n & 0xff);
      value.writeUInt32BE(n, 0);
      want[partition].push(value.toString('hex'));
      sends.push(new Promise<void>((resolve, reject) => p.sendAsync({ topic: name, partition, value }, (err) => (err === null ? resolve() : reject(err)))));
      if (n % 200 === 0) {
        // Bursts on separate turns: batches fill and go out while earlier ones wait in the socket.
        if (n % 8000 === 0) proxy.stall();
        await new Promise((r) => setTimeout(r, 1));
        if (n % 8000 === 6000) proxy.heal();
      }
    }
    proxy.heal();
    await Promise.all(sends);
    // White box: the producer did reuse chunks (what the rest of this test makes safe).
    const pool = (p as unknown as { chunkPool: { size: { chunks: number } } }).chunkPool;
    assert.ok(pool.size.chunks > 0, 'acknowledged batches gave their chunks back');
    for (let partition = 0; partition < partitions; partition++) {
      const got = (await fetchAll(reader, name, partition, 0, 64 * 1024 * 1024)).records.map((r) => r.value?.toString('hex'));
      assert.equal(got.length, want[partition].length, `partition ${partition}: record count`);
      assert.ok(got.every((v, i) => v === want[partition][i]), `partition ${partition}: every value byte-exact and in order`);
    }
  } finally {
    await p.close();
    reader.close();
    await proxy.close();
    await own.close();
    removeDir(own.dataDir);
  }
});

test('partitions that once sent large batches do not each hold a large chunk for a small record', async () => {
  // A partition's next batch starts with a chunk the size of its last one, but only while the
  // chunks of all unsettled batches stay within maxBufferedBytes.
  const partitions = 48;
  const batchBytes = 256 * 1024;
  const maxBufferedBytes = 2 * 1024 * 1024;
  const name = await topic('chunk-budget', partitions);
  const p = producer({ batchBytes, maxBufferedBytes, lingerMs: 60_000 });
  const value = Buffer.alloc(1000, 7);
  for (let partition = 0; partition < partitions; partition++) {
    // 252 records of at most 1,036 bytes fill a 256 KiB batch; flush() sends it.
    for (let i = 0; i < 252; i++) p.sendAsync({ topic: name, partition, value }, () => undefined);
    await p.flush();
  }
  globalThis.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  const small = Array.from({ length: partitions }, (_, partition) => p.send({ topic: name, partition, value: 'small' }));
  const grown = process.memoryUsage().arrayBuffers - before;
  // Without the budget each partition would start from its last batch's ~254 KB: ~12 MB in all.
  assert.ok(grown < maxBufferedBytes + 512 * 1024, `${partitions} one-record batches hold ${grown} bytes`);
  await p.flush();
  assert.equal((await Promise.all(small)).length, partitions);
});

test('every compression codec writes compressed batches that read back intact', async () => {
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as CompressionName[]) {
    const name = await topic(`codec-${codec}`);
    const p = producer({ compression: codec });
    const values = Array.from({ length: 300 }, (_, i) => `${codec} record ${i} `.repeat(1 + (i % 5)));
    await Promise.all(values.map((value, i) => p.send({ topic: name, key: String(i), value })));
    const batches = await batchesOf(name, 0);
    assert.ok(batches.length >= 1);
    for (const batch of batches) assert.equal(compressionOf(batch.header.attributes), Compression[codec], codec);
    assert.deepEqual(batches.flatMap((x) => x.records.map((r) => r.value?.toString())), values);
  }
});

test('idempotent batches carry one producer id, epoch 0 and contiguous sequence numbers', async () => {
  const name = await topic('idempotent');
  const p = producer({ lingerMs: 0, batchBytes: 2000 });
  for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 40 }, (_, i) => p.send({ topic: name, value: `r${round}-${i}` })));
  const batches = await batchesOf(name, 0);
  assert.ok(batches.length >= 5, `expected several batches, got ${batches.length}`);
  let sequence = 0;
  for (const batch of batches) {
    assert.equal(batch.header.producerId, p.currentProducerId);
    assert.equal(batch.header.producerEpoch, 0);
    assert.equal(batch.header.baseSequence, sequence);
    assert.ok(batch.header.batchLength + 12 <= 2000, 'batches respect batchBytes');
    sequence += batch.header.recordsCount;
  }
  assert.equal(sequence, 200);
});

test('records linger until flush(), which resolves after every earlier record settled', async () => {
  const name = await topic('linger-flush');
  const p = producer({ lingerMs: 60_000 });
  let settled = 0;
  const sends = Array.from({ length: 20 }, (_, i) => p.send({ topic: name, value: String(i) }).finally(() => settled++));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(settled, 0, 'nothing is sent before lingerMs or a flush');
  await p.flush();
  assert.equal(settled, 20);
  assert.deepEqual((await Promise.all(sends)).map((r) => r.offset), Array.from({ length: 20 }, (_, i) => i));
  await p.flush(); // nothing pending: resolves at once
});

test('lingerMs 0 sends a lone record on the next turn of the event loop: its round trip matches one pushed out by flush()', async () => {
  // A timer would wait at least 1 ms (Node's shortest) before sending. Compared as a ratio of
  // medians in one run, alternating blocks of sequential sends.
  const name = await topic('linger-zero');
  const p = producer({ lingerMs: 0 });
  await p.send({ topic: name, value: 'warm-up' });
  const alone: number[] = [];
  const flushed: number[] = [];
  for (let round = 0; round < 6; round++) {
    for (const [times, flush] of [[alone, false], [flushed, true]] as const) {
      for (let i = 0; i < 25; i++) {
        // Sent from a timer's callback, as a producer sending at a fixed rate does.
        await new Promise((resolve) => setTimeout(resolve, 1));
        const startedMs = performance.now();
        const sent = p.send({ topic: name, value: `r${round}-${i}` });
        if (flush) void p.flush();
        await sent;
        times.push(performance.now() - startedMs);
      }
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const ratio = median(alone) / median(flushed);
  assert.ok(ratio < 1.5, `a lone record with lingerMs 0 took ${median(alone).toFixed(3)} ms (median of ${alone.length}) against ${median(flushed).toFixed(3)} ms when flushed: ratio ${ratio.toFixed(2)}, expected under 1.5`);
  const { records } = await fetchAll(client, name, 0);
  assert.equal(records.length, 1 + alone.length + flushed.length);
});

test('close() sends what is pending first; afterwards every send rejects with CLIENT_CLOSED', async () => {
  const name = await topic('close');
  const p = producer({ lingerMs: 60_000 });
  const pending = Array.from({ length: 10 }, (_, i) => p.send({ topic: name, value: String(i) }));
  await p.close();
  assert.equal((await Promise.all(pending)).length, 10);
  assert.equal((await fetchAll(client, name, 0)).records.length, 10);
  const err = await rejection(p.send({ topic: name, value: 'late' }));
  assert.equal(err.code, 'CLIENT_CLOSED');
  assert.equal(err.retriable, false);
  const cbErr = await new Promise<Error | null>((resolve) => p.sendAsync({ topic: name, value: 'late' }, (e) => resolve(e)));
  assert.equal((cbErr as HoldfastError).code, 'CLIENT_CLOSED');
  assert.equal((await rejection(p.sendOneway({ topic: name, value: 'late' }))).code, 'CLIENT_CLOSED');
  await p.close(); // idempotent
});

test('sendOneway() writes with acks=0 and no producer id', async () => {
  const name = await topic('oneway');
  const p = producer();
  for (let i = 0; i < 5; i++) assert.deepEqual(await p.sendOneway({ topic: name, key: 'k', value: `one-${i}` }), { topic: name, partition: 0 });
  let batches: DecodedBatch[] = [];
  for (let tries = 0; tries < 100 && batches.length < 5; tries++) {
    batches = await batchesOf(name, 0);
    if (batches.length < 5) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(batches.map((x) => x.records[0].value?.toString()), ['one-0', 'one-1', 'one-2', 'one-3', 'one-4']);
  for (const batch of batches) assert.equal(batch.header.producerId, -1);
});

test('a record above max.message.bytes rejects with MESSAGE_TOO_LARGE; the partition carries on', async () => {
  const name = await topic('too-large', 1, { 'max.message.bytes': '2000' });
  const p = producer();
  await p.send({ topic: name, value: 'before' });
  const pid = p.currentProducerId;
  const err = await rejection(p.send({ topic: name, value: Buffer.alloc(5000, 1) }));
  assert.ok(err instanceof KafkaProtocolError);
  assert.equal(err.code, 'MESSAGE_TOO_LARGE');
  assert.equal(err.kafkaErrorCode, 10);
  assert.equal(err.retriable, false);
  // The refused batch gave its sequence numbers back: same producer id, no gap.
  assert.equal((await p.send({ topic: name, value: 'after' })).offset, 1);
  assert.equal(p.currentProducerId, pid);
  const batches = await batchesOf(name, 0);
  assert.deepEqual(batches.map((x) => [x.header.producerId, x.header.baseSequence]), [[pid, 0], [pid, 1]]);
});

test('unknown topic with auto-creation off: DELIVERY_TIMEOUT caused by UNKNOWN_TOPIC_OR_PARTITION', async () => {
  const p = producer({ allowAutoTopicCreation: false, deliveryTimeoutMs: 3000 }); // room for a Metadata round trip on a slow machine
  const err = await rejection(p.send({ topic: 'no-such-topic', value: 'x' }));
  assert.equal(err.code, 'DELIVERY_TIMEOUT');
  assert.equal(err.retriable, true);
  assert.ok(err.cause instanceof HoldfastError);
  assert.equal(err.cause.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(b.broker.registry.get('no-such-topic'), undefined, 'the topic was not auto-created');
});

test('an unreachable broker: DELIVERY_TIMEOUT caused by the connection error, and close() still returns', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve())); // nothing listens there now
  const p = producer({ brokers: [`127.0.0.1:${port}`], deliveryTimeoutMs: 600 });
  const err = await rejection(p.send({ topic: 'anything', value: 'x' }));
  assert.equal(err.code, 'DELIVERY_TIMEOUT');
  assert.ok(err.cause instanceof HoldfastError);
  assert.equal(err.cause.code, 'CONNECTION_ERROR');
  assert.equal(err.cause.retriable, true);
  await p.close();
});

test('an unknown topic is auto-created by default', async () => {
  const p = producer();
  const r = await p.send({ topic: 'auto-created', value: 'x' });
  assert.deepEqual(r, { topic: 'auto-created', partition: 0, offset: 0 });
  assert.notEqual(b.broker.registry.get('auto-created'), undefined);
});

test('backpressure: buffered bytes stay under maxBufferedBytes and every send completes', async () => {
  const name = await topic('backpressure', 3);
  const maxBufferedBytes = 20_000;
  const p = producer({ maxBufferedBytes, lingerMs: 1 });
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, p.bufferedByteCount);
  };
  const sends: Array<Promise<RecordMetadata>> = [];
  for (let i = 0; i < 1000; i++) {
    sends.push(p.send({ topic: name, key: String(i), value: Buffer.alloc(500, i) }).finally(sample));
    sample();
  }
  assert.ok(p.bufferedByteCount <= maxBufferedBytes);
  const results = await Promise.all(sends);
  assert.equal(results.length, 1000);
  assert.ok(peak > 0 && peak <= maxBufferedBytes, `peak ${peak} within ${maxBufferedBytes}`);
  assert.equal(p.bufferedByteCount, 0);
  let total = 0;
  for (let partition = 0; partition < 3; partition++) total += (await fetchAll(client, name, partition)).records.length;
  assert.equal(total, 1000);
});

test('a full buffer makes send() wait maxBlockMs, then reject with BUFFER_FULL', async () => {
  // An unknown topic with auto-creation off keeps records buffered until their delivery timeout.
  const p = producer({ allowAutoTopicCreation: false, maxBufferedBytes: 2000, maxBlockMs: 200, deliveryTimeoutMs: 1500 });
  const first = p.send({ topic: 'never-created', value: Buffer.alloc(800) });
  const second = p.send({ topic: 'never-created', value: Buffer.alloc(800) });
  const third = p.send({ topic: 'never-created', value: Buffer.alloc(800) });
  const err = await rejection(third);
  assert.equal(err.code, 'BUFFER_FULL');
  assert.equal(err.retriable, true);
  assert.equal((await rejection(first)).code, 'DELIVERY_TIMEOUT');
  assert.equal((await rejection(second)).code, 'DELIVERY_TIMEOUT');
  assert.equal(p.bufferedByteCount, 0);
  // A record that can never fit fails at once.
  assert.equal((await rejection(p.send({ topic: 'never-created', value: Buffer.alloc(3000) }))).code, 'MESSAGE_TOO_LARGE');
});

test('malformed messages and options reject with typed errors', async () => {
  const name = await topic('invalid');
  const p = producer();
  assert.equal((await rejection(p.send({ topic: 'bad topic!', value: 'x' }))).code, 'INVALID_TOPIC_EXCEPTION');
  assert.equal((await rejection(p.send({ topic: name, value: 42 as never }))).code, 'INVALID_MESSAGE');
  assert.equal((await rejection(p.send({ topic: name, value: 'x', partition: -1 }))).code, 'INVALID_MESSAGE');
  assert.equal((await rejection(p.send({ topic: name, value: 'x', headers: { h: 5 as never } }))).code, 'INVALID_MESSAGE');
  assert.equal((await rejection(p.send({ topic: name, value: 'x', partition: 7 }))).code, 'INVALID_PARTITION');
  assert.equal((await rejection(p.send({ topic: name, value: 'x', timestamp: 1.5 }))).code, 'INVALID_MESSAGE');
  assert.throws(() => new Producer({ brokers: [b.bootstrap], acks: 1 }), { code: 'INVALID_CONFIG' });
  assert.throws(() => new Producer({ brokers: [] }), { code: 'INVALID_CONFIG' });
  assert.throws(() => new Producer({ brokers: [b.bootstrap], compression: 'brotli' as never }), { code: 'INVALID_CONFIG' });
  assert.throws(() => new Producer({ brokers: [b.bootstrap], lingerMs: -1 }), { code: 'INVALID_CONFIG' });
  // A valid record still goes through after all that.
  assert.equal((await p.send({ topic: name, value: 'ok' })).offset, 0);
});

test('a fenced epoch rejects the batch with INVALID_PRODUCER_EPOCH, and a new producer id carries on', async () => {
  const name = await topic('fenced');
  const p = producer();
  await p.send({ topic: name, value: 'first' });
  const pid = p.currentProducerId;
  assert.ok(pid >= 0);
  // Someone else writes with the same producer id and a newer epoch: ours is now stale.
  const res = await client.request(0, 7, {
    transactionalId: null, acks: -1, timeoutMs: 5000,
    topicData: [{ name, partitionData: [{ index: 0, records: buildBatch({ records: [{ value: 'intruder' }], producerId: pid, producerEpoch: 1, baseSequence: 0 }) }] }],
  });
  assert.equal(res.responses[0].partitionResponses[0].errorCode, 0);
  const err = await rejection(p.send({ topic: name, value: 'fenced' }));
  assert.equal(err.code, 'INVALID_PRODUCER_EPOCH');
  assert.equal(err.retriable, false);
  const after = await p.send({ topic: name, value: 'after' });
  assert.notEqual(p.currentProducerId, pid);
  const { records } = await fetchAll(client, name, 0);
  assert.deepEqual(records.map((r) => r.value?.toString()), ['first', 'intruder', 'after']);
  assert.equal(after.offset, 2);
});

test('non-idempotent acks=1 producer writes without a producer id', async () => {
  const name = await topic('acks1');
  const p = producer({ idempotent: false, acks: 1 });
  await Promise.all(Array.from({ length: 50 }, (_, i) => p.send({ topic: name, value: String(i) })));
  const batches = await batchesOf(name, 0);
  for (const batch of batches) assert.deepEqual([batch.header.producerId, batch.header.baseSequence], [-1, -1]);
  assert.equal(batches.reduce((n, x) => n + x.records.length, 0), 50);
});

test('throughput of send() with 100-byte records (printed, not asserted)', async (t) => {
  const name = await topic('throughput', 3);
  const p = producer();
  const total = 50_000;
  const value = Buffer.alloc(100, 7);
  await p.send({ topic: name, value }); // connect and get the producer id first
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: total }, (_, i) => p.send({ topic: name, key: String(i), value })));
  const seconds = (performance.now() - started) / 1000;
  assert.equal(results.length, total);
  t.diagnostic(`${total} sends of 100-byte records in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} messages/s (acks=-1, idempotent, 3 partitions, flush.mode sync)`);
});

test('a batch the broker refuses as larger than the topic\'s max.message.bytes is split and sent again, in order, byte-exact; later batches keep to the smaller size; a single record too large fails alone', { timeout: 60_000 }, async () => {
  // Values that do not compress, so lz4 batches are as large as uncompressed ones.
  const values = Array.from({ length: 1200 }, () => randomBytes(1000));
  for (const compression of ['none', 'lz4'] as const) {
    const name = await topic(`split-${compression}`, 1, { 'max.message.bytes': '64000' });
    const p = producer({ lingerMs: 20, compression });
    const send = (i: number): Promise<RecordMetadata> => p.send({ topic: name, key: `k${i}`, value: values[i], headers: { n: String(i) } });
    const first = Array.from({ length: 1000 }, (_, i) => send(i));
    const tooBig = rejection(p.send({ topic: name, value: randomBytes(70_000) }));
    const more = Array.from({ length: 200 }, (_, i) => send(1000 + i));
    const results = await Promise.all([...first, ...more]);
    const err = await tooBig;
    assert.equal(err.code, 'MESSAGE_TOO_LARGE', `${compression}: the record larger than the topic allows fails alone`);
    assert.deepEqual(results.map((r) => r.offset), Array.from({ length: 1200 }, (_, i) => i), `${compression}: every other record stored, in send order`);
    const batches = await batchesOf(name, 0);
    const records = batches.flatMap((batch) => batch.records);
    assert.equal(records.length, 1200);
    records.forEach((r, i) => {
      assert.equal(r.key?.toString(), `k${i}`);
      assert.ok(r.value?.equals(values[i]), `${compression}: value of record ${i}`);
      assert.deepEqual(r.headers.map((h) => [h.key, h.value?.toString()]), [['n', String(i)]]);
    });
    const counts = batches.map((batch) => batch.records.length);
    assert.ok(counts.length > 1200 / 64 && counts.every((n) => n * 1000 < 64000), `${compression}: every stored batch fits (records per batch: ${counts.join(',')})`);
  }
});

test('records naming a partition the topic does not have fail with INVALID_PARTITION after one fresh metadata fetch, also when sent while that fetch is under way', { timeout: 20_000 }, async () => {
  const name = await topic('no-partition-5');
  const p = producer();
  await p.send({ topic: name, value: 'known' });
  const first = rejection(p.send({ topic: name, partition: 5, value: 'a' }));
  // Two turns of the event loop: the producer has started the metadata fetch the first one asked for.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const second = rejection(p.send({ topic: name, partition: 5, value: 'b' }));
  const third = p.send({ topic: name, partition: 0, value: 'after' });
  for (const err of [await first, await second]) {
    assert.equal(err.code, 'INVALID_PARTITION');
    assert.match(err.message, /partition 5 is not a partition of topic no-partition-5 \(it has 1\)/);
  }
  assert.equal((await third).offset, 1, 'a record to a partition that exists is stored');
});
