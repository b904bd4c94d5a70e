// The W1/W2 workloads against a peer (RabbitMQ, NATS JetStream, Redis Streams), with the rules of
// `holdfast bench` (src/cli/bench): one producer process and one consumer process (children of
// this one, like OpenMessaging Benchmark), messages of `messageBytes` whose first 8 bytes are the
// send time (float64 LE of performance.timeOrigin + performance.now(), the same clock in every
// process), at most `inFlight` (1000) messages unacknowledged, max rate, for the duration after a
// warm-up (the first 10%, at least 1 s, not measured), and a consumer that acknowledges every
// message individually. Then the drain: the consumer gets until it has handled as many messages
// as were acknowledged (15 s without progress, or max(120 s, duration) in all, ends it).
//
// Reported per run (one PeerResult): acknowledged msg/s and MB/s in the measured window
// (1 MB = 10^6 bytes), consumed msg/s in the measured window, end-to-end latency (send → handled)
// of the messages sent in the measured window from a fixed-memory histogram (Holdfast's
// LatencyHistogram), CPU seconds of the broker/producer/consumer processes in the measured window
// (utime + stime from /proc/<pid>/stat), and broker CPU µs per acknowledged message.
//
// This file is also the worker: run with a JSON argument and an IPC channel it is the producer or
// the consumer (see the bottom).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, connect as natsConnect } from 'nats';
import { Redis } from 'ioredis';
import { LatencyHistogram, type HistogramSnapshot } from '../../src/cli/bench/histogram.ts';
import { CpuWindow, WorkerProcess, rssMBOf } from '../../src/cli/bench/processes.ts';
import { drain, round, startWindow } from '../../src/cli/bench/run.ts';
import { PROGRESS_MS, clockMs, nextMessage, sendToParent, type StartMessage } from '../../src/cli/bench/worker.ts';
import type { PeerMode, PeerServer, PeerSystem } from './servers.ts';

export type PeerWorkloadName = 'W1' | 'W2';

export const PEER_WORKLOADS: Record<PeerWorkloadName, { messageBytes: number; description: string }> = {
  W1: { messageBytes: 1024, description: '1 KiB messages, max rate' },
  W2: { messageBytes: 100, description: '100 B messages, max rate' },
};

/** Unacknowledged messages at most, per producer (as `holdfast bench --in-flight`, default 1000). */
export const DEFAULT_IN_FLIGHT = 1000;
/** Messages delivered but not yet acknowledged at most, per consumer (prefetch / max_ack_pending / XREADGROUP COUNT). */
export const DEFAULT_PREFETCH = 1000;

export interface PeerResult {
  system: PeerSystem;
  workload: PeerWorkloadName;
  mode: PeerMode;
  messageBytes: number;
  durationSeconds: number;
  /** Acknowledged messages, whole run. */
  produced: number;
  /** Messages handled by the consumer, whole run (redeliveries would count again). */
  consumed: number;
  produceMsgPerSec: number;
  produceMBPerSec: number;
  e2eMsgPerSec: number;
  latencyMs: { p50: number | null; p99: number | null; p999: number | null; max: number | null };
  cpuSeconds: { broker: number | null; producer: number | null; consumer: number | null };
  brokerCpuUsPerMessage: number | null;
  settings: string;
  // ---- beyond the common fields
  version: string;
  /** Is a message on disk (fsync/fdatasync) before the producer gets its acknowledgement? */
  fsyncBeforeAck: boolean;
  warmupSeconds: number;
  measuredSeconds: number;
  latencySamples: number;
  /** Sends that failed (not acknowledged). */
  failed: number;
  firstError: string | null;
  /** The consumer handled at least every acknowledged message. */
  complete: boolean;
  drainSeconds: number;
  brokerRssMB: { max: number | null };
}

export interface PeerRunOptions {
  system: PeerSystem;
  workload: PeerWorkloadName;
  mode: PeerMode;
  /** A running server (from servers.ts) for this run. */
  server: PeerServer;
  durationMs: number;
  inFlight?: number;
  prefetch?: number;
  onProgress?: (p: { phase: 'running' | 'draining'; acked: number; consumed: number }) => void;
}

