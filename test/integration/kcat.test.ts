// kcat (librdkafka) against Holdfast: idempotent compressed produce with every codec, metadata
// listing, offsets-for-times, explicit partitions, acks, tombstones, LogAppendTime, oversized
// messages, tiny fetch sizes and long-polling consumers. Everything kcat reads back is cross-checked
// against what the broker stored (batch attributes, producer ids, sequences) over the wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { BATCH_HEADER_BYTES, buildBatch, compressionOf, Compression, decodeBatches, type BatchHeader, type CompressionName } from '../../src/record/index.ts';
import { Rng } from '../../src/util/index.ts';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

const KCAT = 'kcat';
const probe = spawnSync(KCAT, ['-V'], { encoding: 'utf8', timeout: 10_000 });
const skip: string | false = probe.error
  ? `kcat is not on PATH (${probe.error.message}); install it (Debian/Ubuntu: apt-get install kcat) to run these tests`
  : false;

/** One kcat run never takes longer than this; a hung kcat fails the test instead of hanging it. */
const KCAT_TIMEOUT_MS = 20_000;
/** Record separator: lets produced payloads contain newlines and tabs. */
const DELIMITER = '\x1e';

interface KcatResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kcat(args: string[], input?: string | Buffer, timeoutMs = KCAT_TIMEOUT_MS): Promise<KcatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(KCAT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${Buffer.concat(err).toString()}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // kcat may exit before reading all of stdin (error paths)
    child.stdin.end(input ?? '');
  });
}

/** Runs kcat and requires exit code 0. */
async function kcatOk(args: string[], input?: string | Buffer): Promise<KcatResult> {
  const r = await kcat(args, input);
  assert.equal(r.code, 0, `kcat ${args.join(' ')} exited with ${r.code}; stderr:\n${r.stderr}`);
  return r;
}

interface JsonMessage {
  topic: string;
  partition: number;
  offset: number;
  tstype: string;
  ts: number;
  headers?: Array<string | null>;
  key: string | null;
  payload: string | null;
}

function parseJsonLines(stdout: string): JsonMessage[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as JsonMessage);
}

let b: EmbeddedBroker;
let client: TestKafkaClient;

before(async () => {
  if (skip) return;
  b = await embeddedBroker();
  client = await TestKafkaClient.connect(b.bootstrap);
});

after(async () => {
  if (skip) return;
  client.close();
  await b.close();
  removeDir(b.dataDir);
});

async function createTopic(name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
  const res = await client.request(19, 4, {
    topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }],
    timeoutMs: 10_000,
    validateOnly: false,
  });
  assert.equal(res.topics[0].errorCode, 0, `create ${name}: ${res.topics[0].errorMessage}`);
}

/** Every stored batch header of a partition, read with Fetch v11. */
async function storedBatches(topic: string, partition: number): Promise<BatchHeader[]> {
  const headers: BatchHeader[] = [];
  let offset = 0;
  for (let round = 0; round < 10_000; round++) {
    const res = await client.request(1, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [],
      rackId: '',
    });
    const p = res.responses[0].partitions[0];
    assert.equal(p.errorCode, 0, `fetch ${topic}-${partition}@${offset}`);
    const raw: Buffer | null = p.records;
    if (raw === null || raw.length === 0) return headers;
    for (const batch of decodeBatches(raw)) {
      const next = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
      if (next <= offset) continue; // the fetch starts at the batch holding `offset`
      headers.push(batch.header);
      offset = next;
    }
    if (offset >= p.highWatermark) return headers;
  }
  throw new Error(`reading ${topic}-${partition} did not finish`);
}

// ---------------------------------------------------------------------------------------------
// 1. Idempotent, compressed produce with every codec; read back by kcat and over the wire.

interface Expected {
  seq: number;
  key: string | null;
  payload: string;
  headers: Array<string | null>;
}

const TEXT_PIECES = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'héllo', 'wörld', '日本語', 'テキスト', '🦀', '🚀', '"quoted"', 'back\\slash', '{json}', '[1,2]', '\t', '\n', '  ', '%s', '&amp;'];

function text(rng: Rng, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(rng.pick(TEXT_PIECES));
  return out.join(' ');
}

