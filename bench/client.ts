// Client scenarios of `npm run bench` (client-1024, client-100): the Holdfast TypeScript client next
// to kafkajs 2.2.4, both against the same `holdfast serve` process, on topics with
// flush.mode=sync and `partitions` partitions. Both clients run with their default settings except
// where stated here.
//
// produce  Each client writes keyless messages of `messageBytes` for `seconds` (after a short
//          warm-up on a third topic, so connections, metadata, the producer id and the JIT are
//          ready), idempotent with acks=-1, and counts acknowledged messages; the topic must then
//          hold exactly that many. Both keep the same number of unacknowledged messages in flight,
//          `clientWindow` (default 1000):
//            - Holdfast: `clientWindow` lanes, each awaiting one `producer.send(message)` at a time
//              (send() resolves after the ack). The producer batches them itself (lingerMs 5,
//              sticky partitioner, one request in flight per partition).
//            - kafkajs: a send() call is its unit of batching (one Produce request per call, its
//              messages spread round-robin over the partitions by the default partitioner), so
//              `clientWindow / kafkajsBatch` lanes each await one `producer.send({ topic, messages })`
//              of `kafkajsBatch` messages at a time: again `clientWindow` messages unacknowledged.
//              kafkajs 2.2.4 has no per-connection limit for idempotence; it serialises an
//              idempotent producer's Produce requests per broker with a lock (its fix for
//              sequence numbers under concurrent sends, #1050/#1172), so while one request is in
//              flight the other lanes' send() calls wait for it. maxInFlightRequests: 1 is set as
//              well (Kafka's classic idempotence setting). So kafkajs gains nothing from several
//              lanes and does best with one send() of the whole window: the default kafkajsBatch
//              is clientWindow, one lane. (Measured at 1 KiB, window 1000: 50 per send() 20k msg/s,
//              100 31k, 250 38k, 500 46k, 1000 55k.)
//          No compression for either.
// consume  Each client reads the messages the Holdfast producer wrote (the same N messages for
//          both), from the beginning, in a new consumer group, with a per-message handler that
//          counts (Holdfast `consumer.run(handler)`, kafkajs `eachMessage`), committing at each
//          client's default cadence (Holdfast: at-least-once, maxUncommittedMessages 1000;
//          kafkajs: after each fetched batch). A warm-up read of the warm-up topic comes first.
//          `seconds` runs from the first message to the N-th; `startupSeconds` is the time from
//          starting the consumer to its first message (group join and offset lookup), reported
//          apart so it does not blur the throughput.
//
// Each measurement prints one JSON line (with broker and bench-process CPU per message); a last
// line per scenario gives the holdfast/kafkajs ratios of msgPerSec.
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { Consumer, Producer } from '../src/index.ts';
import { TestKafkaClient } from '../test/helpers/kafka-client.ts';

export interface ClientScenario {
  name: string;
  messageBytes: number;
}

export const CLIENT_SCENARIOS: ClientScenario[] = [
  { name: 'client-1024', messageBytes: 1024 },
  { name: 'client-100', messageBytes: 100 },
];

export interface ClientBenchOptions {
  bootstrap: string;
  seconds: number;
  partitions: number;
  /** Unacknowledged messages in flight per producer. */
  clientWindow: number;
  /** Messages per kafkajs send() call. */
  kafkajsBatch: number;
  /** CPU seconds the broker process has used so far. */
  brokerCpuSeconds: () => number;
}

type ClientName = 'holdfast' | 'kafkajs';

interface Measured {
  messages: number;
  seconds: number;
  extra?: Record<string, number>;
}

/** Consumers that have not reached N messages by then fail the run. */
const CONSUME_TIMEOUT_MS = 300_000;

async function createTopic(admin: TestKafkaClient, name: string, partitions: number): Promise<void> {
  const res = await admin.request(19, 3, {
    topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [{ name: 'flush.mode', value: 'sync' }] }],
    timeoutMs: 10000,
    validateOnly: false,
  });
  if (res.topics[0].errorCode !== 0) throw new Error(`create topic ${name} failed: ${res.topics[0].errorMessage}`);
}

/** Sum of the high watermarks of `topic`'s partitions (ListOffsets v3, latest). */
async function messagesIn(admin: TestKafkaClient, topic: string, partitions: number): Promise<number> {
  const res = await admin.request(2, 3, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, p) => ({ partitionIndex: p, timestamp: -1 })) }],
  });
  let total = 0;
  for (const p of res.topics[0].partitions) {
    if (p.errorCode !== 0) throw new Error(`ListOffsets ${topic}-${p.partitionIndex} failed with error ${p.errorCode}`);
    total += Number(p.offset);
  }
  return total;
}

