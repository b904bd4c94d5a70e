// Consumer groups with librdkafka (kcat -G) and @platformatic/kafka against Holdfast: consuming with
// commits (a second run in the same group resumes after them), and two members of one group
// splitting a topic's partitions between them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers, type Message, type MessagesStream } from '@platformatic/kafka';
import { embeddedBroker, removeDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { API, fetchOffsets, timeout, waitFor } from './wire.ts';

const KCAT = 'kcat';
const probe = spawnSync(KCAT, ['-V'], { encoding: 'utf8', timeout: 10_000 });
const noKcat: string | false = probe.error ? `kcat is not on PATH (${probe.error.message})` : false;

let b: EmbeddedBroker;
let wire: TestKafkaClient;
let producer: Producer<string, string, string, string>;

before(async () => {
  b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 });
  wire = await TestKafkaClient.connect(b.bootstrap);
  producer = new Producer({
    clientId: 'groups-producer',
    bootstrapBrokers: [b.bootstrap],
    serializers: stringSerializers,
    retries: 2,
  });
});

after(async () => {
  await producer.close();
  wire.close();
  await b.close();
  removeDir(b.dataDir);
});

/** Produces `count` messages per partition, valued `${prefix}-${partition}-${i}`; returns the values. */
async function produce(topic: string, partitions: number, count: number, prefix: string): Promise<string[]> {
  const messages = [];
  for (let p = 0; p < partitions; p++) for (let i = 0; i < count; i++) messages.push({ topic, partition: p, value: `${prefix}-${p}-${i}` });
  await producer.send({ messages, acks: ProduceAcks.ALL });
  return messages.map((m) => m.value);
}

async function highWatermarks(topic: string, partitions: number): Promise<number[]> {
  const r = await wire.request(2, 1, { replicaId: -1, topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, p) => ({ partitionIndex: p, timestamp: -1 })) }] });
  return r.topics[0].partitions.map((p: { offset: number }) => p.offset);
}

async function committed(groupId: string, topic: string, partitions: number): Promise<number[]> {
  const f = await fetchOffsets(wire, groupId, [{ name: topic, partitions: Array.from({ length: partitions }, (_, p) => p) }]);
  return Array.from({ length: partitions }, (_, p) => f.offsets.get(`${topic}/${p}`)!.offset);
}

// ---- kcat -------------------------------------------------------------------------------------

interface KcatMember {
  child: ChildProcess;
  /** Lines of `%p %o %s` output. */
  messages: Array<{ partition: number; offset: number; value: string }>;
  /** The partitions of the latest "assigned" rebalance line (null before the first). */
  assigned: number[] | null;
  stderr: string[];
  exited: Promise<number | null>;
}

function kcatMember(args: string[]): KcatMember {
  const child = spawn(KCAT, ['-b', b.bootstrap, '-u', '-f', '%p %o %s\n', '-X', 'auto.offset.reset=earliest', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m: KcatMember = { child, messages: [], assigned: null, stderr: [], exited: new Promise((res) => child.once('close', (code) => res(code))) };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const match = /^(\d+) (\d+) (.*)$/.exec(line);
    if (match) m.messages.push({ partition: Number(match[1]), offset: Number(match[2]), value: match[3] });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    m.stderr.push(line);
    // "% Group g rebalanced (memberid …): assigned: t [0], t [1]" / "…: revoked: …"
    const rebalance = /rebalanced \(memberid [^)]*\): (assigned|revoked): ?(.*)$/.exec(line);
    if (rebalance) m.assigned = rebalance[1] === 'assigned' ? [...rebalance[2].matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1])).sort((x, y) => x - y) : [];
  });
  return m;
}

