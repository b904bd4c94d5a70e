// The broker's bounds on what clients make it hold, over real sockets: max.connections refuses
// connections beyond the limit and connections.max.idle.ms closes idle ones;
// max.inflight.requests.per.connection, unsent answers and acks=0 writes stop reading a connection,
// so a client that writes faster than it is served fills its own buffers, not the broker's memory;
// fetch.file.read.total.bytes bounds answers read from files; queued.max.request.bytes bounds
// request frames received and not yet handled, across connections; and the fetch and partition limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { buildBatch } from '../../src/record/index.ts';
import { API_KEYS, encodeRequestFrame, FrameDecoder, ErrorCode } from '../../src/protocol/kafka/index.ts';
import { embeddedBroker, removeDir, tempDir, withBroker, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { Producer } from '../../src/client/index.ts';

function open(bootstrap: string): Promise<Socket> {
  const [host, port] = bootstrap.split(':');
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: Number(port) }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The most the kernel may buffer on a loopback connection: the receiver's and the sender's TCP buffer limits. */
function kernelBufferBytes(): number {
  try {
    const max = (file: string): number => Number(readFileSync(file, 'utf8').trim().split(/\s+/).at(-1));
    const bytes = max('/proc/sys/net/ipv4/tcp_rmem') + max('/proc/sys/net/ipv4/tcp_wmem');
    if (Number.isSafeInteger(bytes) && bytes > 0) return bytes;
  } catch {
    // not Linux: assume generous buffers
  }
  return 64 << 20;
}

/** A Fetch v11 body for partition 0 of `topic`. */
function fetchBody(topic: string, fetchOffset: number, maxWaitMs: number, maxBytes = 1 << 20) {
  return { replicaId: -1, maxWaitMs, minBytes: 1, maxBytes, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes: maxBytes }] }], forgottenTopicsData: [], rackId: '' };
}

/** A Produce v7 body (acks=all) with `records` for partition `index` of `topic`. */
function produceBody(topic: string, records: Buffer, index = 0) {
  return { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index, records }] }] };
}

/** The error code a Produce of one batch of `value` to partition `index` of `topic` gets. */
async function produceValue(c: TestKafkaClient, topic: string, value: Buffer | string, index = 0): Promise<number> {
  return (await c.produce(topic, index, value)).errorCode;
}

/** Writes one request frame to a raw socket; false when the socket asks the writer to wait for 'drain'. */
function writeRequest(s: Socket, apiKey: number, version: number, correlationId: number, body: unknown): boolean {
  let ok = true;
  for (const chunk of encodeRequestFrame(apiKey, version, correlationId, 'limits-test', body)) ok = s.write(chunk);
  return ok;
}

/** The correlation ids of the answers `s` receives from now on, in arrival order. */
function collectAnswers(s: Socket): number[] {
  const ids: number[] = [];
  const decoder = new FrameDecoder(1 << 26);
  s.on('data', (d: Buffer) => {
    for (const frame of decoder.push(d)) ids.push(frame.readInt32BE(0));
  });
  return ids;
}