/** A kcat -K: input line and what reading it back must give. The tag (key, or value prefix) is unique. */
function makeMessage(rng: Rng, seq: number, headers: Array<string | null>): { line: string; expected: Expected } {
  const kind = seq % 5;
  let key: string | null;
  let payload: string;
  if (kind === 0) {
    key = `k${seq}`;
    payload = `${seq} ${text(rng, rng.int(1, 40))} a:b:c`; // only the first ':' splits key from value
  } else if (kind === 1) {
    key = `k${seq}`;
    payload = ''; // "key:" is an empty (non-null) value
  } else if (kind === 2) {
    key = null; // no delimiter in the line: null key
    payload = `${seq} ${text(rng, rng.int(0, 30))}`;
  } else if (kind === 3) {
    key = ''; // ":value" is an empty (non-null) key
    payload = `${seq} ${text(rng, rng.int(1, 10))}`;
  } else {
    key = `k${seq}`;
    payload = `${seq} ${'compressible filler '.repeat(rng.int(10, 400))}${text(rng, 5)}`;
  }
  const line = key === null ? payload : `${key}:${payload}`;
  return { line, expected: { seq, key, payload, headers } };
}

function tagOf(key: string | null, payload: string | null): string {
  if (key !== null && key !== '') return key;
  return (payload ?? '').split(' ')[0];
}

const RUN_MESSAGES = 150;

for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const satisfies readonly CompressionName[]) {
  test(`kcat idempotent producer with -z ${codec}: read back exactly, in order, stored compressed with producer ids`, { skip, timeout: 60_000 }, async () => {
    const topic = `kcat-codec-${codec}`;
    await createTopic(topic, 3);
    const rng = new Rng(0xc0dec + codec.length);
    const expected = new Map<string, Expected>();
    // Two producer runs: the first sends headers (incl. a null and an empty value), the second none.
    const runs: Array<{ headerArgs: string[]; headers: Array<string | null> }> = [
      { headerArgs: ['-H', `codec=${codec}`, '-H', 'h-eq=a=b', '-H', 'h-empty=', '-H', 'h-null'], headers: ['codec', codec, 'h-eq', 'a=b', 'h-empty', '', 'h-null', null] },
      { headerArgs: [], headers: [] },
    ];
    let seq = 0;
    const downgrades: string[] = []; // librdkafka's own notice when it decides not to compress
    for (const run of runs) {
      const lines: string[] = [];
      for (let i = 0; i < RUN_MESSAGES; i++, seq++) {
        const m = makeMessage(rng, seq, run.headers);
        lines.push(m.line);
        expected.set(tagOf(m.expected.key, m.expected.payload), m.expected);
      }
      const produced = await kcatOk(['-b', b.bootstrap, '-P', '-t', topic, '-z', codec, '-X', 'enable.idempotence=true', '-d', 'msg', '-D', DELIMITER, '-K:', ...run.headerArgs], lines.join(DELIMITER) + DELIMITER);
      downgrades.push(...produced.stderr.split('\n').filter((l) => /does not support compression/i.test(l)));
    }
    assert.equal(expected.size, 2 * RUN_MESSAGES, 'test messages have unique tags');

    const consumed = parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-J'])).stdout);
    assert.equal(consumed.length, expected.size, 'kcat reads back every message exactly once');
    const seen = new Set<string>();
    const byPartition = new Map<number, JsonMessage[]>();
    for (const m of consumed) {
      const tag = tagOf(m.key, m.payload);
      const want = expected.get(tag);
      assert.ok(want !== undefined, `unexpected message ${JSON.stringify(m)}`);
      assert.ok(!seen.has(tag), `message ${tag} read twice`);
      seen.add(tag);
      assert.equal(m.key, want.key, `key of ${tag}`);
      assert.equal(m.payload, want.payload, `payload of ${tag}`);
      assert.deepEqual(m.headers ?? [], want.headers, `headers of ${tag}`);
      assert.equal(m.tstype, 'create');
      const list = byPartition.get(m.partition) ?? [];
      list.push(m);
      byPartition.set(m.partition, list);
    }

    const producerIds = new Set<number>();
    for (let partition = 0; partition < 3; partition++) {
      const list = byPartition.get(partition) ?? [];
      // Per partition: offsets 0..n-1 and send order.
      list.forEach((m, i) => assert.equal(m.offset, i, `${topic}-${partition}: offsets are contiguous from 0`));
      for (let i = 1; i < list.length; i++) {
        const prev = expected.get(tagOf(list[i - 1].key, list[i - 1].payload))!.seq;
        const cur = expected.get(tagOf(list[i].key, list[i].payload))!.seq;
        assert.ok(cur > prev, `${topic}-${partition}: message ${cur} after ${prev} breaks send order`);
      }

      // The same records over the wire, byte for byte (as UTF-8) with kcat's view.
      const { records, highWatermark } = await fetchAll(client, topic, partition);
      assert.equal(highWatermark, list.length);
      assert.equal(records.length, list.length);
      records.forEach((r, i) => {
        assert.equal(r.offset, list[i].offset);
        assert.equal(r.key === null ? null : r.key.toString('utf8'), list[i].key);
        assert.equal(r.value === null ? null : r.value.toString('utf8'), list[i].payload);
        assert.equal(r.timestamp, list[i].ts);
        assert.deepEqual(
          r.headers.flatMap((h) => [h.key, h.value === null ? null : h.value.toString('utf8')]),
          list[i].headers ?? [],
        );
      });

      // kcat really compressed, and really produced idempotently: producer id, epoch and
      // per-producer contiguous sequence numbers in every stored batch.
      // librdkafka sends a batch uncompressed when compressing would make it bigger, which a batch
      // of a record or two can be (a stalled event loop can leave one at the end): those may be
      // plain, every larger batch must carry the codec, and so must at least one per partition.
      const nextSequence = new Map<number, number>();
      let stored = 0;
      let compressed = 0;
      for (const h of await storedBatches(topic, partition)) {
        const small = h.batchLength - (BATCH_HEADER_BYTES - 12) < 256;
        if (compressionOf(h.attributes) === Compression[codec]) compressed++;
        else {
          assert.ok(
            small && compressionOf(h.attributes) === Compression.none,
            `${topic}-${partition}@${h.baseOffset}: batch of ${h.batchLength + 12} bytes with attributes 0x${h.attributes.toString(16)} must carry codec ${codec}` +
              (downgrades.length > 0 ? `; librdkafka said: ${downgrades[0].trim()}` : ''),
          );
        }
        assert.ok(h.producerId >= 0, `${topic}-${partition}@${h.baseOffset}: producer id ${h.producerId} (idempotence was used)`);
        assert.ok(h.producerEpoch >= 0);
        assert.equal(h.baseSequence, nextSequence.get(h.producerId) ?? 0, `${topic}-${partition}@${h.baseOffset}: sequence of producer ${h.producerId}`);
        nextSequence.set(h.producerId, h.baseSequence + h.recordsCount);
        producerIds.add(h.producerId);
        stored += h.recordsCount;
      }
      assert.equal(stored, list.length);
      if (list.length > 0) assert.ok(compressed > 0, `${topic}-${partition}: no batch carries codec ${codec}`);
    }
    assert.equal(producerIds.size, runs.length, 'each kcat run got its own producer id');
  });
}

