// One bench run (a workload in a mode): a fresh topic, consumer processes (one per group) that
// join before anything is sent, one producer process, a warm-up, the measured window, then the
// drain (every group handles at least every acknowledged message, bounded in time). CPU and memory
// are read from /proc; the broker's only when this run started it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '../../client/index.ts';
import { renderChart } from './chart.ts';
import { LatencyHistogram } from './histogram.ts';
import { CpuWindow, LocalBroker, WorkerProcess, rssMBOf } from './processes.ts';
import { clockMs, type ConsumerReport, type ProducerReport, type StartMessage } from './worker.ts';

export type WorkloadName = 'W1' | 'W2' | 'L' | 'F';
export type Mode = 'durable' | 'fast';

export interface Workload {
  name: WorkloadName;
  messageBytes: number;
  /** Fixed rate in messages per second; 0 = max rate (bounded by the in-flight window). */
  rate: number;
  /** Consumer groups, one consumer process each. */
  groups: number;
  description: string;
}

export const WORKLOADS: Record<WorkloadName, Workload> = {
  W1: { name: 'W1', messageBytes: 1024, rate: 0, groups: 1, description: '1 KiB messages, max rate' },
  W2: { name: 'W2', messageBytes: 100, rate: 0, groups: 1, description: '100 B messages, max rate' },
  L: { name: 'L', messageBytes: 1024, rate: 20_000, groups: 1, description: '1 KiB messages at a fixed rate (latency)' },
  F: { name: 'F', messageBytes: 1024, rate: 0, groups: 8, description: 'fan-out: 1 KiB messages, max rate, 8 consumer groups' },
};

export interface RunOptions {
  workload: Workload;
  mode: Mode;
  /** A running broker; without it the run starts its own. */
  brokers?: string[];
  durationMs: number;
  partitions: number;
  inFlight: number;
  lingerMs: number;
  /** Producer batchBytes; undefined: the Producer's default. */
  batchBytes?: number;
  /** Partitioner stickiness for keyless records; undefined: the batch bytes. */
  stickyBytes?: number;
  maxUncommittedMessages: number;
  /** Directory for the chart; null writes none. */
  outDir: string | null;
  /** Node flags for the broker this run starts (e.g. --cpu-prof). */
  brokerNodeArgs?: string[];
  onProgress?: (p: { phase: 'starting' | 'running' | 'draining'; acked: number; consumed: number }) => void;
}

export interface BenchResult {
  workload: WorkloadName;
  mode: Mode;
  flushMode: 'sync' | 'async';
  broker: 'local' | 'remote';
  messageBytes: number;
  partitions: number;
  consumerGroups: number;
  /** Fixed rate asked for, msg/s; null = max rate. */
  rate: number | null;
  inFlight: number;
  lingerMs: number;
  /** Producer batchBytes; null: the Producer's default (1 MiB). */
  batchBytes: number | null;
  /** Partitioner stickiness; null: the batch bytes. */
  stickyBytes: number | null;
  /** Each consumer's maxUncommittedMessages: it commits once half of this is handled (and every autoCommitIntervalMs). */
  maxUncommittedMessages: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Length of the measured window (duration minus warm-up). */
  measuredSeconds: number;
  /** Acknowledged messages, whole run. */
  produced: number;
  /** Sends that failed (not acknowledged). */
  failed: number;
  /** Messages handled, whole run, by the group that handled the fewest (at-least-once: redeliveries count). */
  consumed: number;
  /** Messages handled by all groups together. */
  consumedTotal: number;
  produceMsgPerSec: number;
  produceMBPerSec: number;
  /** Messages handled per second in the measured window, all groups together. */
  e2eMsgPerSec: number;
  latencyMs: { p50: number | null; p99: number | null; p999: number | null; max: number | null; mean: number | null };
  latencySamples: number;
  /** Produce acknowledgement latency: from send() to the acknowledgement, messages sent in the measured window. */
  ackLatencyMs: { p50: number | null; p99: number | null; p999: number | null; max: number | null };
  /** CPU seconds in the measured window; broker null when it is not this run's child process. */
  cpuSeconds: { broker: number | null; producer: number | null; consumer: number | null };
  brokerCpuUsPerMessage: number | null;
  /** Broker RSS: first and last sample, the maximum, and min/max within the measured window (flatness). */
  brokerRssMB: { start: number | null; max: number | null; end: number | null; measuredMin: number | null; measuredMax: number | null };
  /** fixed rate: worst lag behind the send schedule, ms. */
  maxScheduleLagMs: number | null;
  /** From the producer's last acknowledgement to every group having handled as many messages. */
  drainSeconds: number;
  /** Every group handled at least as many messages as were acknowledged. */
  complete: boolean;
  /** Acknowledged and handled (all groups together) messages per whole second since the start, warm-up included. */
  perSecond: { produced: number[]; consumed: number[] };
  chart: string | null;
}

