// `holdfast bench`: a tiny W1 durable run (its own broker, producer and consumer processes) gives a
// JSON line whose figures hang together and a chart; the latency histogram and option parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { tempDir, removeDir, embeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { decodeBatches } from '../../src/record/index.ts';
import { bench, LatencyHistogram } from '../../src/cli/bench/index.ts';
import { parseDuration } from '../../src/cli/common.ts';

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

test('holdfast bench --workload W1 --mode durable: one JSON line, sane figures, an SVG chart', { timeout: 120_000 }, async () => {
  const out = tempDir('holdfast-bench-test-');
  try {
    const stdout = collector();
    const stderr = collector();
    const code = await bench(['--workload', 'W1', '--mode', 'durable', '--duration', '3s', '--partitions', '4', '--json', '--out', out], { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 0, stderr.text());
    const lines = stdout.text().trim().split('\n');
    assert.equal(lines.length, 1, stdout.text());
    const r = JSON.parse(lines[0]);
    assert.equal(r.workload, 'W1');
    assert.equal(r.mode, 'durable');
    assert.equal(r.flushMode, 'sync');
    assert.equal(r.broker, 'local');
    assert.equal(r.messageBytes, 1024);
    assert.equal(r.partitions, 4);
    assert.equal(r.durationSeconds, 3);
    assert.equal(r.batchBytes, null, 'the Producer\'s default batch size');
    assert.equal(r.stickyBytes, null);
    assert.equal(r.maxUncommittedMessages, 10_000, 'the bench consumer\'s default');
    assert.equal(r.warmupSeconds, 1);
    for (const k of ['produced', 'consumed', 'produceMsgPerSec', 'produceMBPerSec', 'e2eMsgPerSec', 'brokerCpuUsPerMessage', 'drainSeconds']) {
      assert.equal(typeof r[k], 'number', `${k} is a number`);
      assert.ok(r[k] >= 0, `${k} >= 0`);
    }
    assert.ok(r.produced > 0);
    assert.equal(r.failed, 0);
    assert.ok(r.consumed >= r.produced, `consumed ${r.consumed} >= produced ${r.produced}`);
    assert.equal(r.complete, true);
    // Per-second counts add up to the run's totals (the producer's: every acknowledgement of the run).
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    assert.ok(Array.isArray(r.perSecond.produced) && r.perSecond.produced.length >= 3, JSON.stringify(r.perSecond));
    assert.equal(sum(r.perSecond.produced), r.produced);
    assert.equal(sum(r.perSecond.consumed), r.consumedTotal);
    assert.ok(r.produceMsgPerSec > 0 && r.e2eMsgPerSec > 0);
    // MB/s is msg/s times the message size.
    assert.ok(Math.abs(r.produceMBPerSec - (r.produceMsgPerSec * 1024) / 1e6) < 0.1);
    const { p50, p99, p999, max } = r.latencyMs;
    for (const v of [p50, p99, p999, max]) assert.equal(typeof v, 'number');
    assert.ok(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, JSON.stringify(r.latencyMs));
    assert.ok(r.latencySamples > 0 && r.latencySamples <= r.consumed);
    // A message is acknowledged before it can be handled: ack latency sits below end-to-end.
    const ack = r.ackLatencyMs;
    assert.ok(ack.p50 > 0 && ack.p50 <= ack.p99 && ack.p99 <= ack.max, JSON.stringify(ack));
    assert.ok(ack.p50 <= p99, `ack p50 ${ack.p50} <= e2e p99 ${p99}`);
    for (const k of ['broker', 'producer', 'consumer']) assert.equal(typeof r.cpuSeconds[k], 'number', `cpuSeconds.${k}`);
    assert.ok(r.brokerRssMB.start > 0 && r.brokerRssMB.start <= r.brokerRssMB.max && r.brokerRssMB.end <= r.brokerRssMB.max);
    assert.ok(r.brokerRssMB.measuredMin > 0 && r.brokerRssMB.measuredMin <= r.brokerRssMB.measuredMax && r.brokerRssMB.measuredMax <= r.brokerRssMB.max, JSON.stringify(r.brokerRssMB));
    assert.equal(r.chart, join(out, 'W1-durable.svg'));
    assert.ok(existsSync(r.chart));
    const svg = readFileSync(r.chart, 'utf8');
    assert.match(svg, /^<\?xml [^>]*\?>\s*<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
    assert.match(svg, /<polyline /);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
    // The human table goes to stderr with --json.
    assert.match(stderr.text(), /^workload\s+mode\s+bytes/m);
  } finally {
    removeDir(out);
  }
});

test('--batch-bytes and --sticky-bytes reach the producer: its batches in the log stay under the size, on one partition', { timeout: 120_000 }, async () => {
  const b = await embeddedBroker();
  const out = tempDir('holdfast-bench-test-');
  const client = await TestKafkaClient.connect(b.bootstrap);
  // The bench deletes its topic from a broker it did not start; keep it here to read it back.
  b.broker.deleteTopic = async () => {};
  try {
    const stdout = collector();
    const stderr = collector();
    // Max rate with 100 messages in flight: the Producer's own batches would be ~14 KB.
    const args = ['--workload', 'W2', '--mode', 'fast', '--duration', '2s', '--partitions', '2', '--in-flight', '100', '--batch-bytes', '4096', '--sticky-bytes', '1000000000', '--max-uncommitted', '500'];
    const code = await bench([...args, '--brokers', b.bootstrap, '--json', '--out', out], { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 0, stderr.text());
    const r = JSON.parse(stdout.text().trim());
    assert.equal(r.batchBytes, 4096);
    assert.equal(r.stickyBytes, 1_000_000_000);
    assert.equal(r.maxUncommittedMessages, 500);
    const md = await client.request(3, 1, { topics: null });
    const topic = (md.topics as Array<{ name: string }>).find((t) => t.name.startsWith('bench-W2-'))?.name;
    assert.ok(topic !== undefined, 'the bench topic exists');
    const res = await client.request(1, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 1, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [0, 1].map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 })) }],
      forgottenTopicsData: [], rackId: '',
    });
    const partitions = res.responses[0].partitions as Array<{ highWatermark: number; records: Buffer | null }>;
    assert.equal(partitions.filter((p) => p.highWatermark > 0).length, 1, 'stickiness beyond the run keeps every record on one partition');
    const batches = partitions.flatMap((p) => decodeBatches(p.records ?? Buffer.alloc(0)));
    assert.ok(batches.length > 10, `read ${batches.length} batches`);
    for (const batch of batches) assert.ok(batch.header.batchLength + 12 <= 4096, `a batch of ${batch.header.batchLength + 12} bytes`);
    assert.ok(batches.some((batch) => batch.header.batchLength + 12 > 2048), 'batches fill up towards the size');
  } finally {
    client.close();
    await b.close();
    removeDir(b.dataDir);
    removeDir(out);
  }
});