// ---------------------------------------------------------------------------------------------
// 2. Metadata.

interface KcatMetadata {
  originating_broker: { id: number; name: string };
  controllerid: number;
  brokers: Array<{ id: number; name: string }>;
  topics: Array<{ topic: string; error?: string; partitions: Array<{ partition: number; leader: number; replicas: Array<{ id: number }>; isrs: Array<{ id: number }>; error?: string }> }>;
}

test('kcat -L -J lists the broker, the controller and a topic with its partitions led by the broker', { skip, timeout: 30_000 }, async () => {
  const topic = 'kcat-metadata';
  await createTopic(topic, 4);
  const md = JSON.parse((await kcatOk(['-b', b.bootstrap, '-L', '-J', '-t', topic])).stdout) as KcatMetadata;
  const port = b.bootstrap.split(':')[1];
  assert.equal(md.originating_broker.id, 1);
  assert.equal(md.controllerid, 1);
  assert.deepEqual(md.brokers, [{ id: 1, name: `127.0.0.1:${port}` }]);
  assert.equal(md.topics.length, 1);
  assert.equal(md.topics[0].topic, topic);
  assert.equal(md.topics[0].error, undefined);
  assert.deepEqual(
    md.topics[0].partitions.map((p) => ({ partition: p.partition, leader: p.leader, replicas: p.replicas, isrs: p.isrs, error: p.error })),
    [0, 1, 2, 3].map((partition) => ({ partition, leader: 1, replicas: [{ id: 1 }], isrs: [{ id: 1 }], error: undefined })),
  );

  // Without -t: every topic, this one included.
  const all = JSON.parse((await kcatOk(['-b', b.bootstrap, '-L', '-J'])).stdout) as KcatMetadata;
  assert.ok(all.topics.some((t) => t.topic === topic && t.partitions.length === 4));
});

