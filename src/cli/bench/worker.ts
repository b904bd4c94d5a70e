// A producer or consumer process of a `holdfast bench` run, started by the parent with its
// arguments as one JSON argument and an IPC channel. Messages over the channel:
//   parent → worker  {t:'start', t0, warmupEnd, end}   times in ms on the shared clock (below)
//                    {t:'stop'}                        consumer: close and report
//   worker → parent  {t:'ready'}                       producer: connected; consumer: partitions assigned
//                    {t:'progress', n}                 messages acknowledged / handled so far
//                    {t:'done', ...}                   final figures (ProducerReport / ConsumerReport)
// The worker exits when the parent goes away (the channel disconnects).
//
// Clock: performance.timeOrigin + performance.now(), ms with sub-ms precision; the same clock in
// every process on one machine. Each message's value starts with its send time as a float64 (LE).
import { Consumer, Producer, createDefaultPartitioner } from '../../client/index.ts';
import { sharedMonotonicMs } from '../../util/index.ts';
import { LatencyHistogram, type HistogramSnapshot } from './histogram.ts';

export interface ProducerWorkerArgs {
  role: 'producer';
  brokers: string[];
  topic: string;
  messageBytes: number;
  /** Unacknowledged messages at most. */
  inFlight: number;
  /** Messages per second on a fixed schedule; 0 = as fast as the window allows. */
  rate: number;
  lingerMs: number;
  batchBytes?: number;
  stickyBytes?: number;
}

export interface ConsumerWorkerArgs {
  role: 'consumer';
  brokers: string[];
  topic: string;
  group: string;
  maxUncommittedMessages: number;
}

export type WorkerArgs = ProducerWorkerArgs | ConsumerWorkerArgs;

export interface StartMessage {
  t: 'start';
  t0: number;
  warmupEnd: number;
  end: number;
}

export interface ProducerReport {
  t: 'done';
  role: 'producer';
  /** Messages acknowledged over the whole run. */
  acked: number;
  /** Acknowledged between warmupEnd and end (by acknowledgement time). */
  ackedMeasured: number;
  failed: number;
  firstError: string | null;
  /** Acknowledgements per second since t0 (index = whole seconds since t0). */
  perSecond: number[];
  /** fixed rate: how far behind its schedule the producer fell at worst, ms. */
  maxScheduleLagMs: number;
  /** From send() to its acknowledgement, for the messages sent between warmupEnd and end. */
  ackLatency: HistogramSnapshot;
}

export interface ConsumerReport {
  t: 'done';
  role: 'consumer';
  group: string;
  /** Messages handled over the whole run (at-least-once: redeliveries count again). */
  consumed: number;
  /** Handled between warmupEnd and end (by arrival time). */
  consumedMeasured: number;
  perSecond: number[];
  /** End-to-end latency of the messages sent between warmupEnd and end. */
  latency: HistogramSnapshot;
}

export type WorkerMessage = { t: 'ready' } | { t: 'progress'; n: number } | ProducerReport | ConsumerReport | { t: 'error'; message: string };

/** Fixed for the process; read once (the getter costs as much as the clock itself). */
const TIME_ORIGIN = performance.timeOrigin;

/** Wall-clock ms with sub-ms precision, comparable across the bench's processes. */
export function clockMs(): number {
  return TIME_ORIGIN + performance.now();
}

/**
 * clockMs() through the client's shared reading (sharedMonotonicMs: re-read every 32 uses and at
 * each microtask boundary), for callbacks that run by the thousand in one synchronous run: at most
 * some µs old (estimated, not timed).
 */
function sharedClockMs(): number {
  return TIME_ORIGIN + sharedMonotonicMs();
}

/** How often a worker reports its progress count. */
export const PROGRESS_MS = 250;

/** Sends a message to the parent (resolves once sent; at once without an IPC channel). */
export function sendToParent<M extends { t: string } = WorkerMessage>(message: NoInfer<M>): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** The next message of type `t` from the parent. */
export function nextMessage<T extends { t: string }>(t: T['t']): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { t?: string }): void => {
      if (m.t === t) {
        process.off('message', on);
        resolve(m as T);
      }
    };
    process.on('message', on);
  });
}