// ---------------------------------------------------------------- what each peer does, in words

/** Whether an acknowledged message is on disk (fsynced) in this peer/mode. */
export function fsyncBeforeAck(system: PeerSystem, mode: PeerMode): boolean {
  if (system === 'nats') return false; // 2.9.x: no sync_interval option; see peerSettings
  return mode === 'durable';
}

/** The exact settings of a run, in words (the server part comes from the server). */
export function peerSettings(system: PeerSystem, mode: PeerMode, server: PeerServer, inFlight: number, prefetch: number): string {
  const common = `1 producer process, 1 consumer process, ${inFlight} messages unacknowledged at most, max rate`;
  switch (system) {
    case 'rabbitmq':
      return mode === 'durable'
        ? `${server.settings}. One quorum queue (x-queue-type quorum, durable, 1 member). Producer: amqplib ConfirmChannel, basic.publish to the default exchange, persistent (delivery-mode 2), publisher confirms (confirmed after the Raft log write is fsynced). ` +
            `Consumer: basic.consume with manual ack, basic.qos prefetch ${prefetch}, one basic.ack per message. ${common}.`
        : `${server.settings}. One stream queue (x-queue-type stream, durable, 1 member; RabbitMQ streams do not fsync: confirmed once written to the segment file, i.e. to the OS page cache). Producer: amqplib ConfirmChannel, persistent, publisher confirms. ` +
            `Consumer: AMQP basic.consume with x-stream-offset first, manual ack, basic.qos prefetch ${prefetch}, one basic.ack per message. ${common}.`;
    case 'nats':
      return (
        `${server.settings}. One stream (file storage, limits retention, 1 replica, no limits, no message ids). Producer: nats.js, one core publish per message with its own reply subject, counted when its PubAck arrives (js.publish's protocol without its per-message promise and timer). ` +
        `Consumer: durable pull consumer (ack_policy explicit, deliver_policy all, max_ack_pending ${prefetch}), consume() with max_messages ${prefetch}, one ack per message. ${common}. ` +
        `Durability: nats-server ${server.version} has no sync_interval option (added in 2.10.0; 2.9 rejects it as an unknown field), so durable and fast run identically: ` +
        `a PubAck means the message was written (pwrite, one per message) to the stream's block file in the OS page cache, so it survives a crash of the server process but not of the OS or machine; the server fsyncs only in the background (the timer 2.10 made configurable defaults to 2 min; strace saw no fsync/fdatasync during a 5 s run)` +
        (mode === 'durable' ? ' (there is no NATS 2.9 setting for fsync-before-ack; this durable row is the same configuration as fast).' : '.')
      );
    case 'redis':
      return (
        `${server.settings}. One stream (XADD key * d <payload>, no MAXLEN trimming), one consumer group created before the producer starts. Producer: ioredis with auto-pipelining, one XADD per message, each awaiting its reply. ` +
        `Consumer: XREADGROUP GROUP g c COUNT ${prefetch} BLOCK 100 STREAMS key >, then one XACK per message (pipelined, not awaited before the next read). ${common}. ` +
        (mode === 'durable'
          ? 'appendfsync always: Redis writes and fsyncs the AOF for all commands of an event-loop iteration before sending their replies.'
          : 'appendfsync no: the AOF is written before the replies are sent but never fsynced by Redis (the OS flushes it, ~30 s).')
      );
  }
}

// ---------------------------------------------------------------- names and setup

interface Names {
  queue: string; // RabbitMQ queue
  stream: string; // NATS stream / Redis stream key
  subject: string; // NATS subject
  group: string; // NATS durable consumer / Redis consumer group
}

function namesFor(workload: PeerWorkloadName, mode: PeerMode): Names {
  return { queue: `bench-${workload}-${mode}`, stream: `BENCH_${workload}_${mode}`, subject: `bench.${workload}.${mode}`, group: 'bench' };
}

function connectAmqp(host: string, port: number): Promise<amqp.ChannelModel> {
  return amqp.connect({ hostname: host, port, username: 'guest', password: 'guest', heartbeat: 0 });
}

