// kafkajs 2.2.4 consumer groups against Holdfast: three consumers share a 6-partition topic while a
// producer keeps producing; one leaves gracefully (LeaveGroup), one dies without a word (its sockets
// are destroyed, as a SIGKILL would, and it can never reconnect). The survivors must take over
// within the session timeout, no partition may be owned by two consumers at any time (checked on
// the consumers' own GROUP_JOIN / REBALANCING events and on the broker's DescribeGroups snapshots),
// every produced message must be processed at least once, and a fresh member must resume exactly
// at the committed offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { API, decodeAssignment, sleep, timeout, waitFor } from './wire.ts';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

const TOPIC = 'work';
const PARTITIONS = 6;
const GROUP = 'kafkajs-workers';
const SESSION_TIMEOUT_MS = 6000;
const HEARTBEAT_INTERVAL_MS = 500;
/** Slack on top of the session timeout for detection, rejoin and the first fetch on a slow machine. */
const TAKEOVER_MARGIN_MS = 10_000;

type Claim = { consumer: string; partitions: Set<number>; start: number; end: number };

/** Event order: one counter for every event in this process, so "before" is exact. */
let tick = 0;
const now = (): number => ++tick;

/** A socket factory whose sockets can all be destroyed at once; afterwards every connect is refused. */
function killableSockets() {
  const sockets = new Set<Socket>();
  let dead = false;
  return {
    factory: ({ host, port, onConnect }: { host: string; port: number; onConnect: () => void }) => {
      // Port 1 on loopback refuses: a dead process cannot reconnect.
      const socket = connect(dead ? { host: '127.0.0.1', port: 1 } : { host, port }, onConnect);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      return socket;
    },
    kill() {
      dead = true;
      // With an error, so that the client notices now rather than at its request timeout.
      for (const s of sockets) s.destroy(new Error('killed'));
    },
  };
}

