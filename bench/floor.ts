// `npm run bench:floor [-- --workload W1|W2|L --duration 20s --frame-messages N]`: the least a Node.js broker can
// spend on this machine for the pipeline `holdfast bench` measures, with none of Holdfast's code.
// Three processes, as in `holdfast bench`: a producer sends length-prefixed frames of messages
// over TCP (127.0.0.1) with the same in-flight window (1,000 messages) and batch limit (1 MiB); the
// "broker" checks each frame's CRC-32C, appends what arrived (group commit) with one writev through
// an O_DSYNC handle on the libuv thread pool, acknowledges, and answers a consumer's long-polling
// fetch request with the durable frames from memory; the consumer sends its next fetch request
// after each response. No record format, indexes, offsets, groups or commits: only the system
// calls, copies and wake-ups that any broker doing this durably in Node pays.
//
// Compare its CPU per message, throughput and latency with `holdfast bench` in alternating runs
// (same workloads and warm-up): the difference is what Holdfast's own code costs, the rest is the
// platform's. One JSON line per run, with the latency of the durable writes as JavaScript sees
// them (writev dispatch to its callback: the kernel's time plus any wait for the event loop)
// and the producer's acknowledgements per second since it started (`perSecond.produced`, warm-up
// included, as `holdfast bench` reports them), so the two runs' seconds can be set side by side.
//
// `--frame-messages N` caps a frame at N messages (default: what fits 1 MiB). Below the window,
// the window travels as several frames, and the broker writes one while the next is on its way:
// an overlapped pipeline, at the price of more writes per message.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../src/cli/node-flags.ts';
import { LatencyHistogram } from '../src/cli/bench/histogram.ts';
import { parseDuration } from '../src/cli/common.ts';
import { WORKLOADS, warmupMsOf } from '../src/cli/bench/run.ts';
import { bump } from '../src/cli/bench/worker.ts';
import { crc32c } from '../src/util/index.ts';
import { removeDir, tempDir } from '../test/helpers/broker.ts';

/** The bench workloads with one consumer group (their message size and rate come from WORKLOADS). */
const FLOOR_WORKLOADS = ['W1', 'W2', 'L'] as const;
type WorkloadName = (typeof FLOOR_WORKLOADS)[number];
/** holdfast bench's window of unacknowledged messages. */
const IN_FLIGHT = 1000;
/** The Producer's default batchBytes. */
const BATCH_BYTES = 1 << 20;
/** Frame: u32 length of the rest, u32 message count, u32 CRC-32C of the payload, payload. */
const FRAME_HEADER = 12;
/** Durable bytes the consumer has not fetched yet that the broker keeps before giving up. */
const MAX_UNFETCHED_BYTES = 256 << 20;

interface Args {
  role: 'parent' | 'broker' | 'producer' | 'consumer';
  workload: WorkloadName;
  durationMs: number;
  warmupMs: number;
  dir: string;
  producerPort: number;
  consumerPort: number;
  /** Most messages in one frame. */
  frameMessages: number;
}

interface Report {
  role: string;
  messages: number;
  cpuUs: number;
  writes?: number;
  /** Consumer: send → handled. Broker: writev dispatch → completion seen by JavaScript. */
  latencyMs?: ReturnType<LatencyHistogram['percentilesMs']>;
  /** Producer: messages acknowledged in each second since it started (warm-up included), as holdfast bench reports them. */
  perSecond?: number[];
}

/** Measured window: the parent says when it starts and ends; each role counts and takes CPU in it. */
class Window {
  private cpu0: NodeJS.CpuUsage | null = null;
  private cpuUs = 0;
  messages = 0;
  writes = 0;
  open = false;

  constructor(onEnd: (w: Window) => void) {
    process.on('message', (m: { t: string }) => {
      if (m.t === 'start') {
        this.cpu0 = process.cpuUsage();
        this.open = true;
      } else if (m.t === 'end' && this.cpu0 !== null) {
        const c = process.cpuUsage(this.cpu0);
        this.cpuUs = c.user + c.system;
        this.open = false;
        onEnd(this);
      }
    });
  }

  report(role: string, extra: Partial<Report> = {}): Report {
    return { role, messages: this.messages, cpuUs: this.cpuUs, ...extra };
  }
}

function send(message: unknown): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, (err: Error | null) => (err ? reject(err) : resolve())));
}

// ---- broker ---------------------------------------------------------------------------------------