function newRedis(host: string, port: number): Redis {
  return new Redis({ host, port, enableAutoPipelining: true, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
}

/** Creates the queue/stream/group the workers use. */
async function prepare(system: PeerSystem, mode: PeerMode, server: PeerServer, n: Names, prefetch: number): Promise<void> {
  switch (system) {
    case 'rabbitmq': {
      const conn = await connectAmqp(server.host, server.port);
      try {
        const ch = await conn.createChannel();
        await ch.assertQueue(n.queue, { durable: true, arguments: { 'x-queue-type': mode === 'durable' ? 'quorum' : 'stream' } });
        await ch.close();
      } finally {
        await conn.close();
      }
      return;
    }
    case 'nats': {
      const nc = await natsConnect({ servers: `${server.host}:${server.port}`, reconnect: false });
      try {
        const jsm = await nc.jetstreamManager();
        await jsm.streams.add({ name: n.stream, subjects: [n.subject], storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: 1 });
        await jsm.consumers.add(n.stream, { durable_name: n.group, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: prefetch });
      } finally {
        await nc.close();
      }
      return;
    }
    case 'redis': {
      const r = newRedis(server.host, server.port);
      await r.connect();
      try {
        await r.call('XGROUP', 'CREATE', n.stream, n.group, '0', 'MKSTREAM');
      } finally {
        r.disconnect();
      }
      return;
    }
  }
}

// ---------------------------------------------------------------- clients (in the workers)

interface ProducerClient {
  /** Sends one message; `done` runs once with null when acknowledged, or the error. */
  send(value: Buffer, done: (err: unknown) => void): void;
  close(): Promise<void>;
}

interface ConsumerClient {
  /** Subscribes; resolves once messages can arrive. `onMessage` runs once per message, which the client then acknowledges. */
  start(onMessage: (value: Uint8Array) => void): Promise<void>;
  close(): Promise<void>;
}

async function producerClient(a: WorkerArgs): Promise<ProducerClient> {
  switch (a.system) {
    case 'rabbitmq': {
      const conn = await connectAmqp(a.host, a.port);
      const ch = await conn.createConfirmChannel();
      return {
        send(value, done) {
          ch.publish('', a.names.queue, value, { persistent: true }, (err) => done(err ?? null));
        },
        async close() {
          await conn.close();
        },
      };
    }
    case 'nats': {
      const nc = await natsConnect({ servers: `${a.host}:${a.port}`, reconnect: false });
      // JetStream publishing as js.publish does it, without its per-message cost: each message is
      // a core-NATS publish with its own reply subject, and the stream's PubAck for it (JSON,
      // {"stream":…,"seq":…} or {"error":…}) comes back on that subject, collected here by one
      // wildcard subscription. nats.js's js.publish() makes each message a request with its own
      // promise and timer: on the 2-core dev machine it used a whole core at ~25k msg/s (W1 fast,
      // 10 s: producer 8.7 CPU s in 9 s) against ~62k msg/s and 2.4 CPU s this way, so it would
      // have measured the client rather than the server.
      const pending = new Map<number, (err: unknown) => void>();
      let nextId = 0;
      const prefix = `_HFACK.${randomBytes(6).toString('hex')}`;
      nc.subscribe(`${prefix}.*`, {
        callback: (err, m) => {
          const id = Number(m.subject.slice(prefix.length + 1));
          const done = pending.get(id);
          if (done === undefined) return;
          pending.delete(id);
          if (err !== null) return done(err);
          // Anything but a PubAck (an error, or a "no responders" status for a subject no stream
          // listens on) fails the send.
          const text = m.data.length > 0 ? m.string() : '';
          done(text.includes('"seq"') && !text.includes('"error"') ? null : new Error(`no PubAck: ${text || (m.headers?.status ?? 'empty reply')}`));
        },
      });
      await nc.flush();
      return {
        send(value, done) {
          const id = nextId++;
          pending.set(id, done);
          nc.publish(a.names.subject, value, { reply: `${prefix}.${id}` });
        },
        async close() {
          await nc.close();
        },
      };
    }
    case 'redis': {
      const r = newRedis(a.host, a.port);
      await r.connect();
      return {
        send(value, done) {
          r.xadd(a.names.stream, '*', 'd', value).then(
            () => done(null),
            (err: unknown) => done(err ?? new Error('XADD failed')),
          );
        },
        async close() {
          await r.quit();
        },
      };
    }
  }
}

async function consumerClient(a: WorkerArgs, fail: (err: unknown) => void): Promise<ConsumerClient> {
  switch (a.system) {
    case 'rabbitmq': {
      const conn = await connectAmqp(a.host, a.port);
      const ch = await conn.createChannel();
      ch.on('error', fail);
      return {
        async start(onMessage) {
          // Per-consumer prefetch (basic.qos global=false); streams require it and manual ack.
          await ch.prefetch(a.prefetch, false);
          await ch.consume(
            a.names.queue,
            (msg) => {
              if (msg === null) return fail(new Error('consumer cancelled by the server'));
              onMessage(msg.content);
              ch.ack(msg);
            },
            { noAck: false, arguments: a.mode === 'fast' ? { 'x-stream-offset': 'first' } : {} },
          );
        },
        async close() {
          await conn.close();
        },
      };
    }
    case 'nats': {
      const nc = await natsConnect({ servers: `${a.host}:${a.port}`, reconnect: false });
      const js = nc.jetstream();
      let iter: { stop(): void } | null = null;
      return {
        async start(onMessage) {
          const c = await js.consumers.get(a.names.stream, a.names.group);
          iter = await c.consume({
            max_messages: a.prefetch,
            callback: (m) => {
              onMessage(m.data);
              m.ack();
            },
          });
        },
        async close() {
          iter?.stop();
          await nc.drain();
        },
      };
    }
    case 'redis': {
      const r = newRedis(a.host, a.port);
      await r.connect();
      let stopping = false;
      let loop: Promise<void> = Promise.resolve();
      // The typed overloads of xreadgroupBuffer do not cover this argument list.
      const xreadgroup = (r as unknown as { xreadgroupBuffer(...args: Array<string | number>): Promise<unknown> }).xreadgroupBuffer.bind(r);
      return {
        async start(onMessage) {
          loop = (async () => {
            while (!stopping) {
              // (Not callBuffer('XREADGROUP', …): ioredis loses the command name of call/callBuffer under auto-pipelining.)
              const res = (await xreadgroup('GROUP', a.names.group, 'c1', 'COUNT', a.prefetch, 'BLOCK', 100, 'STREAMS', a.names.stream, '>')) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
              if (res === null) continue;
              for (const [, entries] of res) {
                for (const [id, fields] of entries) {
                  onMessage(fields[1]);
                  // One XACK per message; auto-pipelining sends them with the next XREADGROUP.
                  r.xack(a.names.stream, a.names.group, id).catch(fail);
                }
              }
            }
          })();
          loop.catch(fail);
        },
        async close() {
          stopping = true;
          await loop.catch(() => undefined);
          await r.quit();
        },
      };
    }
  }
}

// ---------------------------------------------------------------- workers

interface WorkerArgs {
  role: 'producer' | 'consumer';
  system: PeerSystem;
  mode: PeerMode;
  host: string;
  port: number;
  names: Names;
  messageBytes: number;
  inFlight: number;
  prefetch: number;
}

interface ProducerReport {
  t: 'done';
  role: 'producer';
  acked: number;
  ackedMeasured: number;
  failed: number;
  firstError: string | null;
}

interface ConsumerReport {
  t: 'done';
  role: 'consumer';
  consumed: number;
  consumedMeasured: number;
  latency: HistogramSnapshot;
}

type WorkerMessage = { t: 'ready' } | { t: 'progress'; n: number } | ProducerReport | ConsumerReport | { t: 'error'; message: string };


async function runProducer(a: WorkerArgs): Promise<void> {
  const client = await producerClient(a);
  const template = Buffer.alloc(a.messageBytes, 0x61);
  const starting = nextMessage<StartMessage>('start');
  await sendToParent<WorkerMessage>({ t: 'ready' });
  const { t0, warmupEnd, end } = await starting;
  const waitMs = t0 - clockMs();
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));

  let acked = 0;
  let ackedMeasured = 0;
  let failed = 0;
  let firstError: string | null = null;
  let inFlight = 0;
  let stopped = false;
  let settleAll: () => void = () => undefined;
  const settled = new Promise<void>((r) => (settleAll = r));

  const onDone = (err: unknown): void => {
    if (err === null) {
      const now = clockMs();
      acked++;
      if (now >= warmupEnd && now < end) ackedMeasured++;
    } else {
      failed++;
      if (firstError === null) firstError = (err as Error)?.message ?? String(err);
    }
    inFlight--;
    pump();
    if (stopped && inFlight === 0) settleAll();
  };
  const pump = (): void => {
    if (stopped) return;
    if (clockMs() >= end) {
      stopped = true;
      if (inFlight === 0) settleAll();
      return;
    }
    while (inFlight < a.inFlight) {
      // A fresh buffer per message (a client may keep a reference until it is written).
      const value = Buffer.allocUnsafe(a.messageBytes);
      template.copy(value);
      value.writeDoubleLE(clockMs(), 0);
      inFlight++;
      client.send(value, onDone);
    }
  };
  const progress = setInterval(() => void sendToParent<WorkerMessage>({ t: 'progress', n: acked }), PROGRESS_MS);
  const endTimer = setTimeout(() => pump(), Math.max(0, end - clockMs()) + 1);
  pump();
  await settled;
  clearTimeout(endTimer);
  clearInterval(progress);
  await client.close();
  await sendToParent<WorkerMessage>({ t: 'progress', n: acked });
  await sendToParent<WorkerMessage>({ t: 'done', role: 'producer', acked, ackedMeasured, failed, firstError });
}