/** Runs kcat -G to the end of the topic (-e) and returns what it consumed. */
async function kcatDrain(groupId: string, topic: string): Promise<KcatMember> {
  const m = kcatMember(['-G', groupId, topic, '-e']);
  const code = await Promise.race([m.exited, timeout(30_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') m.child.kill('SIGKILL');
  assert.equal(code, 0, `kcat -G ${groupId} ${topic} -e exited with ${code}; stderr:\n${m.stderr.join('\n')}`);
  return m;
}

test('kcat -G consumes with commits: a second run in the same group gets only what is new', { skip: noKcat, timeout: 90_000 }, async () => {
  const topic = 'kcat-commits';
  const groupId = 'kcat-committer';
  await b.broker.createTopic(topic, 4, {});
  const first = await produce(topic, 4, 10, 'first');
  const run1 = await kcatDrain(groupId, topic);
  assert.deepEqual(run1.messages.map((m) => m.value).sort(), [...first].sort(), 'the first run reads everything from the earliest offset');
  assert.deepEqual(await committed(groupId, topic, 4), await highWatermarks(topic, 4), 'kcat committed everything it consumed');

  const second = await produce(topic, 4, 3, 'second');
  const run2 = await kcatDrain(groupId, topic);
  assert.deepEqual(run2.messages.map((m) => m.value).sort(), [...second].sort(), 'the second run starts after the committed offsets');
  for (const m of run2.messages) assert.ok(m.offset >= 10, `partition ${m.partition} offset ${m.offset} was already committed`);

  const run3 = await kcatDrain(groupId, topic);
  assert.deepEqual(run3.messages, [], 'a third run has nothing left');
  const d = await wire.request(API.DescribeGroups, 4, { groups: [groupId], includeAuthorizedOperations: false });
  assert.equal(d.groups[0].groupState, 'Empty', 'kcat left the group on exit');
});

test('two concurrent kcat -G members split the partitions: disjoint, non-empty, complete', { skip: noKcat, timeout: 90_000 }, async () => {
  const topic = 'kcat-split';
  const groupId = 'kcat-splitters';
  const partitions = 6;
  await b.broker.createTopic(topic, partitions, {});
  const members = [kcatMember(['-G', groupId, topic]), kcatMember(['-G', groupId, topic])];
  try {
    const split = (): boolean => {
      const [x, y] = members.map((m) => m.assigned);
      if (!x?.length || !y?.length) return false;
      return x.length + y.length === partitions && new Set([...x, ...y]).size === partitions;
    };
    assert.ok(await waitFor(split, 60_000, 100), `both kcat members report a share of the partitions; got ${JSON.stringify(members.map((m) => m.assigned))}\n${members.map((m) => m.stderr.join('\n')).join('\n---\n')}`);
    // Produce only now, so each member receives exactly its own partitions.
    const values = await produce(topic, partitions, 5, 'split');
    assert.ok(await waitFor(() => members[0].messages.length + members[1].messages.length >= values.length, 30_000, 100), 'the members receive every message');
    for (const m of members) {
      assert.ok(m.messages.length > 0, 'each member gets a non-empty share');
      for (const msg of m.messages) assert.ok(m.assigned!.includes(msg.partition), `a member got partition ${msg.partition} outside its assignment ${m.assigned}`);
    }
    const got = members.flatMap((m) => m.messages.map((x) => x.value)).sort();
    assert.deepEqual(got, [...values].sort(), 'together they receive every message exactly once');
    const d = await wire.request(API.DescribeGroups, 4, { groups: [groupId], includeAuthorizedOperations: false });
    assert.equal(d.groups[0].groupState, 'Stable');
    assert.equal(d.groups[0].members.length, 2);
    assert.ok(['range', 'roundrobin'].includes(d.groups[0].protocolData), `librdkafka's assignor: ${d.groups[0].protocolData}`);
  } finally {
    for (const m of members) m.child.kill('SIGTERM');
    await Promise.all(members.map((m) => Promise.race([m.exited, timeout(10_000)])));
    for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
  }
});

// ---- @platformatic/kafka ------------------------------------------------------------------------

type PltConsumer = Consumer<string, string, string, string>;

function pltConsumer(groupId: string, clientId: string): PltConsumer {
  return new Consumer({
    groupId,
    clientId,
    bootstrapBrokers: [b.bootstrap],
    deserializers: stringDeserializers,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    rebalanceTimeout: 15_000,
    maxWaitTime: 200,
    retries: 5,
    retryDelay: 100,
  });
}

interface PltMember {
  consumer: PltConsumer;
  stream: MessagesStream<string, string, string, string>;
  messages: Array<{ partition: number; offset: number; value: string }>;
  assigned: number[] | null;
  errors: Error[];
}

async function pltMember(groupId: string, clientId: string, topic: string): Promise<PltMember> {
  const consumer = pltConsumer(groupId, clientId);
  const m = { consumer, messages: [], assigned: null, errors: [] } as unknown as PltMember;
  consumer.on('consumer:group:join', (p) => {
    m.assigned = (p.assignments ?? []).filter((a) => a.topic === topic).flatMap((a) => a.partitions).sort((x, y) => x - y);
  });
  m.stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
  m.stream.on('error', (err: Error) => m.errors.push(err));
  m.stream.on('data', (msg: Message<string, string, string, string>) => {
    m.messages.push({ partition: msg.partition, offset: Number(msg.offset), value: msg.value });
    // Each message is committed once processed (OffsetCommit with this member's generation).
    Promise.resolve(msg.commit()).catch((err: Error) => m.errors.push(err));
  });
  return m;
}

async function pltClose(m: PltMember): Promise<void> {
  await m.stream.close();
  await m.consumer.close();
}

test('@platformatic/kafka: two members split the partitions, receive everything, and a new member resumes after the commits', { timeout: 90_000 }, async () => {
  const topic = 'plt-split';
  const groupId = 'plt-group';
  const partitions = 4;
  await b.broker.createTopic(topic, partitions, {});
  const a = await pltMember(groupId, 'plt-a', topic);
  const c = await pltMember(groupId, 'plt-b', topic);
  let fresh: PltMember | null = null;
  try {
    const split = (): boolean => {
      const [x, y] = [a.assigned, c.assigned];
      if (!x?.length || !y?.length) return false;
      return x.length + y.length === partitions && new Set([...x, ...y]).size === partitions;
    };
    assert.ok(await waitFor(split, 30_000, 100), `both members hold a share of the partitions: ${JSON.stringify([a.assigned, c.assigned])}`);
    // A Fetch the first member sent before the rebalance (for all partitions) may still be long-polling;
    // the client would deliver what it returns. Let it expire (maxWaitTime 200 ms) before producing.
    await timeout(1000);
    const values = await produce(topic, partitions, 20, 'plt');
    assert.ok(await waitFor(() => a.messages.length + c.messages.length >= values.length, 30_000, 100), `the members receive every message (${a.messages.length + c.messages.length}/${values.length})`);
    for (const m of [a, c]) {
      assert.ok(m.messages.length > 0, 'each member gets a non-empty share');
      for (const msg of m.messages) assert.ok(m.assigned!.includes(msg.partition), `partition ${msg.partition} is outside the assignment ${m.assigned}`);
    }
    assert.deepEqual([...a.messages, ...c.messages].map((m) => m.value).sort(), [...values].sort(), 'together they receive every message exactly once');
    const highs = await highWatermarks(topic, partitions);
    assert.ok(await waitFor(async () => JSON.stringify(await committed(groupId, topic, partitions)) === JSON.stringify(highs), 10_000, 100), 'every processed message was committed');
    await pltClose(a);
    await pltClose(c);
    assert.deepEqual([...a.errors, ...c.errors].map((e) => e.message), [], 'no stream or commit errors');

    const later = await produce(topic, partitions, 2, 'later');
    fresh = await pltMember(groupId, 'plt-c', topic);
    assert.ok(await waitFor(() => fresh!.messages.length >= later.length, 30_000, 100), 'the new member receives the new messages');
    await timeout(1000); // anything already committed would arrive now
    assert.deepEqual(fresh.messages.map((m) => m.value).sort(), [...later].sort(), 'the new member resumes exactly after the committed offsets');
    for (const m of fresh.messages) assert.equal(m.offset >= highs[m.partition], true, `partition ${m.partition} offset ${m.offset} was committed before`);
  } finally {
    for (const m of [a, c, fresh]) if (m) await Promise.race([pltClose(m).catch(() => {}), timeout(10_000)]);
  }
});