/**
 * The bench topic's retention: a 10-minute W1 run writes ~100 GB, more than a disk may hold, so
 * each partition keeps only its last ~256 MiB (in 128 MiB segments; retention runs every
 * retention.check.interval.ms, so a partition briefly holds more). Consumers read at the tail.
 */
export const BENCH_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'segment.bytes': String(128 * 1024 * 1024), 'retention.bytes': String(256 * 1024 * 1024) };

const READY_TIMEOUT_MS = 60_000;
/** The drain gives up when no group made progress for this long … */
const DRAIN_STALL_MS = 15_000;
/** … or after this long (or the run's duration, when longer). */
const DRAIN_MAX_MS = 120_000;

/**
 * Waits until consumed() reaches `target`, or no progress for DRAIN_STALL_MS, or max(DRAIN_MAX_MS,
 * durationMs) in all, or stillRunning() turns false. Resolves with the seconds it waited.
 */
export async function drain(consumed: () => number, target: number, durationMs: number, stillRunning: () => boolean = () => true): Promise<number> {
  const startedAt = clockMs();
  const limit = Math.max(DRAIN_MAX_MS, durationMs);
  let last = consumed();
  let lastProgressAt = clockMs();
  while (consumed() < target && stillRunning() && clockMs() - startedAt < limit && clockMs() - lastProgressAt < DRAIN_STALL_MS) {
    await sleep(50);
    const now = consumed();
    if (now > last) {
      last = now;
      lastProgressAt = clockMs();
    }
  }
  return (clockMs() - startedAt) / 1000;
}

export function round(n: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(n * m) / m;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Starts the run's clock: every worker gets the same `start` message (t0 50 ms from now, warm-up
 * end, end) and keeps its own time against it.
 */
export function startWindow(workers: Array<{ send(message: object): void }>, durationMs: number): { warmupMs: number; t0: number; warmupEnd: number; end: number } {
  const warmupMs = warmupMsOf(durationMs);
  const t0 = clockMs() + 50;
  const start: StartMessage = { t: 'start', t0, warmupEnd: t0 + warmupMs, end: t0 + durationMs };
  for (const w of workers) w.send(start);
  return { warmupMs, t0, warmupEnd: start.warmupEnd, end: start.end };
}

/** Warm-up: the first 10% of the duration, at least 1 s. */
export function warmupMsOf(durationMs: number): number {
  return Math.max(1000, Math.round(durationMs * 0.1));
}

function sumSeries(series: number[][]): number[] {
  const out: number[] = [];
  for (const s of series) s.forEach((n, i) => (out[i] = (out[i] ?? 0) + n));
  return Array.from(out, (n) => n ?? 0);
}