test('kafkajs: three consumers share a topic, survive a leave and a crash, and resume at the committed offsets', { timeout: 120_000 }, async () => {
  const b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 });
  await b.broker.createTopic(TOPIC, PARTITIONS, {});
  const kafka = new Kafka({ clientId: 'kjs-group', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
  const wire = await TestKafkaClient.connect(b.bootstrap);

  // ---- bookkeeping --------------------------------------------------------------------------
  const claims: Claim[] = [];
  const open = new Map<string, Claim>();
  const closeClaim = (consumer: string): void => {
    const c = open.get(consumer);
    if (c) c.end = now();
    open.delete(consumer);
  };
  const processed = new Map<number, number>(); // seq → times processed
  const violations: string[] = [];
  const crashes: string[] = [];
  const deadConsumers = new Set<string>();

  function makeConsumer(name: string, socketFactory?: unknown) {
    const k = socketFactory ? new Kafka({ clientId: `kjs-${name}`, brokers: [b.bootstrap], logLevel: logLevel.NOTHING, socketFactory, retry: { retries: 1, initialRetryTime: 100 } }) : kafka;
    // The killable consumer gives up at once when its sockets die, and never restarts: it is dead.
    const retry = socketFactory ? { retries: 0, restartOnFailure: async () => false } : { retries: 8, initialRetryTime: 100 };
    const consumer = k.consumer({ groupId: GROUP, sessionTimeout: SESSION_TIMEOUT_MS, rebalanceTimeout: 20_000, heartbeatInterval: HEARTBEAT_INTERVAL_MS, maxWaitTimeInMs: 200, retry });
    consumer.on(consumer.events.GROUP_JOIN, (e: { payload: { memberAssignment: Record<string, number[]> } }) => {
      if (deadConsumers.has(name)) return;
      closeClaim(name);
      const c: Claim = { consumer: name, partitions: new Set(e.payload.memberAssignment[TOPIC] ?? []), start: now(), end: Infinity };
      claims.push(c);
      open.set(name, c);
    });
    for (const ev of [consumer.events.REBALANCING, consumer.events.STOP]) consumer.on(ev, () => closeClaim(name));
    consumer.on(consumer.events.CRASH, (e: { payload: { error: Error } }) => {
      closeClaim(name);
      if (!deadConsumers.has(name)) crashes.push(`${name}: ${e.payload.error.message}`);
    });
    const run = async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }: { partition: number; message: { value: Buffer; offset: string } }) => {
          if (deadConsumers.has(name)) return; // a dead process processes nothing
          const claim = open.get(name);
          if (!claim || !claim.partitions.has(partition)) violations.push(`${name} processed ${TOPIC}-${partition}@${message.offset} outside its assignment`);
          const seq = Number(message.value.toString());
          processed.set(seq, (processed.get(seq) ?? 0) + 1);
        },
      });
    };
    return { name, consumer, run };
  }

  // ---- the broker's own view, sampled: every Stable snapshot is a disjoint, complete assignment --
  let snapshots = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await wire.request(API.DescribeGroups, 4, { groups: [GROUP], includeAuthorizedOperations: false });
      const g = r.groups[0];
      if (g.groupState === 'Stable') {
        snapshots++;
        const owner = new Map<number, string>();
        for (const m of g.members) {
          for (const p of decodeAssignment(m.memberAssignment)[TOPIC] ?? []) {
            if (owner.has(p)) violations.push(`broker: partition ${p} assigned to ${owner.get(p)} and ${m.memberId}`);
            owner.set(p, m.memberId);
          }
        }
        if (owner.size !== PARTITIONS) violations.push(`broker: a Stable generation assigns ${owner.size} of ${PARTITIONS} partitions`);
      }
      await sleep(50);
    }
  })();

  // ---- a producer that keeps producing -------------------------------------------------------
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const acked: number[] = [];
  let seq = 0;
  let producing = true;
  const produceLoop = (async () => {
    while (producing) {
      const messages = [];
      for (let i = 0; i < PARTITIONS; i++, seq++) messages.push({ partition: seq % PARTITIONS, value: String(seq) });
      const first = seq - PARTITIONS;
      await producer.send({ topic: TOPIC, acks: -1, messages });
      for (let s = first; s < first + PARTITIONS; s++) acked.push(s);
      await sleep(25);
    }
  })();

  const ownersNow = (): Map<number, string> => {
    const m = new Map<number, string>();
    for (const c of open.values()) for (const p of c.partitions) m.set(p, c.consumer);
    return m;
  };
  const coveredBy = (names: string[]): boolean => {
    const o = ownersNow();
    return o.size === PARTITIONS && [...o.values()].every((n) => names.includes(n)) && names.every((n) => open.get(n)?.partitions.size);
  };

  const killer = killableSockets();
  const c1 = makeConsumer('c1');
  const c2 = makeConsumer('c2');
  const c3 = makeConsumer('c3', killer.factory);
  try {
    await Promise.all([c1.run(), c2.run(), c3.run()]);
    assert.ok(await waitFor(() => coveredBy(['c1', 'c2', 'c3']), 30_000), `three consumers share the ${PARTITIONS} partitions`);
    for (const c of open.values()) assert.equal(c.partitions.size, 2, `${c.consumer} owns 2 of 6 partitions`);
    await sleep(1500);

    // c1 leaves gracefully: LeaveGroup, then c2 and c3 split its partitions.
    const leftAt = Date.now();
    await c1.consumer.disconnect();
    assert.ok(await waitFor(() => coveredBy(['c2', 'c3']), SESSION_TIMEOUT_MS + TAKEOVER_MARGIN_MS), 'c2 and c3 take over after c1 leaves');
    const afterLeaveMs = Date.now() - leftAt;
    await sleep(1500);

    // c3 dies without LeaveGroup: only its session expiry tells the broker.
    const processedBeforeKill = processed.size;
    const killedAt = Date.now();
    deadConsumers.add('c3');
    closeClaim('c3');
    killer.kill();
    assert.ok(await waitFor(() => coveredBy(['c2']), SESSION_TIMEOUT_MS + TAKEOVER_MARGIN_MS), `c2 takes every partition within the session timeout (${SESSION_TIMEOUT_MS} ms) + margin`);
    const afterKillMs = Date.now() - killedAt;
    await sleep(1500);
    producing = false;
    await produceLoop;
    assert.ok(processed.size > processedBeforeKill, 'processing continued after the crash');

    // Every acknowledged message is processed at least once.
    const missing = (): number[] => acked.filter((s) => !processed.has(s));
    assert.ok(await waitFor(() => missing().length === 0, 30_000), `all ${acked.length} produced messages are processed; missing ${missing().slice(0, 10).join(',')}…`);

    // A graceful stop commits; the committed offsets are the high watermarks.
    await c2.consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    const highs = new Map<number, number>((await admin.fetchTopicOffsets(TOPIC)).map((p: { partition: number; high: string }) => [p.partition, Number(p.high)]));
    const committedList = (await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }))[0].partitions as Array<{ partition: number; offset: string }>;
    const committed = new Map<number, number>(committedList.map((p) => [p.partition, Number(p.offset)]));
    for (let p = 0; p < PARTITIONS; p++) assert.equal(committed.get(p), highs.get(p), `partition ${p}: everything processed was committed`);

    // New messages, then a fresh member (fromBeginning!) resumes exactly after the commits.
    const fresh: Array<{ seq: number; partition: number; offset: number }> = [];
    const newSeqs: number[] = [];
    const messages = [];
    for (let i = 0; i < 10 * PARTITIONS; i++, seq++) {
      messages.push({ partition: seq % PARTITIONS, value: String(seq) });
      newSeqs.push(seq);
    }
    await producer.send({ topic: TOPIC, acks: -1, messages });
    const c4 = kafka.consumer({ groupId: GROUP, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_INTERVAL_MS, maxWaitTimeInMs: 200 });
    await c4.connect();
    await c4.subscribe({ topic: TOPIC, fromBeginning: true });
    await c4.run({
      eachMessage: async ({ partition, message }: { partition: number; message: { value: Buffer; offset: string } }) => {
        fresh.push({ seq: Number(message.value.toString()), partition, offset: Number(message.offset) });
      },
    });
    assert.ok(await waitFor(() => fresh.length >= newSeqs.length, 30_000), 'the fresh member receives the new messages');
    await sleep(1000); // anything already committed would show up now
    await c4.disconnect();
    assert.deepEqual(fresh.map((f) => f.seq).sort((x, y) => x - y), newSeqs, 'the fresh member gets exactly the uncommitted messages: nothing old, nothing skipped');
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = fresh.filter((f) => f.partition === p).map((f) => f.offset);
      assert.equal(Math.min(...offsets), committed.get(p), `partition ${p}: the fresh member starts at the committed offset`);
    }
    await admin.disconnect();

    // Ownership: no two consumers' assignments overlap at any moment.
    for (let i = 0; i < claims.length; i++) {
      for (let j = i + 1; j < claims.length; j++) {
        const [x, y] = [claims[i], claims[j]];
        if (x.consumer === y.consumer || !(x.start < y.end && y.start < x.end)) continue;
        const both = [...x.partitions].filter((p) => y.partitions.has(p));
        if (both.length > 0) violations.push(`${x.consumer} and ${y.consumer} both owned partitions ${both.join(',')}`);
      }
    }
    assert.deepEqual(violations, [], 'no partition is ever owned twice, and consumers only process what they own');
    assert.ok(snapshots > 5, `the broker was sampled while Stable (${snapshots} snapshots)`);
    assert.deepEqual(crashes, [], 'no live consumer crashed');
    const redelivered = [...processed.values()].filter((n) => n > 1).length;
    if (process.env.HOLDFAST_TEST_LOG) console.log({ acked: acked.length, redelivered, afterLeaveMs, afterKillMs, claims: claims.length, snapshots });
  } finally {
    producing = false;
    sampling = false;
    await produceLoop.catch(() => {});
    await sampler.catch(() => {});
    for (const c of [c1, c2, c3]) await Promise.race([c.consumer.disconnect().catch(() => {}), timeout(5000)]);
    await producer.disconnect();
    wire.close();
    await b.close();
    removeDir(b.dataDir);
  }
});
