// `npm run bench`: produce and fetch throughput against a `holdfast serve` child process, with
// 1 KiB and 100 B messages, flush.mode sync and async. The producer pipelines requests over several
// connections (a window of requests in flight). Prints one JSON object per scenario on stdout.
// Then the client scenarios (bench/client.ts): the Holdfast Producer and Consumer next to kafkajs,
// both against one broker process per scenario.
//
//   npm run bench -- [--seconds 5] [--partitions 4] [--connections 4] [--window 16]
//                    [--client-window 1000] [--kafkajs-batch 1000] [--only 1024-sync,client-1024]
//
// Scenarios: 1024-sync 1024-async 100-sync 100-async (raw protocol), client-1024 client-100.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BATCH_HEADER_BYTES, batchSizeAt, buildBatch, readBatchHeader } from '../src/record/index.ts';
import { spawnBroker, tempDir, removeDir } from '../test/helpers/broker.ts';
import { TestKafkaClient } from '../test/helpers/kafka-client.ts';
import { CLIENT_SCENARIOS, runClientScenario, type ClientScenario } from './client.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    partitions: { type: 'string', default: '4' },
    connections: { type: 'string', default: '4' },
    window: { type: 'string', default: '16' },
    // Client scenarios: messages unacknowledged per producer, and messages per kafkajs send().
    'client-window': { type: 'string', default: '1000' },
    'kafkajs-batch': { type: 'string' }, // default: --client-window (one send() per round trip; see bench/client.ts)
    only: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const PARTITIONS = Number(values.partitions);
const CONNECTIONS = Number(values.connections);
const WINDOW = Number(values.window);
const CLIENT_WINDOW = Number(values['client-window']);
const KAFKAJS_BATCH = Number(values['kafkajs-batch'] ?? CLIENT_WINDOW);
const ONLY = values.only?.split(',');

interface Scenario {
  name: string;
  messageBytes: number;
  recordsPerBatch: number;
  flush: 'sync' | 'async';
}

const SCENARIOS: Scenario[] = [
  { name: '1024-sync', messageBytes: 1024, recordsPerBatch: 64, flush: 'sync' },
  { name: '1024-async', messageBytes: 1024, recordsPerBatch: 64, flush: 'async' },
  { name: '100-sync', messageBytes: 100, recordsPerBatch: 512, flush: 'sync' },
  { name: '100-async', messageBytes: 100, recordsPerBatch: 512, flush: 'async' },
];

function cpuSecondsOf(pid: number): number {
  // utime + stime from /proc/<pid>/stat, in clock ticks (100 Hz on Linux).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function produce(clients: TestKafkaClient[], topic: string, s: Scenario): Promise<{ messages: number; seconds: number }> {
  const records = Array.from({ length: s.recordsPerBatch }, (_, i) => ({ key: null, value: Buffer.alloc(s.messageBytes, i & 0xff) }));
  const batch = buildBatch({ records });
  const deadline = performance.now() + SECONDS * 1000;
  let messages = 0;
  let partition = 0;
  const start = performance.now();
  const lane = async (client: TestKafkaClient): Promise<void> => {
    while (performance.now() < deadline) {
      const p = partition++ % PARTITIONS;
      const res = await client.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: topic, partitionData: [{ index: p, records: batch }] }] });
      const code = res.responses[0].partitionResponses[0].errorCode;
      if (code !== 0) throw new Error(`produce failed with error ${code}`);
      messages += s.recordsPerBatch;
    }
  };
  const lanes: Promise<void>[] = [];
  for (const c of clients) for (let w = 0; w < WINDOW; w++) lanes.push(lane(c));
  await Promise.all(lanes);
  return { messages, seconds: (performance.now() - start) / 1000 };
}

async function fetchAllPartitions(client: TestKafkaClient, topic: string): Promise<{ messages: number; bytes: number; seconds: number }> {
  const start = performance.now();
  let messages = 0;
  let bytes = 0;
  const offsets = new Array<number>(PARTITIONS).fill(0);
  const done = new Array<boolean>(PARTITIONS).fill(false);
  while (done.some((d) => !d)) {
    const res = await client.request(1, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 64 * 1024 * 1024, isolationLevel: 1, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: offsets.map((o, p) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: o, logStartOffset: -1, partitionMaxBytes: 8 * 1024 * 1024 })) }],
      forgottenTopicsData: [], rackId: '',
    });
    for (const part of res.responses[0].partitions) {
      const raw: Buffer | null = part.records;
      if (raw === null || raw.length === 0) {
        if (offsets[part.partitionIndex] >= part.highWatermark) done[part.partitionIndex] = true;
        continue;
      }
      bytes += raw.length;
      let pos = 0;
      while (pos + BATCH_HEADER_BYTES <= raw.length) {
        const size = batchSizeAt(raw, pos);
        const h = readBatchHeader(raw, pos);
        if (pos + size > raw.length) break;
        messages += h.recordsCount;
        offsets[part.partitionIndex] = h.baseOffset + h.lastOffsetDelta + 1;
        pos += size;
      }
      if (offsets[part.partitionIndex] >= part.highWatermark) done[part.partitionIndex] = true;
    }
  }
  return { messages, bytes, seconds: (performance.now() - start) / 1000 };
}