export async function runBench(o: RunOptions): Promise<BenchResult> {
  const w = o.workload;
  const flushMode = o.mode === 'durable' ? 'sync' : 'async';
  const progress = (phase: 'starting' | 'running' | 'draining', acked: number, consumed: number): void => o.onProgress?.({ phase, acked, consumed });
  progress('starting', 0, 0);
  const broker = o.brokers === undefined ? await LocalBroker.start({ nodeArgs: o.brokerNodeArgs }) : null;
  const brokers = o.brokers ?? [broker!.bootstrap];
  const admin = new Admin({ brokers, clientId: 'holdfast-bench' });
  const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const topic = `bench-${w.name}-${o.mode}-${id}`;
  const workers: WorkerProcess[] = [];
  try {
    // durable = flush.mode sync (acknowledged after fsync), fast = async; acks=all (-1) in both.
    await admin.createTopics([{ name: topic, partitions: o.partitions, configs: { ...BENCH_TOPIC_CONFIGS, 'flush.mode': flushMode } }]);

    const consumers: WorkerProcess[] = [];
    for (let g = 0; g < w.groups; g++) {
      const c = new WorkerProcess(`consumer ${g + 1}`, { role: 'consumer', brokers, topic, group: `${topic}-g${g + 1}`, maxUncommittedMessages: o.maxUncommittedMessages });
      consumers.push(c);
      workers.push(c);
    }
    // The producer starts only once every group has its partitions, so warm-up is not group joins.
    await Promise.all(consumers.map((c) => c.next('ready', READY_TIMEOUT_MS)));
    const producer = new WorkerProcess('producer', { role: 'producer', brokers, topic, messageBytes: w.messageBytes, inFlight: o.inFlight, rate: w.rate, lingerMs: o.lingerMs, batchBytes: o.batchBytes, stickyBytes: o.stickyBytes });
    workers.push(producer);
    await producer.next('ready', READY_TIMEOUT_MS);

    const { warmupMs, t0, warmupEnd, end } = startWindow(workers, o.durationMs);

    // CPU at the edges of the measured window; broker RSS every second.
    const pids = { broker: broker?.pid, producer: producer.pid, consumers: consumers.map((c) => c.pid) };
    const cpu = new CpuWindow(pids, warmupEnd, end);
    const rss: Array<[number, number]> = [];
    const sampleRss = (): void => {
      const mb = rssMBOf(pids.broker);
      if (mb !== null) rss.push([round((clockMs() - t0) / 1000, 3), round(mb, 1)]);
    };
    await sleep(Math.max(0, t0 - clockMs()));
    sampleRss();
    const rssTimer = setInterval(sampleRss, 1000);
    const minConsumed = (): number => Math.min(...consumers.map((c) => c.progress));
    const progressTimer = setInterval(() => progress(producer.done === null ? 'running' : 'draining', producer.progress, minConsumed()), 200);

    try {
      // A broker this run started that dies (a full disk, a failed fsync) ends the run at once.
      const died = broker?.died();
      died?.catch(() => undefined);
      const p = (await Promise.race([producer.next('done', o.durationMs + 180_000), ...(died === undefined ? [] : [died])])) as ProducerReport;
      // Drain: every group handles at least as many messages as were acknowledged.
      const drainSeconds = await drain(minConsumed, p.acked, o.durationMs);
      for (const c of consumers) c.send({ t: 'stop' });
      const reports = (await Promise.all(consumers.map((c) => c.next('done', 120_000)))) as ConsumerReport[];
      clearInterval(rssTimer);
      sampleRss();
      cpu.cancel();
      await Promise.all(workers.map((wp) => wp.exited));

      // ---- figures ----
      const measuredSeconds = (o.durationMs - warmupMs) / 1000;
      const latency = new LatencyHistogram();
      for (const r of reports) latency.merge(r.latency);
      const ack = new LatencyHistogram();
      ack.merge(p.ackLatency);
      const cpuSeconds = cpu.seconds();
      const consumedByGroup = reports.map((r) => r.consumed);
      const rssValues = rss.map(([, mb]) => mb);
      const rssMeasured = rss.filter(([t]) => t >= warmupMs / 1000 && t <= o.durationMs / 1000).map(([, mb]) => mb);
      const chartFile = o.outDir === null ? null : join(o.outDir, `${w.name}-${o.mode}.svg`);
      const result: BenchResult = {
        workload: w.name,
        mode: o.mode,
        flushMode,
        broker: broker === null ? 'remote' : 'local',
        messageBytes: w.messageBytes,
        partitions: o.partitions,
        consumerGroups: w.groups,
        rate: w.rate > 0 ? w.rate : null,
        inFlight: o.inFlight,
        lingerMs: o.lingerMs,
        batchBytes: o.batchBytes ?? null,
        stickyBytes: o.stickyBytes ?? null,
        maxUncommittedMessages: o.maxUncommittedMessages,
        durationSeconds: o.durationMs / 1000,
        warmupSeconds: warmupMs / 1000,
        measuredSeconds,
        produced: p.acked,
        failed: p.failed,
        consumed: Math.min(...consumedByGroup),
        consumedTotal: consumedByGroup.reduce((x, y) => x + y, 0),
        produceMsgPerSec: Math.round(p.ackedMeasured / measuredSeconds),
        produceMBPerSec: round((p.ackedMeasured * w.messageBytes) / measuredSeconds / 1e6, 1),
        e2eMsgPerSec: Math.round(reports.reduce((x, r) => x + r.consumedMeasured, 0) / measuredSeconds),
        latencyMs: { ...latency.percentilesMs(), mean: Number.isFinite(latency.meanUs()) ? round(latency.meanUs() / 1000, 3) : null },
        latencySamples: latency.count,
        ackLatencyMs: ack.percentilesMs(),
        cpuSeconds,
        brokerCpuUsPerMessage: cpuSeconds.broker === null || p.ackedMeasured === 0 ? null : round((cpuSeconds.broker * 1e6) / p.ackedMeasured, 2),
        brokerRssMB: { start: rssValues[0] ?? null, max: rssValues.length > 0 ? Math.max(...rssValues) : null, end: rssValues.at(-1) ?? null, measuredMin: rssMeasured.length > 0 ? Math.min(...rssMeasured) : null, measuredMax: rssMeasured.length > 0 ? Math.max(...rssMeasured) : null },
        maxScheduleLagMs: w.rate > 0 ? round(p.maxScheduleLagMs, 3) : null,
        drainSeconds: round(drainSeconds, 3),
        complete: consumedByGroup.every((n) => n >= p.acked),
        perSecond: { produced: p.perSecond, consumed: sumSeries(reports.map((r) => r.perSecond)) },
        chart: chartFile,
      };
      if (chartFile !== null) {
        mkdirSync(o.outDir!, { recursive: true });
        const lat = result.latencyMs;
        writeFileSync(
          chartFile,
          renderChart({
            title: `holdfast bench ${w.name} ${o.mode} — ${w.description}`,
            subtitle: [
              `${w.messageBytes} B, ${o.partitions} partitions, flush.mode=${flushMode}, acks=all, ${w.rate > 0 ? `${w.rate.toLocaleString('en-US')} msg/s` : 'max rate'}, in-flight ≤ ${o.inFlight}, ${w.groups} group${w.groups > 1 ? 's' : ''}, ${o.durationMs / 1000} s (${warmupMs / 1000} s warm-up), ${broker === null ? 'remote' : 'local'} broker`,
              `produce ${result.produceMsgPerSec.toLocaleString('en-US')} msg/s (${result.produceMBPerSec} MB/s), e2e ${result.e2eMsgPerSec.toLocaleString('en-US')} msg/s, p50 ${lat.p50 ?? '-'} ms, p99 ${lat.p99 ?? '-'} ms` +
                (result.brokerCpuUsPerMessage !== null ? `, broker ${result.brokerCpuUsPerMessage} µs CPU/msg` : '') +
                (result.complete ? '' : ' — INCOMPLETE'),
            ],
            warmupSeconds: warmupMs / 1000,
            durationSeconds: o.durationMs / 1000,
            produced: result.perSecond.produced,
            consumed: result.perSecond.consumed,
            consumedLabel: w.groups > 1 ? `consumed (${w.groups} groups together)` : 'consumed',
            brokerRss: rss,
            latency,
          }),
        );
      }
      return result;
    } finally {
      clearInterval(rssTimer);
      clearInterval(progressTimer);
      cpu.cancel();
    }
  } finally {
    await Promise.all(workers.map((wp) => wp.kill()));
    // A broker this run did not start keeps no bench topics behind.
    if (broker === null) await admin.deleteTopics([topic]).catch(() => undefined);
    admin.close();
    await broker?.stop();
  }
}