// ---------------------------------------------------------------------------------------------
// 3. Offsets for times.

const BASE_TS = 1_600_000_000_000;

async function produceBatch(topic: string, partition: number, batch: Buffer): Promise<number> {
  const res = await client.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] });
  const p = res.responses[0].partitionResponses[0];
  assert.equal(p.errorCode, 0, `produce to ${topic}-${partition}: ${p.errorMessage}`);
  return p.baseOffset;
}

async function queryOffsets(topic: string, partitionTimestamps: Array<[number, number]>): Promise<number[]> {
  const args = ['-b', b.bootstrap, '-Q', '-J'];
  for (const [p, ts] of partitionTimestamps) args.push('-t', `${topic}:${p}:${ts}`);
  const out = JSON.parse((await kcatOk(args)).stdout) as Record<string, Record<string, { partition: number; offset: number; error?: string }>>;
  return partitionTimestamps.map(([p]) => {
    const r = out[topic][String(p)];
    assert.equal(r.error, undefined, `query ${topic}:${p}: ${r.error}`);
    return r.offset;
  });
}

test('kcat -Q finds the first offset whose timestamp is at or after the target, -1 past the end', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-times';
  await createTopic(topic, 3);
  const rec = (delta: number) => ({ value: `at +${delta}`, timestamp: BASE_TS + delta });
  // Partition 0: increasing timestamps 0,10,...,90 over three batches, the middle one compressed.
  assert.equal(await produceBatch(topic, 0, buildBatch({ records: [0, 10, 20, 30].map(rec) })), 0);
  assert.equal(await produceBatch(topic, 0, buildBatch({ records: [40, 50, 60].map(rec), compression: 'zstd' })), 4);
  assert.equal(await produceBatch(topic, 0, buildBatch({ records: [70, 80, 90].map(rec) })), 7);
  // Partition 1: timestamps out of order, within and across batches.
  assert.equal(await produceBatch(topic, 1, buildBatch({ records: [50, 10, 30].map(rec) })), 0);
  assert.equal(await produceBatch(topic, 1, buildBatch({ records: [70, 20].map(rec), compression: 'gzip' })), 3);
  // Partition 2 stays empty.

  const cases: Array<{ p: number; delta: number; offset: number }> = [
    { p: 0, delta: -1_000_000, offset: 0 },
    { p: 0, delta: 0, offset: 0 },
    { p: 0, delta: 25, offset: 3 },
    { p: 0, delta: 30, offset: 3 },
    { p: 0, delta: 31, offset: 4 },
    { p: 0, delta: 40, offset: 4 },
    { p: 0, delta: 41, offset: 5 },
    { p: 0, delta: 65, offset: 7 },
    { p: 0, delta: 90, offset: 9 },
    { p: 0, delta: 91, offset: -1 },
    { p: 0, delta: 1_000_000_000, offset: -1 },
    { p: 1, delta: 0, offset: 0 },
    { p: 1, delta: 15, offset: 0 },
    { p: 1, delta: 50, offset: 0 },
    { p: 1, delta: 51, offset: 3 },
    { p: 1, delta: 70, offset: 3 },
    { p: 1, delta: 71, offset: -1 },
    { p: 2, delta: 0, offset: -1 },
  ];
  // kcat takes one timestamp per partition per run: run the cases in rounds of one per partition.
  const got = new Map<(typeof cases)[number], number>();
  const pending = [...cases];
  while (pending.length > 0) {
    const round: typeof cases = [];
    for (const c of [...pending]) {
      if (round.some((r) => r.p === c.p)) continue;
      round.push(c);
      pending.splice(pending.indexOf(c), 1);
    }
    const offsets = await queryOffsets(topic, round.map((c) => [c.p, BASE_TS + c.delta]));
    round.forEach((c, i) => got.set(c, offsets[i]));
  }
  // Compared all at once, so a failure shows every case.
  assert.deepEqual(
    cases.map((c) => `p${c.p} +${c.delta} -> ${got.get(c)}`),
    cases.map((c) => `p${c.p} +${c.delta} -> ${c.offset}`),
  );

  // Over the wire, ListOffsets v1+ also returns the found record's own timestamp.
  const listed = await client.request(2, 3, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: BASE_TS + 25 }, { partitionIndex: 1, timestamp: BASE_TS + 51 }] }],
  });
  assert.deepEqual(
    listed.topics[0].partitions.map((p: { partitionIndex: number; errorCode: number; offset: number; timestamp: number }) => [p.partitionIndex, p.errorCode, p.offset, p.timestamp]),
    [
      [0, 0, 3, BASE_TS + 30],
      [1, 0, 3, BASE_TS + 70],
    ],
  );

  // The consumer's s@ start position uses the same lookup: start at +45 reads offsets 5..9.
  const fromTime = parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-p', '0', '-o', `s@${BASE_TS + 45}`, '-e', '-J'])).stdout);
  assert.deepEqual(fromTime.map((m) => [m.offset, m.ts, m.payload]), [50, 60, 70, 80, 90].map((d, i) => [5 + i, BASE_TS + d, `at +${d}`]));
});