async function run(s: Scenario): Promise<void> {
  const dataDir = tempDir('holdfast-bench-');
  const broker = await spawnBroker(dataDir);
  try {
    const admin = await TestKafkaClient.connect(broker.bootstrap);
    const topic = `bench-${s.name}`;
    const created = await admin.request(19, 3, { topics: [{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [{ name: 'flush.mode', value: s.flush }] }], timeoutMs: 10000, validateOnly: false });
    if (created.topics[0].errorCode !== 0) throw new Error(`create topic failed: ${created.topics[0].errorMessage}`);
    const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => TestKafkaClient.connect(broker.bootstrap)));
    const cpu0 = cpuSecondsOf(broker.child.pid!);
    const p = await produce(clients, topic, s);
    const cpu1 = cpuSecondsOf(broker.child.pid!);
    const f = await fetchAllPartitions(admin, topic);
    const cpu2 = cpuSecondsOf(broker.child.pid!);
    const base = { scenario: s.name, messageBytes: s.messageBytes, flush: s.flush, partitions: PARTITIONS, connections: CONNECTIONS, window: WINDOW, recordsPerBatch: s.recordsPerBatch };
    console.log(JSON.stringify({ ...base, phase: 'produce', messages: p.messages, seconds: +p.seconds.toFixed(3), msgPerSec: Math.round(p.messages / p.seconds), mbPerSec: +((p.messages * s.messageBytes) / p.seconds / 1e6).toFixed(1), brokerCpuUsPerMsg: +(((cpu1 - cpu0) * 1e6) / p.messages).toFixed(2) }));
    console.log(JSON.stringify({ ...base, phase: 'fetch', messages: f.messages, seconds: +f.seconds.toFixed(3), msgPerSec: Math.round(f.messages / f.seconds), mbPerSec: +(f.bytes / f.seconds / 1e6).toFixed(1), brokerCpuUsPerMsg: +(((cpu2 - cpu1) * 1e6) / Math.max(f.messages, 1)).toFixed(2) }));
    if (f.messages !== p.messages) throw new Error(`fetched ${f.messages} messages but produced ${p.messages}`);
    for (const c of clients) c.close();
    admin.close();
  } finally {
    await broker.kill('SIGTERM');
    removeDir(dataDir);
  }
}

async function runClient(s: ClientScenario): Promise<void> {
  const dataDir = tempDir('holdfast-bench-');
  const configDir = tempDir('holdfast-bench-config-');
  // No initial rebalance delay, so the consumers' first join is answered at once.
  const configFile = join(configDir, 'broker.yaml');
  writeFileSync(configFile, 'group.initial.rebalance.delay.ms: 0\n');
  const broker = await spawnBroker(dataDir, ['--config', configFile]);
  try {
    await runClientScenario(s, {
      bootstrap: broker.bootstrap,
      seconds: SECONDS,
      partitions: PARTITIONS,
      clientWindow: CLIENT_WINDOW,
      kafkajsBatch: KAFKAJS_BATCH,
      brokerCpuSeconds: () => cpuSecondsOf(broker.child.pid!),
    });
  } finally {
    await broker.kill('SIGTERM');
    removeDir(dataDir);
    removeDir(configDir);
  }
}

const known = [...SCENARIOS, ...CLIENT_SCENARIOS].map((s) => s.name);
for (const name of ONLY ?? []) if (!known.includes(name)) throw new Error(`--only ${name}: unknown scenario; known: ${known.join(', ')}`);
for (const s of SCENARIOS) {
  if (ONLY && !ONLY.includes(s.name)) continue;
  await run(s);
}
for (const s of CLIENT_SCENARIOS) {
  if (ONLY && !ONLY.includes(s.name)) continue;
  await runClient(s);
}