async function runConsumer(a: WorkerArgs): Promise<void> {
  let failure: unknown = null;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  const fail = (err: unknown): void => {
    if (failure === null) failure = err;
    stop();
  };
  const client = await consumerClient(a, fail);
  const histogram = new LatencyHistogram();
  let consumed = 0;
  let consumedMeasured = 0;
  let warmupEnd = Infinity;
  let end = -Infinity;
  void nextMessage<StartMessage>('start').then((s) => {
    warmupEnd = s.warmupEnd;
    end = s.end;
  });
  void nextMessage<{ t: 'stop' }>('stop').then(() => stop());
  const progress = setInterval(() => void sendToParent<WorkerMessage>({ t: 'progress', n: consumed }), PROGRESS_MS);
  await client.start((value) => {
    const now = clockMs();
    consumed++;
    if (now >= warmupEnd && now < end) consumedMeasured++;
    if (value.length >= 8) {
      const sentAt = new DataView(value.buffer, value.byteOffset, 8).getFloat64(0, true);
      if (sentAt >= warmupEnd && sentAt < end) histogram.record((now - sentAt) * 1000);
    }
  });
  await sendToParent<WorkerMessage>({ t: 'ready' });
  await stopped;
  clearInterval(progress);
  await client.close();
  if (failure !== null) throw failure;
  await sendToParent<WorkerMessage>({ t: 'progress', n: consumed });
  await sendToParent<WorkerMessage>({ t: 'done', role: 'consumer', consumed, consumedMeasured, latency: histogram.snapshot() });
}