async function runBroker(a: Args): Promise<void> {
  const fd = fs.openSync(join(a.dir, 'floor.log'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_DSYNC);
  let position = 0;
  let writing = false;
  let pending: Buffer[] = []; // arrived, not yet written: header and payload slices, in order
  let pendingBytes = 0;
  let pendingMessages = 0;
  let durable: Buffer[] = []; // written, not yet sent to the consumer
  let durableBytes = 0;
  let fetchWaiting = false;
  let producer: net.Socket | null = null;
  let consumer: net.Socket | null = null;
  const writeLatency = new LatencyHistogram();
  const w = new Window((win) => void send(win.report('broker', { writes: win.writes, latencyMs: writeLatency.percentilesMs() })));

  const answerFetch = (): void => {
    if (consumer === null || !fetchWaiting || durable.length === 0) return;
    fetchWaiting = false;
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(durableBytes);
    consumer.cork();
    consumer.write(head);
    for (const b of durable) consumer.write(b);
    consumer.uncork();
    durable = [];
    durableBytes = 0;
  };

  const writeNext = (): void => {
    if (writing || pending.length === 0) return;
    writing = true;
    const bufs = pending;
    const bytes = pendingBytes;
    const messages = pendingMessages;
    pending = [];
    pendingBytes = 0;
    pendingMessages = 0;
    const startedMs = performance.now();
    fs.writev(fd, bufs, position, (err, written) => {
      if (err !== null) throw err;
      if (w.open) writeLatency.record((performance.now() - startedMs) * 1000);
      if (written !== bytes) throw new Error(`short write: ${written} of ${bytes}`);
      position += bytes;
      writing = false;
      if (w.open) {
        w.messages += messages;
        w.writes++;
      }
      const ack = Buffer.allocUnsafe(4);
      ack.writeUInt32BE(messages);
      producer?.write(ack);
      for (const b of bufs) durable.push(b);
      durableBytes += bytes;
      if (durableBytes > MAX_UNFETCHED_BYTES) throw new Error(`the consumer fell ${durableBytes} bytes behind (limit ${MAX_UNFETCHED_BYTES}): the floor would no longer measure a pipeline`);
      answerFetch();
      writeNext();
    });
  };

  // Frames are parsed where they lie in the socket's chunks: no reassembly copy.
  let header = Buffer.alloc(FRAME_HEADER);
  let headerHave = 0;
  let payloadLeft = 0;
  let crc = 0;
  let frameMessages = 0;
  let frameCrc = 0;
  let frame: Buffer[] = []; // the frame being received: header and payload slices
  const onProducerData = (chunk: Buffer): void => {
    let at = 0;
    while (at < chunk.length) {
      if (payloadLeft === 0) {
        const n = Math.min(FRAME_HEADER - headerHave, chunk.length - at);
        chunk.copy(header, headerHave, at, at + n);
        headerHave += n;
        at += n;
        if (headerHave < FRAME_HEADER) return;
        payloadLeft = header.readUInt32BE(0) - 8;
        frameMessages = header.readUInt32BE(4);
        frameCrc = header.readUInt32BE(8);
        crc = 0;
        frame = [header];
        header = Buffer.alloc(FRAME_HEADER);
        headerHave = 0;
        continue;
      }
      const n = Math.min(payloadLeft, chunk.length - at);
      const slice = chunk.subarray(at, at + n);
      crc = crc32c(slice, 0, slice.length, crc);
      frame.push(slice);
      payloadLeft -= n;
      at += n;
      if (payloadLeft === 0) {
        // A whole frame is appended, never a part of one.
        if (crc !== frameCrc) throw new Error(`CRC-32C mismatch: ${crc} != ${frameCrc}`);
        for (const b of frame) {
          pending.push(b);
          pendingBytes += b.length;
        }
        pendingMessages += frameMessages;
        frame = [];
      }
    }
    // Appends that arrived in this tick share one write (group commit), as in the storage layer.
    queueMicrotask(writeNext);
  };

  const producerServer = net.createServer({ noDelay: true }, (s) => {
    producer = s;
    s.on('data', onProducerData);
    s.on('error', () => undefined);
  });
  const consumerServer = net.createServer({ noDelay: true }, (s) => {
    consumer = s;
    let partial = 0;
    s.on('data', (chunk: Buffer) => {
      // Fetch requests are 4 bytes each; one answer per request, when there is data.
      partial += chunk.length;
      if (partial >= 4) {
        partial %= 4;
        fetchWaiting = true;
        answerFetch();
      }
    });
    s.on('error', () => undefined);
  });
  await Promise.all([listen(producerServer), listen(consumerServer)]);
  await send({ t: 'ports', producerPort: (producerServer.address() as net.AddressInfo).port, consumerPort: (consumerServer.address() as net.AddressInfo).port });
  process.on('message', (m: { t: string }) => {
    if (m.t === 'exit') {
      fs.closeSync(fd);
      process.exit(0);
    }
  });
}

function listen(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

// ---- producer -------------------------------------------------------------------------------------

async function runProducer(a: Args): Promise<void> {
  const { messageBytes, rate } = WORKLOADS[a.workload];
  const template = Buffer.alloc(messageBytes, 0x61);
  const socket = await connect(a.producerPort);
  let inFlight = 0;
  let issued = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const perSecond: number[] = [];
  const w = new Window((win) => void send(win.report('producer', { perSecond })));
  void send({ t: 'ready' }); // connected, and listening for the window's start
  const t0 = performance.now();

  // One frame of `n` messages, each stamped with the send time (ms since the epoch, as bench does).
  const sendFrame = (n: number): void => {
    const frame = Buffer.allocUnsafe(FRAME_HEADER + n * messageBytes);
    const now = performance.timeOrigin + performance.now();
    for (let i = 0, at = FRAME_HEADER; i < n; i++, at += messageBytes) {
      template.copy(frame, at);
      frame.writeDoubleLE(now, at);
    }
    frame.writeUInt32BE(frame.length - 4, 0);
    frame.writeUInt32BE(n, 4);
    frame.writeUInt32BE(crc32c(frame, FRAME_HEADER), 8);
    socket.write(frame);
    inFlight += n;
    issued += n;
  };
  const pump = (): void => {
    if (stopped) return;
    if (rate === 0) {
      while (inFlight < IN_FLIGHT) sendFrame(Math.min(a.frameMessages, IN_FLIGHT - inFlight));
      return;
    }
    // Fixed rate: what is due goes out as one frame, as the Holdfast producer does with linger 0.
    const due = Math.floor(((performance.now() - t0) * rate) / 1000) + 1;
    const n = Math.min(due - issued, IN_FLIGHT - inFlight, a.frameMessages);
    if (n > 0) sendFrame(n);
    if (timer === null) {
      const nextDueMs = t0 + (issued * 1000) / rate;
      timer = setTimeout(() => {
        timer = null;
        pump();
      }, Math.max(0, nextDueMs - performance.now()));
    }
  };
  let partial: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = partial.length === 0 ? chunk : Buffer.concat([partial, chunk]);
    let at = 0;
    const second = Math.floor((performance.now() - t0) / 1000);
    for (; at + 4 <= data.length; at += 4) {
      const n = data.readUInt32BE(at);
      inFlight -= n;
      bump(perSecond, second, n);
      if (w.open) w.messages += n;
    }
    partial = data.subarray(at);
    pump();
  });
  process.on('message', (m: { t: string }) => {
    if (m.t === 'stop') {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      socket.end();
    }
  });
  pump();
}