// ---------------------------------------------------------------------------------------------
// 4. Explicit partitions.

test('kcat -p produces to and consumes from one partition of a multi-partition topic', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-partitions';
  await createTopic(topic, 4);
  const lines = (p: number, n: number) => Array.from({ length: n }, (_, i) => `p${p}-m${i}`);
  for (const [p, n] of [[1, 20], [3, 10], [0, 5]] as const) {
    await kcatOk(['-b', b.bootstrap, '-P', '-t', topic, '-p', String(p)], lines(p, n).join('\n') + '\n');
  }
  const read = async (p: number, offset: string) =>
    parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-p', String(p), '-o', offset, '-e', '-J'])).stdout).map((m) => [m.partition, m.offset, m.payload]);

  assert.deepEqual(await read(1, 'beginning'), lines(1, 20).map((v, i) => [1, i, v]));
  assert.deepEqual(await read(3, '4'), lines(3, 10).slice(4).map((v, i) => [3, 4 + i, v]));
  assert.deepEqual(await read(1, '-5'), lines(1, 20).slice(15).map((v, i) => [1, 15 + i, v]));
  assert.deepEqual(await read(0, 'beginning'), lines(0, 5).map((v, i) => [0, i, v]));
  assert.deepEqual(await read(2, 'beginning'), [], 'partition 2 got nothing');

  // A partition the topic does not have: kcat refuses, knowing the partition count from Metadata.
  const bad = await kcat(['-b', b.bootstrap, '-P', '-t', topic, '-p', '4'], 'x\n');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Unknown partition/i);
});

// ---------------------------------------------------------------------------------------------
// 5. Cheap compatibility checks.

async function consumeN(topic: string, n: number, extra: string[] = []): Promise<JsonMessage[]> {
  // -c without -e: kcat long-polls until it has n messages (or the kcat timeout fails the test).
  return parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-c', String(n), '-J', ...extra])).stdout);
}

test('kcat with acks=1 and acks=0 (non-idempotent) produces everything', { skip, timeout: 60_000 }, async () => {
  for (const acks of ['1', '0']) {
    const topic = `kcat-acks-${acks}`;
    await createTopic(topic, 1);
    const lines = Array.from({ length: 100 }, (_, i) => `acks${acks}-${i}`);
    await kcatOk(['-b', b.bootstrap, '-P', '-t', topic, '-X', `acks=${acks}`, '-X', 'enable.idempotence=false'], lines.join('\n') + '\n');
    const got = await consumeN(topic, lines.length);
    assert.deepEqual(got.map((m) => [m.offset, m.payload]), lines.map((v, i) => [i, v]));
    for (const h of await storedBatches(topic, 0)) assert.equal(h.producerId, -1, 'not idempotent: no producer id');
  }
});

test('kcat -Z sends null values and null keys (tombstones) that read back as null', { skip, timeout: 30_000 }, async () => {
  const topic = 'kcat-tombstones';
  await createTopic(topic, 1);
  await kcatOk(['-b', b.bootstrap, '-P', '-t', topic, '-Z', '-K:', '-D', DELIMITER], ['k1:v1', 'k1:', ':v3', ':'].join(DELIMITER) + DELIMITER);
  const got = parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-J'])).stdout);
  assert.deepEqual(got.map((m) => [m.key, m.payload]), [['k1', 'v1'], ['k1', null], [null, 'v3'], [null, null]]);
  const { records } = await fetchAll(client, topic, 0);
  assert.deepEqual(records.map((r) => [r.key?.toString() ?? null, r.value?.toString() ?? null]), [['k1', 'v1'], ['k1', null], [null, 'v3'], [null, null]]);
});