/** Adds `count` to bin `index` (negative: bin 0) of a per-second series, growing it with zeros. */
export function bump(bins: number[], index: number, count = 1): void {
  const i = index < 0 ? 0 : index;
  while (bins.length <= i) bins.push(0);
  bins[i] += count;
}

async function runProducer(a: ProducerWorkerArgs): Promise<void> {
  // lingerMs comes from the parent: 0 by default, not the Producer's 5 ms — with a bounded window
  // linger only adds to every round trip (measured; see DEFAULT_LINGER_MS in index.ts).
  const partitioner = a.stickyBytes === undefined ? undefined : createDefaultPartitioner({ stickyBytes: a.stickyBytes });
  const producer = new Producer({ brokers: a.brokers, clientId: 'holdfast-bench-producer', acks: -1, idempotent: true, lingerMs: a.lingerMs, batchBytes: a.batchBytes, partitioner });
  const payload = Buffer.alloc(a.messageBytes, 0x61);
  const starting = nextMessage<StartMessage>('start');
  await sendToParent({ t: 'ready' });
  const { t0, warmupEnd, end } = await starting;
  const waitMs = t0 - clockMs();
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));

  const perSecond: number[] = [];
  let acked = 0;
  let ackedMeasured = 0;
  let failed = 0;
  let firstError: string | null = null;
  let inFlight = 0;
  let issued = 0;
  let maxScheduleLagMs = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let settleAll: () => void = () => undefined;
  const settled = new Promise<void>((r) => (settleAll = r));

  const ackLatency = new LatencyHistogram();
  // Acknowledgements read the clock through the client's shared reading (sharedClockMs): a
  // Produce response settles its records' callbacks in one synchronous run, and a reading serves up
  // to 32 uses of it (each callback here is a few hundred ns, sends included; estimated, not
  // timed) before the clock is read again. It serves their latency and the sends they let out.
  // A reading per callback was ~50–60 ns (a one-off microbenchmark), 1,000 times per W2 round on
  // the producer's serial path; a one-off within-run probe (not in the repo) put it at ~8% of W2's
  // throughput, and alternating `holdfast bench` runs agreed in direction (docs/performance.md).
  const onAck = (sentAt: number): void => {
    const now = sharedClockMs();
    if (sentAt >= warmupEnd && sentAt < end) ackLatency.record((now - sentAt) * 1000);
    acked++;
    if (now >= warmupEnd && now < end) ackedMeasured++;
    bump(perSecond, Math.floor((now - t0) / 1000));
    afterSettle(now);
  };
  const onFail = (err: unknown): void => {
    failed++;
    if (firstError === null) firstError = (err as { code?: string }).code ?? String(err);
    afterSettle(sharedClockMs());
  };
  const afterSettle = (now: number): void => {
    inFlight--;
    pump(now);
    if (stopped && inFlight === 0) settleAll();
  };
  // The messages of a burst share their send stamp, so they share the callback that carries it:
  // one closure per stamp rather than per message.
  let callbackStamp = Number.NaN;
  let callback: (err: Error | null) => void = () => undefined;
  const sendOne = (now: number): void => {
    // One payload buffer for every message, as OpenMessaging Benchmark's drivers send one payload:
    // the producer copies a record's bytes before sendAsync() returns. Each value starts with its
    // send time (the messages of one burst share it).
    if (a.messageBytes >= 8) payload.writeDoubleLE(now, 0);
    inFlight++;
    issued++;
    // The callback API, as OpenMessaging Benchmark's Kafka driver uses send(record, callback):
    // no promise per message.
    if (now !== callbackStamp) {
      callbackStamp = now;
      callback = (err) => (err === null ? onAck(now) : onFail(err));
    }
    producer.sendAsync({ topic: a.topic, value: payload }, callback);
  };
  // Fixed rate: message i is due at t0 + i/rate (a token schedule); the window still bounds it.
  const pump = (now: number): void => {
    if (stopped) return;
    if (now >= end) {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      if (inFlight === 0) settleAll();
      return;
    }
    if (a.rate <= 0) {
      while (inFlight < a.inFlight) sendOne(now);
      return;
    }
    const due = Math.floor(((now - t0) * a.rate) / 1000) + 1;
    while (issued < due && inFlight < a.inFlight) {
      const lag = now - (t0 + (issued * 1000) / a.rate);
      if (lag > maxScheduleLagMs) maxScheduleLagMs = lag;
      sendOne(clockMs());
    }
    if (timer === null) {
      const nextDue = t0 + (issued * 1000) / a.rate;
      timer = setTimeout(
        () => {
          timer = null;
          pump(clockMs());
        },
        Math.max(0, Math.min(nextDue, end) - clockMs()),
      );
    }
  };
  const progress = setInterval(() => void sendToParent({ t: 'progress', n: acked }), PROGRESS_MS);
  // Max rate stops issuing at `end` when an ack comes in; make sure a quiet window stops too.
  const endTimer = setTimeout(() => pump(clockMs()), Math.max(0, end - clockMs()) + 1);
  pump(clockMs());
  await settled;
  clearTimeout(endTimer);
  clearInterval(progress);
  await producer.close();
  await sendToParent({ t: 'progress', n: acked });
  await sendToParent({ t: 'done', role: 'producer', acked, ackedMeasured, failed, firstError, perSecond, maxScheduleLagMs: Math.round(maxScheduleLagMs * 1000) / 1000, ackLatency: ackLatency.snapshot() });
}