// ---- consumer -------------------------------------------------------------------------------------

async function runConsumer(a: Args): Promise<void> {
  const { messageBytes } = WORKLOADS[a.workload];
  const socket = await connect(a.consumerPort);
  const histogram = new LatencyHistogram();
  const w = new Window((win) => void send(win.report('consumer', { latencyMs: histogram.percentilesMs() })));
  void send({ t: 'ready' }); // connected, and listening for the window's start
  const fetch = Buffer.alloc(4);
  // Walks responses where they lie in the chunks; reads each message's send time (which may be
  // split across chunks) and counts messages.
  let responseLeft = -1; // bytes of the current response still to come; -1: reading its length
  let small: Buffer = Buffer.alloc(0); // a length, frame header or send time split across chunks
  let payloadLeft = 0;
  let messageAt = 0; // bytes into the current message
  socket.on('data', (chunk: Buffer) => {
    const data = small.length === 0 ? chunk : Buffer.concat([small, chunk]);
    small = Buffer.alloc(0);
    let at = 0;
    while (at < data.length) {
      if (responseLeft === -1) {
        if (data.length - at < 4) break;
        responseLeft = data.readUInt32BE(at);
        at += 4;
        continue;
      }
      if (payloadLeft === 0) {
        if (data.length - at < FRAME_HEADER) break;
        payloadLeft = data.readUInt32BE(at) - 8;
        at += FRAME_HEADER;
        responseLeft -= FRAME_HEADER;
        messageAt = 0;
        continue;
      }
      if (messageAt === 0) {
        if (data.length - at < 8) break;
        const sentAt = data.readDoubleLE(at);
        if (w.open) {
          histogram.record((performance.timeOrigin + performance.now() - sentAt) * 1000);
          w.messages++;
        }
      }
      const n = Math.min(messageBytes - messageAt, data.length - at);
      at += n;
      messageAt = (messageAt + n) % messageBytes;
      payloadLeft -= n;
      responseLeft -= n;
      if (responseLeft === 0) {
        responseLeft = -1;
        socket.write(fetch);
      }
    }
    if (at < data.length) small = Buffer.from(data.subarray(at));
  });
  process.on('message', (m: { t: string }) => {
    if (m.t === 'stop') socket.end();
  });
  socket.write(fetch);
}

// ---- parent ---------------------------------------------------------------------------------------