test('a LogAppendTime topic: kcat sees tstype logappend with the broker time', { skip, timeout: 30_000 }, async () => {
  const topic = 'kcat-log-append-time';
  await createTopic(topic, 1, { 'message.timestamp.type': 'LogAppendTime' });
  const beforeMs = Date.now();
  await kcatOk(['-b', b.bootstrap, '-P', '-t', topic, '-z', 'lz4', '-X', 'enable.idempotence=true'], 'a\nb\nc\n');
  const afterMs = Date.now();
  const got = parseJsonLines((await kcatOk(['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-J'])).stdout);
  assert.deepEqual(got.map((m) => m.payload), ['a', 'b', 'c']);
  for (const m of got) {
    assert.equal(m.tstype, 'logappend');
    assert.ok(m.ts >= beforeMs && m.ts <= afterMs, `log append time ${m.ts} lies within the produce [${beforeMs}, ${afterMs}]`);
  }
});

test('a message over the topic max.message.bytes fails delivery in kcat, and nothing is stored', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-too-large';
  await createTopic(topic, 1, { 'max.message.bytes': '2000' });
  const big = new Rng(7).bytes(6000).toString('hex'); // 12000 bytes, incompressible enough, under kcat's own limit
  const r = await kcat(['-b', b.bootstrap, '-P', '-t', topic, '-X', 'enable.idempotence=false', '-X', 'message.timeout.ms=10000'], big + '\n');
  assert.notEqual(r.code, 0, `kcat must fail; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /Broker: Message size too large/);
  const { records, highWatermark } = await fetchAll(client, topic, 0);
  assert.equal(highWatermark, 0);
  assert.equal(records.length, 0);
  // The topic still takes messages that fit.
  await kcatOk(['-b', b.bootstrap, '-P', '-t', topic], 'small\n');
  assert.deepEqual((await consumeN(topic, 1)).map((m) => [m.offset, m.payload]), [[0, 'small']]);
});

test('kcat with tiny fetch sizes still receives batches larger than them (KIP-74)', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-small-fetch';
  await createTopic(topic, 1);
  const lines = Array.from({ length: 40 }, (_, i) => `${i}:${'x'.repeat(3000 + i)}`);
  await kcatOk(['-b', b.bootstrap, '-P', '-t', topic], lines.join('\n') + '\n');
  const got = await consumeN(topic, lines.length, ['-X', 'fetch.message.max.bytes=1000', '-X', 'fetch.max.bytes=1000', '-X', 'message.max.bytes=1000']);
  assert.deepEqual(got.map((m) => m.payload), lines);
});

test('a waiting kcat consumer receives messages produced after it started (long-poll)', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-long-poll';
  await createTopic(topic, 1);
  const consumer = consumeN(topic, 3);
  // Give kcat time to start fetching on the empty partition, then produce over the wire.
  await new Promise((r) => setTimeout(r, 500));
  await produceBatch(topic, 0, buildBatch({ records: [{ value: 'one' }, { value: 'two' }] }));
  await new Promise((r) => setTimeout(r, 200));
  await produceBatch(topic, 0, buildBatch({ records: [{ value: 'three', key: 'k' }] }));
  const got = await consumer;
  assert.deepEqual(got.map((m) => [m.offset, m.key, m.payload]), [[0, null, 'one'], [1, null, 'two'], [2, 'k', 'three']]);
});

test('kcat with fetch.min.bytes: nothing is delivered until min.bytes have gathered, then all of it', { skip, timeout: 60_000 }, async () => {
  const topic = 'kcat-min-bytes';
  await createTopic(topic, 1);
  const record = () => buildBatch({ records: [{ value: Buffer.alloc(1000, 0x61) }] }); // ~1,070 bytes stored
  // fetch.wait.max.ms at the broker's cap (30 s): only min.bytes can end kcat's polls within the test.
  const child = spawn(KCAT, ['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-c', '15', '-u', '-f', '%o\n', '-X', 'fetch.min.bytes=10000', '-X', 'fetch.wait.max.ms=30000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('close', r));
  try {
    await new Promise((r) => setTimeout(r, 500)); // kcat's first poll is waiting on the empty partition
    for (let i = 0; i < 5; i++) await produceBatch(topic, 0, record());
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(stdout, '', `kcat got records with ~5,350 bytes stored against fetch.min.bytes 10,000; stderr:\n${stderr}`);
    for (let i = 0; i < 10; i++) await produceBatch(topic, 0, record());
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(stdout.trim().split('\n').map(Number), Array.from({ length: 15 }, (_, i) => i));
  } finally {
    child.kill('SIGKILL');
  }
});