test('bench usage errors: unknown workload or mode, too short a duration, too small a batch', async () => {
  await assert.rejects(bench(['--workload', 'W9']), /--workload must be/);
  await assert.rejects(bench(['--mode', 'slow']), /--mode must be/);
  await assert.rejects(bench(['--duration', '1s']), /--duration must be at least 2s/);
  await assert.rejects(bench(['--batch-bytes', '96']), /--batch-bytes/);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('2m'), 120_000);
});

test('latency histogram: quantiles within 1% of the exact ones, merges, survives a snapshot', () => {
  const values: number[] = [];
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 100_000; i++) values.push(10 ** (1 + rand() * 5)); // 10 µs .. 1 s, log-uniform
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  values.forEach((v, i) => (i % 2 === 0 ? a : b).record(v));
  const merged = LatencyHistogram.from(a.snapshot());
  merged.merge(b.snapshot());
  const sorted = [...values].sort((x, y) => x - y);
  assert.equal(merged.count, values.length);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const exact = sorted[Math.ceil(q * sorted.length) - 1];
    const got = merged.quantileUs(q);
    assert.ok(Math.abs(got - exact) / exact <= 0.01, `q${q}: ${got} vs ${exact}`);
  }
  assert.equal(merged.quantileUs(1), sorted.at(-1));
  assert.equal(merged.minUs, sorted[0]);
  // Out of range values are clamped into the end buckets, min and max stay exact.
  const h = new LatencyHistogram();
  h.record(0.2);
  h.record(120e6);
  assert.equal(h.count, 2);
  assert.equal(h.minUs, 0.2);
  assert.equal(h.maxUs, 120e6);
  assert.ok(h.quantileUs(0.5) <= 1.01); // below 1 µs: the first bucket
});