function child(a: Args, role: Args['role']): ChildProcess {
  return spawn(process.execPath, [...NODE_FLAGS, import.meta.filename, JSON.stringify({ ...a, role })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(c: ChildProcess, t: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { t?: string }): void => {
      if (m.t === t || (t === 'report' && m.t === undefined)) {
        c.off('message', onMessage);
        resolve(m as T);
      }
    };
    c.on('message', onMessage);
    c.once('exit', (code) => reject(new Error(`floor ${t}: child exited with ${code}`)));
  });
}

async function runParent(): Promise<void> {
  const { values } = parseArgs({ options: { workload: { type: 'string', default: 'W1' }, duration: { type: 'string', default: '20s' }, 'frame-messages': { type: 'string' } } });
  const workload = values.workload as WorkloadName;
  if (!FLOOR_WORKLOADS.includes(workload)) throw new Error(`--workload must be one of ${FLOOR_WORKLOADS.join(', ')}, got ${values.workload}`);
  const durationMs = parseDuration(values.duration ?? '');
  if (durationMs < 3000) throw new Error(`--duration must be like 20s or 2m and at least 3s, got ${values.duration}`);
  const fitting = Math.floor((BATCH_BYTES - FRAME_HEADER) / WORKLOADS[workload].messageBytes);
  const frameOption = values['frame-messages'];
  const frameMessages = frameOption === undefined ? fitting : Number(frameOption);
  if (!Number.isSafeInteger(frameMessages) || frameMessages < 1 || frameMessages > fitting) {
    throw new Error(`--frame-messages must be an integer from 1 to ${fitting} (what fits a 1 MiB frame for ${workload}), got ${frameOption}`);
  }
  // The same warm-up as holdfast bench, so the measured windows compare.
  const warmupMs = warmupMsOf(durationMs);
  const dir = tempDir('holdfast-floor-');
  const base: Args = { role: 'parent', workload, durationMs, warmupMs, dir, producerPort: 0, consumerPort: 0, frameMessages };
  const children: ChildProcess[] = [];
  try {
    const broker = child(base, 'broker');
    children.push(broker);
    const ports = await nextMessage<{ producerPort: number; consumerPort: number }>(broker, 'ports');
    const a = { ...base, producerPort: ports.producerPort, consumerPort: ports.consumerPort };
    const consumer = child(a, 'consumer');
    children.push(consumer);
    const consumerReady = nextMessage(consumer, 'ready');
    const producer = child(a, 'producer');
    children.push(producer);
    const producerReady = nextMessage(producer, 'ready');
    const roles = [broker, producer, consumer];
    // A child still starting would miss the window's start (its listener is not there yet) and
    // report nothing: on a loaded machine start-up can take longer than the warm-up.
    await Promise.all([consumerReady, producerReady]);
    await sleep(warmupMs);
    for (const c of roles) c.send({ t: 'start' });
    const t = performance.now();
    await sleep(durationMs - warmupMs);
    const reports = roles.map((c) => nextMessage<Report>(c, 'report'));
    for (const c of roles) c.send({ t: 'end' });
    const seconds = (performance.now() - t) / 1000;
    const [b, p, c] = await Promise.all(reports);
    for (const x of [producer, consumer]) x.send({ t: 'stop' });
    const perMessage = (r: Report): number => +(r.cpuUs / Math.max(1, r.messages)).toFixed(2);
    console.log(
      JSON.stringify({
        floor: true,
        workload,
        messageBytes: WORKLOADS[workload].messageBytes,
        rate: WORKLOADS[workload].rate || null,
        inFlight: IN_FLIGHT,
        frameMessages: Math.min(frameMessages, IN_FLIGHT),
        measuredSeconds: +seconds.toFixed(1),
        produced: p.messages,
        consumed: c.messages,
        produceMsgPerSec: Math.round(p.messages / seconds),
        consumeMsgPerSec: Math.round(c.messages / seconds),
        latencyMs: c.latencyMs,
        durableWriteMs: b.latencyMs,
        cpuUsPerMessage: { broker: perMessage(b), producer: perMessage(p), consumer: perMessage(c) },
        durableWritesPerSec: Math.round((b.writes ?? 0) / seconds),
        messagesPerWrite: Math.round(b.messages / Math.max(1, b.writes ?? 0)),
        perSecond: { produced: p.perSecond ?? [] },
      }),
    );
  } finally {
    for (const c of children) {
      c.send({ t: 'exit' }, () => undefined);
      c.kill();
    }
    await sleep(200);
    removeDir(dir);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const args = process.argv[2]?.startsWith('{') ? (JSON.parse(process.argv[2]) as Args) : null;
if (args === null) {
  await runParent().catch((err: unknown) => {
    console.error(`bench:floor: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
else if (args.role === 'broker') await runBroker(args);
else if (args.role === 'producer') await runProducer(args);
else await runConsumer(args);