/** Fails the run unless `topic` holds exactly the `acked` messages the producer was acknowledged for. */
async function expectMessages(admin: TestKafkaClient, topic: string, partitions: number, acked: number): Promise<void> {
  const stored = await messagesIn(admin, topic, partitions);
  if (stored !== acked) throw new Error(`${topic} holds ${stored} messages but ${acked} were acknowledged`);
}

/** Runs `lanes` copies of `step` (each resolving with the messages it got acknowledged) until `seconds` have passed. */
async function driveFor(seconds: number, lanes: number, step: () => Promise<number>): Promise<{ messages: number; seconds: number }> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let messages = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const acked = await step(); // not `messages += await step()`: that reads `messages` before the await
      messages += acked;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return { messages, seconds: (performance.now() - start) / 1000 };
}

/** Resolves with the time the `total`-th message was counted; `count` is called once per message. */
function counter(total: number, what: string): { count: () => void; first: () => number; counted: () => number; done: Promise<number>; fail: (err: unknown) => void } {
  let n = 0;
  let firstAt = NaN;
  let resolve!: (at: number) => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => reject(new Error(`${what}: only ${n} of ${total} messages consumed within ${CONSUME_TIMEOUT_MS} ms`)), CONSUME_TIMEOUT_MS);
  void done.then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );
  return {
    count() {
      n++;
      if (n === 1) firstAt = performance.now();
      if (n === total) resolve(performance.now());
    },
    first: () => firstAt,
    counted: () => n,
    done,
    fail: (err) => reject(err),
  };
}

/** A Holdfast consumer (defaults, autoOffsetReset earliest) in a new group reads the `total` messages of `topics`. */
async function consumeHoldfast(bootstrap: string, topics: string[], total: number, groupId: string): Promise<Measured> {
  const c = counter(total, `holdfast consumer of ${topics.join(', ')}`);
  const consumer = new Consumer({ brokers: [bootstrap], groupId, topics, autoOffsetReset: 'earliest', clientId: 'bench-holdfast' });
  const start = performance.now();
  const running = consumer.run(() => c.count());
  running.then(
    () => c.fail(new Error(`holdfast consumer stopped after ${c.counted()} of ${total} messages`)),
    (err: unknown) => c.fail(err),
  );
  try {
    const end = await c.done;
    return { messages: total, seconds: (end - c.first()) / 1000, extra: { startupSeconds: +((c.first() - start) / 1000).toFixed(3) } };
  } finally {
    await consumer.close();
    await running.catch(() => undefined);
    if (c.counted() !== total) console.error(`holdfast consumer of ${topics.join(', ')} handled ${c.counted()} messages; ${total} are in the topics`);
  }
}

/** A kafkajs consumer (defaults, fromBeginning, eachMessage) in a new group reads the `total` messages of `topics`. */
async function consumeKafkajs(kafka: Kafka, topics: string[], total: number, groupId: string): Promise<Measured> {
  const c = counter(total, `kafkajs consumer of ${topics.join(', ')}`);
  const consumer = kafka.consumer({ groupId });
  consumer.on(consumer.events.CRASH, (e) => c.fail(e.payload.error));
  const start = performance.now();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async () => {
        c.count();
      },
    });
    const end = await c.done;
    return { messages: total, seconds: (end - c.first()) / 1000, extra: { startupSeconds: +((c.first() - start) / 1000).toFixed(3) } };
  } finally {
    await consumer.disconnect();
    if (c.counted() !== total) console.error(`kafkajs consumer of ${topics.join(', ')} handled ${c.counted()} messages; ${total} are in the topics`);
  }
}