/** Polls `done` every 50 ms; fails with `what()` if it is not true within `timeoutMs`. */
async function waitUntil(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const start = Date.now();
  while (!done()) {
    assert.ok(Date.now() - start < timeoutMs, what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A partition's records in a Fetch answer as one buffer. */
function recordBytes(records: Buffer | Buffer[] | null): Buffer {
  return records === null ? Buffer.alloc(0) : Buffer.isBuffer(records) ? records : Buffer.concat(records);
}

const apiVersions = (c: TestKafkaClient): Promise<{ errorCode: number }> => c.request(API_KEYS.ApiVersions, 0, {});

test('max.connections: a connection beyond the limit is closed unanswered, the open ones keep working, and a freed slot is taken again', async () => {
  await withBroker({ 'max.connections': 2 }, async (b, first) => {
    const second = await TestKafkaClient.connect(b.bootstrap);
    assert.equal((await apiVersions(first)).errorCode, ErrorCode.NONE);
    assert.equal((await apiVersions(second)).errorCode, ErrorCode.NONE);

    const third = await TestKafkaClient.connect(b.bootstrap);
    await assert.rejects(apiVersions(third), /connection closed|ECONNRESET|EPIPE/);
    assert.equal((await apiVersions(first)).errorCode, ErrorCode.NONE);

    second.close();
    // The broker notices the close asynchronously: the next connection gets the slot once it has.
    let fourth: TestKafkaClient | null = null;
    for (let attempt = 0; attempt < 100 && fourth === null; attempt++) {
      const c = await TestKafkaClient.connect(b.bootstrap);
      try {
        await apiVersions(c);
        fourth = c;
      } catch {
        c.close();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.ok(fourth !== null, 'a connection is accepted again once one of the two closed');
    assert.equal((await apiVersions(first)).errorCode, ErrorCode.NONE);
    fourth.close();
    third.close();
  });
});

test('connections.max.idle.ms: a connection with nothing in flight that moves no bytes is closed; a long poll or steady requests keep one open', { timeout: 60_000 }, async () => {
  await withBroker({ 'connections.max.idle.ms': 1500 }, async (b, steady) => {
    await b.broker.createTopic('idle', 1, {});
    const quiet = await TestKafkaClient.connect(b.bootstrap);
    const polling = await TestKafkaClient.connect(b.bootstrap);
    assert.equal((await apiVersions(quiet)).errorCode, ErrorCode.NONE);
    // A fetch waiting 4 s on an empty partition: in flight all that time, so not idle.
    const poll = polling.request(API_KEYS.Fetch, 11, fetchBody('idle', 0, 4000));
    // Requests every 100 ms for 4 s: never idle for 1.5 s.
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      assert.equal((await apiVersions(steady)).errorCode, ErrorCode.NONE);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await poll).responses[0].partitions[0].errorCode, ErrorCode.NONE, 'the long poll was answered, not cut');
    assert.equal(quiet.closed, true, 'the connection that sent nothing for 4 s was closed');
    assert.equal(steady.closed, false);
    // Once its poll is answered, the polling connection is idle like any other.
    await waitUntil(() => polling.closed, 20_000, () => 'the idle connection was never closed');
    quiet.close();
  });
});

test('connections.max.idle.ms: a Holdfast producer idle past it sends again on a new connection', { timeout: 30_000 }, async () => {
  await withBroker({ 'connections.max.idle.ms': 300 }, async (b) => {
    await b.broker.createTopic('idle-producer', 1, {});
    const p = new Producer({ brokers: [b.bootstrap] });
    try {
      assert.equal((await p.send({ topic: 'idle-producer', value: 'before' })).offset, 0);
      await waitUntil(() => b.broker.connectionCount === 0, 10_000, () => `${b.broker.connectionCount} connections still open`);
      assert.equal((await p.send({ topic: 'idle-producer', value: 'after' })).offset, 1);
    } finally {
      await p.close();
    }
  });
});

test('max.inflight.requests.per.connection: behind a long poll the broker stops reading, and answers everything in order once it ends', { timeout: 60_000 }, async () => {
  await withBroker({ 'max.inflight.requests.per.connection': 2 }, async (b, admin) => {
    const s = await open(b.bootstrap);
    try {
      await admin.request(API_KEYS.CreateTopics, 3, { topics: [{ name: 'limits', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
      const responses = collectAnswers(s);

      // Correlation id 1: a fetch with nothing to return waits up to 3 s.
      const pollMs = 3000;
      writeRequest(s, API_KEYS.Fetch, 11, 1, fetchBody('limits', 0, pollMs));
      // Then produce requests of 1 MiB each to a topic that does not exist: each is answered with an
      // error and appends nothing, so none of them can end the poll. Enough of them that, even if the
      // kernel buffers all it may, at least 16 MiB must stay in this client unless the broker reads.
      const mib = 1 << 20;
      const records = buildBatch({ records: [{ value: Buffer.alloc(mib, 0x61) }] });
      const count = 2 + Math.ceil(kernelBufferBytes() / mib) + 16;
      for (let i = 0; i < count; i++) {
        writeRequest(s, API_KEYS.Produce, 7, 2 + i, produceBody('no-such-topic', records));
      }
      await new Promise((r) => setTimeout(r, 1000));
      // The broker holds the poll and one more request, so it stopped reading: what the kernel could
      // not take is still in this socket's buffer.
      assert.deepEqual(responses, [], 'nothing is answered while the poll at the head waits');
      assert.ok(s.writableLength >= 16 * mib, `the client still holds ${s.writableLength} bytes unsent`);

      await waitUntil(() => responses.length >= count + 1, 29_000, () => `only ${responses.length} of ${count + 1} answered`);
      assert.deepEqual(responses, Array.from({ length: count + 1 }, (_, i) => i + 1), 'answered once each, in request order');
      assert.equal(s.writableLength, 0);
    } finally {
      s.destroy();
    }
  });
});

test('a client that does not read its answers: once they back up past the kernel\'s buffers the broker stops reading its requests, then answers everything once it reads', { timeout: 60_000 }, async () => {
  // The in-flight limit is set out of reach: what must stop the reading is the unsent answers.
  await withBroker({ 'max.inflight.requests.per.connection': 1000, 'tail.cache.total.bytes': 0 }, async (b, admin) => {
    await b.broker.createTopic('big', 1, {});
    await b.broker.createTopic('probe', 1, {});
    const answerBytes = 900 * 1024; // under max.message.bytes
    assert.equal(await produceValue(admin, 'big', Buffer.alloc(answerBytes, 0x62)), ErrorCode.NONE);
    const s = await open(b.bootstrap);
    try {
      // No 'data' listener: this client reads nothing. Each fetch is answered with the 900 KiB batch,
      // enough of them to fill every kernel buffer on the way and 8 answers more.
      const count = Math.ceil(kernelBufferBytes() / answerBytes) + 8;
      for (let i = 0; i < count; i++) {
        writeRequest(s, API_KEYS.Fetch, 11, 1 + i, fetchBody('big', 0, 0));
      }
      await new Promise((r) => setTimeout(r, 1500));
      // A produce sent now is only appended if the broker still reads this connection.
      writeRequest(s, API_KEYS.Produce, 7, 1 + count, produceBody('probe', buildBatch({ records: [{ value: 'p' }] })));
      await new Promise((r) => setTimeout(r, 1000));
      const probe = b.broker.partitionLog('probe', 0);
      assert.ok(probe !== undefined);
      assert.equal(probe.highWatermark, 0, 'the broker stopped reading while its answers waited to be sent');

      const responses = collectAnswers(s);
      await waitUntil(() => responses.length >= count + 1, 30_000, () => `only ${responses.length} of ${count + 1} answered`);
      assert.deepEqual(responses, Array.from({ length: count + 1 }, (_, i) => i + 1), 'answered once each, in request order');
      assert.equal(probe.highWatermark, 1, 'the probe was appended once the client read');
    } finally {
      s.destroy();
    }
  });
});

test('fetch.file.read.total.bytes: answers read from files and not yet sent hold the budget; another fetch waits its max wait and gets no records, then reads once they are sent; a closed connection gives back all it held', { timeout: 60_000 }, async () => {
  const budget = 1 << 20;
  await withBroker({ 'fetch.file.read.total.bytes': budget, 'tail.cache.total.bytes': 0, 'max.inflight.requests.per.connection': 1000 }, async (b, c) => {
    await b.broker.createTopic('filed', 1, {});
    const batchBytes = 600 * 1024;
    for (let i = 0; i < 2; i++) {
      assert.equal(await produceValue(c, 'filed', Buffer.alloc(batchBytes, i)), ErrorCode.NONE);
    }
    const askBytes = 700 * 1024; // one batch per answer; over half the budget, so two answers do not fit together
    const reads = b.broker.fetchFileReads;
    /** A client that reads none of its answers, after sending enough file fetches to back them up past the kernel's buffers. */
    const stuckClient = async (): Promise<{ s: Socket; count: number }> => {
      const s = await open(b.bootstrap);
      const count = Math.ceil(kernelBufferBytes() / askBytes) + 8;
      // Each may wait 5 s for budget: the first is read, and the next only once the kernel has taken it.
      for (let i = 0; i < count; i++) {
        writeRequest(s, API_KEYS.Fetch, 11, 1 + i, fetchBody('filed', 0, 5000, askBytes));
      }
      const sentAt = Date.now();
      await waitUntil(() => reads.used > 0 && Date.now() - sentAt >= 1000, 20_000, () => 'the unsent answers never held the budget');
      return { s, count };
    };

    const { s, count } = await stuckClient();
    try {
      assert.ok(reads.used > 0 && reads.used <= budget, `${reads.used} bytes held by the unsent answers, budget ${budget}`);
      const starved = (await c.request(API_KEYS.Fetch, 11, fetchBody('filed', 0, 300, askBytes))).responses[0].partitions[0];
      assert.equal(starved.errorCode, ErrorCode.NONE);
      assert.equal(starved.highWatermark, 2);
      assert.ok(starved.records === null || starved.records.length === 0, 'no room to read: answered after the wait without records');

      const responses = collectAnswers(s);
      await waitUntil(() => responses.length >= count, 30_000, () => `only ${responses.length} of ${count} answered`);
      assert.deepEqual(responses, Array.from({ length: count }, (_, i) => i + 1), 'the stuck client gets every answer once it reads');
      const served = (await c.request(API_KEYS.Fetch, 11, fetchBody('filed', 0, 300, askBytes))).responses[0].partitions[0];
      const records = recordBytes(served.records);
      assert.ok(records.length > batchBytes, `the first batch, read now that the answers are sent (${records.length} bytes)`);
    } finally {
      s.destroy();
    }
    assert.equal(reads.used, 0, 'everything sent has been given back');

    // Answers still unsent when their connection closes are given back too.
    const again = await stuckClient();
    again.s.destroy();
    await waitUntil(() => reads.used === 0, 10_000, () => `${reads.used} bytes still held after the connection closed`);
  });
});

test('acks=0: a client producing faster than the disk writes is held by max.inflight.requests.per.connection; the writes queued in the broker stay within it, and every batch is appended', { timeout: 60_000 }, async () => {
  const inflight = 4;
  await withBroker({ 'max.inflight.requests.per.connection': inflight }, async (b) => {
    await b.broker.createTopic('fire-and-forget', 1, { 'max.message.bytes': String(2 << 20) });
    const log = b.broker.partitionLog('fire-and-forget', 0);
    assert.ok(log !== undefined);
    const s = await open(b.bootstrap);
    try {
      const records = buildBatch({ records: [{ value: Buffer.alloc(1 << 20, 0x30) }] });
      const body = { ...produceBody('fire-and-forget', records), acks: 0 };
      let maxPending = 0;
      const sampler = setInterval(() => (maxPending = Math.max(maxPending, log.pendingBytes)), 1);
      // As fast as the socket takes them, for 2 s: each request is 1 MiB of records.
      let sent = 0;
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        if (!writeRequest(s, API_KEYS.Produce, 7, ++sent, body)) await new Promise((r) => s.once('drain', r));
      }
      await waitUntil(() => log.highWatermark >= sent, 30_000, () => `${log.highWatermark} of ${sent} appended`);
      clearInterval(sampler);
      // Requests waiting for their write hold their place; the broker reads no further.
      assert.ok(maxPending <= (inflight + 1) * records.length, `${maxPending} bytes queued for writing at most, ${inflight} requests of ${records.length} in flight`);
    } finally {
      s.destroy();
    }
  });
});

test('fetch.file.read.total.bytes: a fetch whose partitions together exceed the budget answers with what fits at once, without waiting for bytes it holds itself', { timeout: 20_000 }, async () => {
  await withBroker({ 'fetch.file.read.total.bytes': 1 << 20, 'tail.cache.total.bytes': 0 }, async (b, c) => {
    await b.broker.createTopic('two', 2, {});
    for (const index of [0, 1]) assert.equal(await produceValue(c, 'two', Buffer.alloc(600 * 1024, index), index), ErrorCode.NONE);
    const ask = 700 * 1024;
    const partition = (p: number) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: ask });
    // It asks to wait up to 30 s (fetch.max.wait.ms.max) for 2 MiB: the test's 20 s timeout fails if it waits.
    const body = { ...fetchBody('two', 0, 30_000, 2 << 20), minBytes: 2 << 20, topics: [{ topic: 'two', partitions: [partition(0), partition(1)] }] };
    const res = await c.request(API_KEYS.Fetch, 11, body);
    const [p0, p1] = res.responses[0].partitions;
    const size = (records: Buffer | Buffer[] | null): number => recordBytes(records).length;
    assert.ok(size(p0.records) > 600 * 1024, 'the first partition\'s batch');
    assert.equal(size(p1.records), 0, 'the second did not fit beside it');
    assert.equal(p1.highWatermark, 1, 'and says there is more');
    assert.equal(b.broker.fetchFileReads.used, 0, 'given back once sent');
    // min_bytes 1: alone, the partition's 600 KiB would hold a 2 MiB poll to its max_wait, as in Kafka.
    const second = await c.request(API_KEYS.Fetch, 11, { ...body, minBytes: 1, topics: [{ topic: 'two', partitions: [partition(1)] }] });
    assert.ok(size(second.responses[0].partitions[0].records) > 600 * 1024, 'read by the next fetch');
  });
});

test('max.inflight.requests.per.connection 1: pipelined requests are all read and answered, one at a time', async () => {
  await withBroker({ 'max.inflight.requests.per.connection': 1 }, async (_b, c) => {
    const records = buildBatch({ records: [{ value: 'x' }] });
    const answers = await Promise.all(Array.from({ length: 5 }, () => c.request(API_KEYS.Produce, 7, produceBody('no-such-topic', records))));
    for (const a of answers) assert.equal(a.responses[0].partitionResponses[0].errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

test('max.partitions.per.topic: CreateTopics above it fails with INVALID_PARTITIONS naming the limit; at it, the topic is made', async () => {
  await withBroker({ 'max.partitions.per.topic': 4 }, async (_b, c) => {
    const create = (name: string, numPartitions: number) =>
      c.request(API_KEYS.CreateTopics, 3, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    const over = (await create('wide', 5)).topics[0];
    assert.equal(over.errorCode, ErrorCode.INVALID_PARTITIONS);
    assert.match(over.errorMessage, /topic wide: 5 partitions is outside 1\.\.4 \(max\.partitions\.per\.topic\)/);
    assert.equal((await create('wide', 4)).topics[0].errorCode, ErrorCode.NONE);
  });
});

test('fetch.max.wait.ms.max: a fetch asking to wait a minute on an empty partition is answered after the cap', { timeout: 30_000 }, async () => {
  await withBroker({ 'fetch.max.wait.ms.max': 200 }, async (b, c) => {
    await b.broker.createTopic('capped', 1, {});
    // The test's own 30 s timeout is what fails if the broker waited the minute asked for.
    const res = await c.request(API_KEYS.Fetch, 11, fetchBody('capped', 0, 60_000));
    const p = res.responses[0].partitions[0];
    assert.equal(p.errorCode, ErrorCode.NONE);
    assert.equal(p.highWatermark, 0);
    assert.ok(p.records === null || p.records.length === 0, 'nothing to return');
  });
});

test('fetch.max.bytes: a fetch asking for 2 GiB gets whole batches up to the broker\'s cap, read from the file; a batch larger than the cap still comes alone', async () => {
  const cap = 256 * 1024;
  // No tail cache: the answer is read from the segment file, where the cap bounds what is allocated.
  await withBroker({ 'fetch.max.bytes': cap, 'tail.cache.total.bytes': 0 }, async (b, c) => {
    await b.broker.createTopic('capped-bytes', 1, {});
    for (let i = 0; i < 12; i++) assert.equal(await produceValue(c, 'capped-bytes', Buffer.alloc(100 * 1024, i)), ErrorCode.NONE);
    assert.equal(await produceValue(c, 'capped-bytes', Buffer.alloc(cap + 1024, 0xee)), ErrorCode.NONE);
    const all = 0x7fffffff;
    const fetchFrom = async (offset: number): Promise<Buffer> => {
      const p = (await c.request(API_KEYS.Fetch, 11, fetchBody('capped-bytes', offset, 0, all))).responses[0].partitions[0];
      assert.equal(p.errorCode, ErrorCode.NONE);
      return recordBytes(p.records);
    };
    /** Batch count of a fetched region; fails unless it is whole batches end to end. */
    const batches = (region: Buffer): number => {
      let n = 0;
      let at = 0;
      while (at < region.length) {
        at += 12 + region.readInt32BE(at + 8); // base offset (8), batch length (4), then that many bytes
        n++;
      }
      assert.equal(at, region.length, 'the answer ends on a batch boundary');
      return n;
    };
    const first = await fetchFrom(0);
    assert.ok(first.length <= cap, `${first.length} bytes from offset 0, cap ${cap}`);
    assert.equal(batches(first), 2, 'two 100 KiB batches fit in 256 KiB, a third does not');
    // The 13th batch alone exceeds the cap: it is returned whole, by itself, so a consumer progresses.
    const big = await fetchFrom(12);
    assert.ok(big.length > cap, `the oversized batch came whole (${big.length} bytes)`);
    assert.equal(batches(big), 1, 'and nothing after it');
  });
});

/** A Produce v7 request frame (size prefix included) of one batch of `valueBytes` for partition 0 of `topic`. */
function produceFrame(topic: string, valueBytes: number, correlationId: number): Buffer {
  const body = produceBody(topic, buildBatch({ records: [{ value: Buffer.alloc(valueBytes, 0x61) }] }));
  return Buffer.concat(encodeRequestFrame(API_KEYS.Produce, 7, correlationId, 'limits-test', body));
}

test('queued.max.request.bytes: a frame being received holds its size from its size prefix on; another client\'s request that does not fit beside it is not read until it is handled, then is', { timeout: 30_000 }, async () => {
  await withBroker({ 'socket.request.max.bytes': 700_000, 'queued.max.request.bytes': 1_000_000 }, async (b, c) => {
    await b.broker.createTopic('queued', 1, {});
    const log = b.broker.partitionLog('queued', 0);
    const held = b.broker.requestBytes;
    assert.ok(log !== undefined && held !== null);
    const slow = await open(b.bootstrap);
    try {
      // A 600 KB request of which only the first half arrives: its whole size is taken.
      const big = produceFrame('queued', 600_000, 1);
      const answers = collectAnswers(slow);
      slow.write(big.subarray(0, big.length >> 1));
      await waitUntil(() => held.used === big.length - 4, 10_000, () => `${held.used} bytes held, expected the frame's ${big.length - 4}`);

      // 500 KB more does not fit within 1,000,000: the other client's produce waits, unread.
      const second = produceValue(c, 'queued', Buffer.alloc(500_000, 0x62));
      let secondDone = false;
      void second.then(() => (secondDone = true));
      await waitUntil(() => held.waiting === 1, 10_000, () => 'the second request never waited for room');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(secondDone, false, 'not answered while the first frame holds the room');
      assert.equal(log.highWatermark, 0, 'and not appended');

      // Small requests queue behind it: nothing passes a waiting one.
      assert.equal(held.tryTake(1), false);

      slow.write(big.subarray(big.length >> 1));
      assert.equal(await second, ErrorCode.NONE, 'read and appended once the first was handled');
      await waitUntil(() => answers.length === 1, 10_000, () => 'the first request was never answered');
      assert.equal(log.highWatermark, 2, 'both batches appended');
      await waitUntil(() => held.used === 0, 10_000, () => `${held.used} bytes still held after both were handled`);
    } finally {
      slow.destroy();
    }
  });
});

test('queued.max.request.bytes: connections that close while receiving a frame, or while waiting for room, give back what they held; requests go on after them', { timeout: 30_000 }, async () => {
  await withBroker({ 'socket.request.max.bytes': 700_000, 'queued.max.request.bytes': 1_000_000 }, async (b, c) => {
    await b.broker.createTopic('queued', 1, {});
    const held = b.broker.requestBytes;
    assert.ok(held !== null);
    const receiving = await open(b.bootstrap);
    const waiting = await open(b.bootstrap);
    const big = produceFrame('queued', 600_000, 1);
    receiving.write(big.subarray(0, 1000));
    await waitUntil(() => held.used === big.length - 4, 10_000, () => `${held.used} bytes held by the first frame`);
    waiting.write(big.subarray(0, 1000));
    await waitUntil(() => held.waiting === 1, 10_000, () => 'the second connection never waited for room');

    waiting.destroy();
    await waitUntil(() => held.waiting === 0, 10_000, () => 'the closed connection still waits for room');
    receiving.destroy();
    await waitUntil(() => held.used === 0, 10_000, () => `${held.used} bytes still held after both connections closed`);
    assert.equal(await produceValue(c, 'queued', Buffer.alloc(600_000)), ErrorCode.NONE);
    assert.equal(held.used, 0);
  });
});

test('queued.max.request.bytes: a chunk holding whole requests and then a bad frame size closes the connection and gives back every byte it took', { timeout: 30_000 }, async () => {
  await withBroker({ 'socket.request.max.bytes': 700_000, 'queued.max.request.bytes': 1_000_000 }, async (b) => {
    await b.broker.createTopic('queued', 1, {});
    const held = b.broker.requestBytes;
    assert.ok(held !== null);
    const s = await open(b.bootstrap);
    const closed = new Promise((r) => s.once('close', r));
    s.on('error', () => {});
    const bad = Buffer.alloc(4);
    bad.writeInt32BE(-5);
    // Two produces the decoder admits, then a size it refuses, in one write.
    s.write(Buffer.concat([produceFrame('queued', 1000, 1), produceFrame('queued', 1000, 2), bad]));
    await closed;
    await waitUntil(() => held.used === 0, 10_000, () => `${held.used} bytes still held after the connection was closed for a bad frame`);
  });
});

test('queued.max.request.bytes: a connection waiting for room is not closed as idle by connections.max.idle.ms', { timeout: 30_000 }, async () => {
  await withBroker({ 'socket.request.max.bytes': 700_000, 'queued.max.request.bytes': 1_000_000, 'connections.max.idle.ms': 300 }, async (b) => {
    await b.broker.createTopic('queued', 1, {});
    const held = b.broker.requestBytes;
    assert.ok(held !== null);
    const slow = await open(b.bootstrap);
    const waiting = await open(b.bootstrap);
    let waitingClosed = false;
    waiting.once('close', () => (waitingClosed = true));
    waiting.on('error', () => {}); // a reset is reported by the assertion on waitingClosed
    try {
      // The slow client keeps its 600 KB request arriving a byte at a time, so it is not idle.
      const big = produceFrame('queued', 600_000, 1);
      let sent = 1000;
      slow.write(big.subarray(0, sent));
      const trickle = setInterval(() => slow.write(big.subarray(sent, ++sent)), 50);
      await waitUntil(() => held.used === big.length - 4, 10_000, () => 'the slow request never took its bytes');
      const answers = collectAnswers(waiting);
      waiting.write(produceFrame('queued', 500_000, 7));
      await waitUntil(() => held.waiting === 1, 10_000, () => 'the second request never waited for room');
      await new Promise((r) => setTimeout(r, 1500)); // five times connections.max.idle.ms
      clearInterval(trickle);
      assert.equal(waitingClosed, false, 'the waiting connection was closed as idle');
      slow.write(big.subarray(sent));
      await waitUntil(() => answers.length === 1, 10_000, () => 'the waiting request was never answered');
      assert.deepEqual(answers, [7]);
    } finally {
      slow.destroy();
      waiting.destroy();
    }
  });
});

test('queued.max.request.bytes: eight clients sending large produces at once, each request over a tenth of the room, are served in turn within it and all appended', { timeout: 60_000 }, async () => {
  const room = 1_000_000;
  await withBroker({ 'socket.request.max.bytes': 400_000, 'queued.max.request.bytes': room }, async (b) => {
    await b.broker.createTopic('queued', 1, {});
    const log = b.broker.partitionLog('queued', 0);
    const held = b.broker.requestBytes;
    assert.ok(log !== undefined && held !== null);
    const clients = await Promise.all(Array.from({ length: 8 }, () => TestKafkaClient.connect(b.bootstrap)));
    let most = 0;
    let waitedAtOnce = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, held.used);
      waitedAtOnce = Math.max(waitedAtOnce, held.waiting);
    }, 1);
    try {
      const perClient = 5;
      const codes = await Promise.all(clients.map(async (client) => {
        const sent = Array.from({ length: perClient }, () => produceValue(client, 'queued', Buffer.alloc(300_000, 0x63)));
        return Promise.all(sent);
      }));
      assert.deepEqual(codes.flat(), Array(8 * perClient).fill(ErrorCode.NONE));
      assert.equal(log.highWatermark, 8 * perClient, 'every batch appended');
      assert.ok(most <= room, `${most} bytes held at most, room ${room}`);
      assert.ok(waitedAtOnce > 0, 'some requests had to wait for room');
    } finally {
      clearInterval(sampler);
      for (const client of clients) client.close();
    }
    await waitUntil(() => held.used === 0, 10_000, () => `${held.used} bytes still held`);
  });
});

test('queued.max.request.bytes: below socket.request.max.bytes the broker refuses to start, naming both; -1 means no bound', async () => {
  const refused = async (config: Record<string, unknown>, message: RegExp): Promise<void> => {
    const dir = tempDir();
    try {
      await assert.rejects(embeddedBroker(config, dir), message);
    } finally {
      removeDir(dir);
    }
  };
  await refused({ 'socket.request.max.bytes': 2_000_000, 'queued.max.request.bytes': 1_000_000 }, /queued\.max\.request\.bytes: 1000000 must be -1 \(no bound\) or at least socket\.request\.max\.bytes \(2000000\)/);
  await refused({ 'queued.max.request.bytes': -2 }, /queued\.max\.request\.bytes: -2 is below the minimum -1/);
  await refused({ 'group.min.session.timeout.ms': 60_000, 'group.max.session.timeout.ms': 30_000 }, /group\.min\.session\.timeout\.ms: 60000 is above group\.max\.session\.timeout\.ms \(30000\)/);
  await withBroker({ 'queued.max.request.bytes': -1 }, async (b, c) => {
    assert.equal(b.broker.requestBytes, null);
    await b.broker.createTopic('unbounded', 1, {});
    assert.equal(await produceValue(c, 'unbounded', 'x'), ErrorCode.NONE);
  });
});