async function runConsumer(a: ConsumerWorkerArgs): Promise<void> {
  const consumer = new Consumer({
    brokers: a.brokers,
    groupId: a.group,
    topics: [a.topic],
    clientId: 'holdfast-bench-consumer',
    delivery: 'at-least-once',
    autoOffsetReset: 'earliest',
    maxUncommittedMessages: a.maxUncommittedMessages,
  });
  const histogram = new LatencyHistogram();
  const perSecond: number[] = [];
  let consumed = 0;
  let consumedMeasured = 0;
  // Until the start message arrives nothing is measured (the topic is new, so nothing arrives).
  let t0 = Infinity;
  let warmupEnd = Infinity;
  let end = -Infinity;
  void nextMessage<StartMessage>('start').then((s) => {
    t0 = s.t0;
    warmupEnd = s.warmupEnd;
    end = s.end;
  });
  let ready = false;
  consumer.on('assign', (partitions) => {
    if (!ready && partitions.length > 0) {
      ready = true;
      void sendToParent({ t: 'ready' });
    }
  });
  let stopping = false;
  process.on('message', (m: { t?: string }) => {
    if (m.t === 'stop' && !stopping) {
      stopping = true;
      void consumer.close();
    }
  });
  const progress = setInterval(() => void sendToParent({ t: 'progress', n: consumed }), PROGRESS_MS);
  // The shared clock reading, as the producer's acknowledgements read it: a fetched batch's
  // messages are handled in one synchronous run, so a latency is at most some µs short.
  await consumer.run((m) => {
    const now = sharedClockMs();
    consumed++;
    if (now >= warmupEnd && now < end) consumedMeasured++;
    bump(perSecond, Math.floor((now - t0) / 1000));
    const value = m.value;
    if (value !== null && value.length >= 8) {
      const sentAt = value.readDoubleLE(0);
      if (sentAt >= warmupEnd && sentAt < end) histogram.record((now - sentAt) * 1000);
    }
  });
  clearInterval(progress);
  await sendToParent({ t: 'progress', n: consumed });
  await sendToParent({ t: 'done', role: 'consumer', group: a.group, consumed, consumedMeasured, perSecond, latency: histogram.snapshot() });
}

if (import.meta.main) {
  const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
  // The parent went away: nothing to report to.
  process.on('disconnect', () => process.exit(2));
  (args.role === 'producer' ? runProducer(args) : runConsumer(args)).then(
    () => process.exit(0),
    async (err: unknown) => {
      await sendToParent({ t: 'error', message: (err as Error)?.stack ?? String(err) });
      process.exit(1);
    },
  );
}