export async function runClientScenario(s: ClientScenario, o: ClientBenchOptions): Promise<void> {
  const admin = await TestKafkaClient.connect(o.bootstrap);
  const topics = { holdfast: `${s.name}-holdfast`, kafkajs: `${s.name}-kafkajs`, warmup: `${s.name}-warmup` };
  for (const t of Object.values(topics)) await createTopic(admin, t, o.partitions);
  const value = Buffer.alloc(s.messageBytes, 0x61);
  const warmupSeconds = Math.min(1, o.seconds / 4);
  const kafkajsLanes = Math.max(1, Math.round(o.clientWindow / o.kafkajsBatch));
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: [o.bootstrap], logLevel: logLevel.NOTHING });

  const results: Record<string, Record<ClientName, number>> = { produce: { holdfast: NaN, kafkajs: NaN }, consume: { holdfast: NaN, kafkajs: NaN } };
  const report = async (phase: 'produce' | 'consume', client: ClientName, body: () => Promise<Measured>): Promise<number> => {
    const cpu0 = o.brokerCpuSeconds();
    const own0 = process.cpuUsage();
    const m = await body();
    const own = process.cpuUsage(own0);
    const cpu1 = o.brokerCpuSeconds();
    const msgPerSec = m.messages / m.seconds;
    results[phase][client] = msgPerSec;
    const line = {
      scenario: s.name,
      phase,
      client,
      messageBytes: s.messageBytes,
      flush: 'sync',
      partitions: o.partitions,
      ...(phase === 'produce' ? { inFlight: client === 'holdfast' ? o.clientWindow : kafkajsLanes * o.kafkajsBatch, ...(client === 'kafkajs' ? { messagesPerSend: o.kafkajsBatch } : {}) } : {}),
      messages: m.messages,
      seconds: +m.seconds.toFixed(3),
      msgPerSec: Math.round(msgPerSec),
      mbPerSec: +((m.messages * s.messageBytes) / m.seconds / 1e6).toFixed(1),
      ...m.extra,
      brokerCpuUsPerMsg: +(((cpu1 - cpu0) * 1e6) / Math.max(m.messages, 1)).toFixed(2),
      clientCpuUsPerMsg: +((own.user + own.system) / Math.max(m.messages, 1)).toFixed(2),
    };
    console.log(JSON.stringify(line));
    return m.messages;
  };

  // ---- produce ----
  const holdfastProducer = new Producer({ brokers: [o.bootstrap], clientId: 'bench-holdfast' });
  try {
    await driveFor(warmupSeconds, o.clientWindow, async () => (await holdfastProducer.send({ topic: topics.warmup, value }), 1));
    const acked = await report('produce', 'holdfast', () => driveFor(o.seconds, o.clientWindow, async () => (await holdfastProducer.send({ topic: topics.holdfast, value }), 1)));
    await expectMessages(admin, topics.holdfast, o.partitions, acked);
  } finally {
    await holdfastProducer.close();
  }

  const kafkajsProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await kafkajsProducer.connect();
  try {
    const send = async (topic: string): Promise<number> => {
      const messages = Array.from({ length: o.kafkajsBatch }, () => ({ value }));
      await kafkajsProducer.send({ topic, acks: -1, messages });
      return messages.length;
    };
    await driveFor(warmupSeconds, kafkajsLanes, () => send(topics.warmup));
    const acked = await report('produce', 'kafkajs', () => driveFor(o.seconds, kafkajsLanes, () => send(topics.kafkajs)));
    await expectMessages(admin, topics.kafkajs, o.partitions, acked);
  } finally {
    await kafkajsProducer.disconnect();
  }

  // ---- consume: both read the messages the Holdfast producer wrote ----
  // Each client first reads the warm-up topic in a group of its own (JIT, connections), then the
  // measured topic in another new group.
  const groupSuffix = Date.now().toString(36);
  const warmupTotal = await messagesIn(admin, topics.warmup, o.partitions);
  const measured = [topics.holdfast];
  const total = await messagesIn(admin, topics.holdfast, o.partitions);
  await consumeHoldfast(o.bootstrap, [topics.warmup], warmupTotal, `${s.name}-warmup-holdfast-${groupSuffix}`);
  await report('consume', 'holdfast', () => consumeHoldfast(o.bootstrap, measured, total, `${s.name}-holdfast-${groupSuffix}`));
  await consumeKafkajs(kafka, [topics.warmup], warmupTotal, `${s.name}-warmup-kafkajs-${groupSuffix}`);
  await report('consume', 'kafkajs', () => consumeKafkajs(kafka, measured, total, `${s.name}-kafkajs-${groupSuffix}`));

  admin.close();
  const ratio = (phase: string): number => +(results[phase].holdfast / results[phase].kafkajs).toFixed(2);
  console.log(JSON.stringify({ scenario: s.name, phase: 'ratio', messageBytes: s.messageBytes, holdfastOverKafkajs: { produce: ratio('produce'), consume: ratio('consume') } }));
}