// ---------------------------------------------------------------- the parent side

const THIS_FILE = fileURLToPath(import.meta.url);
const READY_TIMEOUT_MS = 60_000;

/** A peer producer or consumer: this file run as a worker. */
type Worker = WorkerProcess<WorkerMessage, WorkerArgs>;
function startWorker(name: string, args: WorkerArgs): Worker {
  return new WorkerProcess<WorkerMessage, WorkerArgs>(name, args, THIS_FILE);
}

/** One workload in one mode against `o.server` (which the caller starts and stops). */
export async function runPeerWorkload(o: PeerRunOptions): Promise<PeerResult> {
  const inFlight = o.inFlight ?? DEFAULT_IN_FLIGHT;
  const prefetch = o.prefetch ?? DEFAULT_PREFETCH;
  const { messageBytes } = PEER_WORKLOADS[o.workload];
  const names = namesFor(o.workload, o.mode);
  await prepare(o.system, o.mode, o.server, names, prefetch);
  const base = { system: o.system, mode: o.mode, host: o.server.host, port: o.server.port, names, messageBytes, inFlight, prefetch };
  const workers: Worker[] = [];
  try {
    const consumer = startWorker(`${o.system} consumer`, { ...base, role: 'consumer' });
    workers.push(consumer);
    await consumer.next('ready', READY_TIMEOUT_MS);
    const producer = startWorker(`${o.system} producer`, { ...base, role: 'producer' });
    workers.push(producer);
    await producer.next('ready', READY_TIMEOUT_MS);

    const { warmupMs, warmupEnd, end } = startWindow(workers, o.durationMs);

    const cpu = new CpuWindow({ broker: o.server.pid, producer: producer.pid, consumers: [consumer.pid] }, warmupEnd, end);
    let rssMax: number | null = null;
    const sampleRss = (): void => {
      const mb = rssMBOf(o.server.pid);
      if (mb !== null) rssMax = Math.max(rssMax ?? 0, mb);
    };
    const rssTimer = setInterval(sampleRss, 1000);
    const progressTimer = setInterval(() => o.onProgress?.({ phase: producer.done === null ? 'running' : 'draining', acked: producer.progress, consumed: consumer.progress }), 500);
    try {
      const p = (await producer.next('done', o.durationMs + 180_000)) as ProducerReport;
      const drainSeconds = await drain(() => consumer.progress, p.acked, o.durationMs, () => consumer.running);
      consumer.send({ t: 'stop' });
      const c = (await consumer.next('done', 60_000)) as ConsumerReport;
      sampleRss();
      await Promise.all(workers.map((w) => w.exited));

      const measuredSeconds = (o.durationMs - warmupMs) / 1000;
      const latency = LatencyHistogram.from(c.latency);
      const cpuSeconds = cpu.seconds();
      return {
        system: o.system,
        workload: o.workload,
        mode: o.mode,
        messageBytes,
        durationSeconds: o.durationMs / 1000,
        produced: p.acked,
        consumed: c.consumed,
        produceMsgPerSec: Math.round(p.ackedMeasured / measuredSeconds),
        produceMBPerSec: round((p.ackedMeasured * messageBytes) / measuredSeconds / 1e6, 1),
        e2eMsgPerSec: Math.round(c.consumedMeasured / measuredSeconds),
        latencyMs: latency.percentilesMs(),
        cpuSeconds,
        brokerCpuUsPerMessage: cpuSeconds.broker === null || p.ackedMeasured === 0 ? null : round((cpuSeconds.broker * 1e6) / p.ackedMeasured, 2),
        settings: peerSettings(o.system, o.mode, o.server, inFlight, prefetch),
        version: o.server.version,
        fsyncBeforeAck: fsyncBeforeAck(o.system, o.mode),
        warmupSeconds: warmupMs / 1000,
        measuredSeconds,
        latencySamples: latency.count,
        failed: p.failed,
        firstError: p.firstError,
        complete: c.consumed >= p.acked,
        drainSeconds: round(drainSeconds, 3),
        brokerRssMB: { max: rssMax === null ? null : round(rssMax, 1) },
      };
    } finally {
      cpu.cancel();
      clearInterval(rssTimer);
      clearInterval(progressTimer);
    }
  } finally {
    await Promise.all(workers.map((w) => w.kill()));
  }
}

// ---------------------------------------------------------------- worker entry point

if (import.meta.main) {
  const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
  process.on('disconnect', () => process.exit(2));
  (args.role === 'producer' ? runProducer(args) : runConsumer(args)).then(
    () => process.exit(0),
    async (err: unknown) => {
      await sendToParent<WorkerMessage>({ t: 'error', message: (err as Error)?.stack ?? String(err) });
      process.exit(1);
    },
  );
}
