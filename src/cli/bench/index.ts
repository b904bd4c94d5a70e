// `holdfast bench`: an OpenMessaging-Benchmark-style load generator. The producer and the
// consumers run in processes of their own (worker.ts), against a broker this command starts (or
// one given with --brokers); it reports throughput, end-to-end latency, CPU and memory per
// workload and mode, as JSON lines and a table, and draws a chart per run.
import { parseArgs } from 'node:util';
import { BROKERS_HELP, EXIT, UsageError, brokerList, formatNumber as fmt, intOption, parseDuration, table, writeOut } from '../common.ts';
import { nodeArgsFromEnv } from '../node-flags.ts';
import { MIN_BATCH_BYTES } from '../../client/index.ts';
import { Progress } from '../progress.ts';
import { WORKLOADS, runBench, type BenchResult, type Mode, type WorkloadName } from './run.ts';

export { runBench, WORKLOADS, warmupMsOf, type BenchResult, type RunOptions, type Workload, type WorkloadName, type Mode } from './run.ts';
export { LatencyHistogram, type HistogramSnapshot } from './histogram.ts';
export { renderChart, type ChartInput } from './chart.ts';

/**
 * Producer lingerMs. With a bounded window (1000 messages in flight) nothing more can arrive while
 * a batch lingers once the window is full, so linger only adds to every round trip: the
 * Producer's default of 5 ms capped W2 near 130k msg/s. Batching does not need it either: a
 * partition has one request in flight, and records sent meanwhile pile up into the next batch.
 * Measured (durable, 16 partitions, 10 s, 2-core machine, maxUncommitted 10000; runs vary ±15%):
 *   W1 (1 KiB)  linger 0: 104k-137k msg/s   linger 1: 108k-132k   linger 5: 89k
 *   W2 (100 B)  linger 0: 293k-395k msg/s   linger 1: 262k-264k   linger 5: 133k
 * so 0.
 */
export const DEFAULT_LINGER_MS = 0;
/**
 * Consumer maxUncommittedMessages (at-least-once). The default of 1000 commits every 500 handled
 * messages — hundreds of OffsetCommits a second at these rates — and handlers wait at the gate
 * while one is in flight. Measured as above, linger 0: W1 85k msg/s and W2 p99 519 ms with 1000,
 * 104k-137k and p99 13-40 ms with 10,000; 50,000 was no better than 10,000 (within noise).
 */
export const DEFAULT_MAX_UNCOMMITTED = 10_000;

export const BENCH_USAGE = `Usage: holdfast bench [--workload W1|W2|L|F|all] [--mode durable|fast|both]
                      [--brokers HOST:PORT] [--duration 30s] [--partitions 16] [--rate N]
                      [--message-bytes N] [--in-flight 1000] [--out DIR] [--json]

Workloads (one topic, one producer process, one consumer process per group):
  W1   1 KiB messages, max rate (in-flight window), 1 consumer group
  W2   100 B messages, max rate, 1 consumer group
  L    1 KiB messages at a fixed rate (default 20000 msg/s): latency
  F    fan-out: 1 KiB messages, max rate, 8 consumer groups (8 consumer processes)
  all  W1, W2, L and F (default); a comma list (W1,L) runs those
Modes: durable (topic flush.mode=sync: acknowledged after fsync; default), fast (flush.mode=async),
both. The producer always uses acks=all and idempotence.

Options:
  ${BROKERS_HELP.replace('(default $HOLDFAST_BROKERS or 127.0.0.1:9092)', '(default: start a broker for each run and stop it after)')}
  --duration D         produce for this long: 500ms, 30s, 2m (default 30s); the first 10% (at least
                       1 s) is warm-up and not measured
  --partitions N       partitions of the topic (default 16)
  --rate N             fixed rate in msg/s for every workload run (default: L 20000, others max)
  --message-bytes N    message size for every workload run (default: the workload's)
  --in-flight N        unacknowledged messages at most (default 1000)
  --out DIR            charts go to DIR/<workload>-<mode>.svg (default ./bench-results)
  --json               one JSON object per run on stdout (the table then goes to stderr)
  --linger-ms N        producer lingerMs (default ${DEFAULT_LINGER_MS})
  --batch-bytes N      producer batchBytes (default the Producer's, 1 MiB); a batch full before the
                       one in flight returns goes out behind it (up to 5 in flight)
  --sticky-bytes N     bytes of keyless records the partitioner keeps on one partition (default
                       the batch bytes, as in the Producer)
  --max-uncommitted N  consumer maxUncommittedMessages (default ${DEFAULT_MAX_UNCOMMITTED})

Each message carries its send time; the consumer records send → handled latency. Reported per run:
produce msg/s and MB/s (acknowledged, 1 MB = 10^6 bytes), end-to-end msg/s (handled, all groups),
latency p50/p99/p99.9/max in ms, produce acknowledgement latency (send → ack), CPU seconds of broker, producer and consumer processes in the
measured window, broker CPU µs per message, broker RSS, and whether every group handled at least
every acknowledged message after the drain (complete). With --brokers the broker's CPU and memory
are not known (null). HOLDFAST_BROKER_NODE_ARGS passes node flags to the broker bench starts
(e.g. "--cpu-prof --cpu-prof-dir prof").
Exit code 0 when every run completed, 1 when a run failed or was incomplete.`;

const WORKLOAD_ORDER: WorkloadName[] = ['W1', 'W2', 'L', 'F'];

function parseWorkloads(value: string): WorkloadName[] {
  if (value.toLowerCase() === 'all') return [...WORKLOAD_ORDER];
  const out: WorkloadName[] = [];
  for (const part of value.split(',').map((s) => s.trim().toUpperCase())) {
    if (!(WORKLOAD_ORDER as string[]).includes(part)) throw new UsageError(`--workload must be W1, W2, L, F or all (or a comma list), got "${value}"`);
    if (!out.includes(part as WorkloadName)) out.push(part as WorkloadName);
  }
  return out;
}

function parseModes(value: string): Mode[] {
  if (value === 'both') return ['durable', 'fast'];
  if (value === 'durable' || value === 'fast') return [value];
  throw new UsageError(`--mode must be durable, fast or both, got "${value}"`);
}

/** The human summary of finished runs. */
export function summaryTable(results: BenchResult[]): string {
  const rows = [['workload', 'mode', 'bytes', 'parts', 'produce msg/s', 'MB/s', 'e2e msg/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'ack p50 ms', 'ack p99 ms', 'broker µs/msg', 'RSS max MB', 'complete']];
  for (const r of results) {
    rows.push([
      r.workload,
      r.mode,
      String(r.messageBytes),
      String(r.partitions),
      fmt(r.produceMsgPerSec),
      fmt(r.produceMBPerSec, 1),
      fmt(r.e2eMsgPerSec),
      fmt(r.latencyMs.p50, 2),
      fmt(r.latencyMs.p99, 2),
      fmt(r.latencyMs.p999, 2),
      fmt(r.latencyMs.max, 2),
      fmt(r.ackLatencyMs.p50, 2),
      fmt(r.ackLatencyMs.p99, 2),
      fmt(r.brokerCpuUsPerMessage, 2),
      fmt(r.brokerRssMB.max, 0),
      r.complete ? 'yes' : `NO (${r.consumed}/${r.produced})`,
    ]);
  }
  return table(rows);
}

/** Runs `holdfast bench`; resolves with the exit code. `io` redirects the output (tests). */
export async function bench(argv: string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      workload: { type: 'string', default: 'all' },
      mode: { type: 'string', default: 'durable' },
      brokers: { type: 'string' },
      duration: { type: 'string', default: '30s' },
      partitions: { type: 'string', default: '16' },
      rate: { type: 'string' },
      'message-bytes': { type: 'string' },
      'in-flight': { type: 'string', default: '1000' },
      out: { type: 'string', default: 'bench-results' },
      json: { type: 'boolean', default: false },
      'linger-ms': { type: 'string', default: String(DEFAULT_LINGER_MS) },
      'batch-bytes': { type: 'string' },
      'sticky-bytes': { type: 'string' },
      'max-uncommitted': { type: 'string', default: String(DEFAULT_MAX_UNCOMMITTED) },
    },
    allowPositionals: false,
    strict: true,
  });
  const stdout = io.stdout ?? process.stdout;
  // A stream that is not a terminal (no isTTY) gets no progress line.
  const stderr = (io.stderr ?? process.stderr) as NodeJS.WriteStream;
  const workloads = parseWorkloads(values.workload);
  const modes = parseModes(values.mode);
  const durationMs = parseDuration(values.duration);
  if (durationMs < 2000) throw new UsageError(`--duration must be at least 2s (1 s of it is warm-up), got "${values.duration}"`);
  const partitions = intOption('partitions', values.partitions, 1)!;
  const rate = intOption('rate', values.rate, 1);
  const messageBytes = intOption('message-bytes', values['message-bytes'], 8);
  const inFlight = intOption('in-flight', values['in-flight'], 1)!;
  const lingerMs = intOption('linger-ms', values['linger-ms'], 0)!;
  const batchBytes = intOption('batch-bytes', values['batch-bytes'], MIN_BATCH_BYTES);
  const stickyBytes = intOption('sticky-bytes', values['sticky-bytes'], 1);
  const maxUncommittedMessages = intOption('max-uncommitted', values['max-uncommitted'], 1)!;
  const brokers = values.brokers === undefined ? undefined : brokerList(values.brokers);
  const brokerNodeArgs = nodeArgsFromEnv('HOLDFAST_BROKER_NODE_ARGS');

  const results: BenchResult[] = [];
  let failures = 0;
  // Ctrl-C: exit, so the exit hook ends the broker and workers and removes the broker's data.
  const onSignal = (): void => {
    stderr.write('\nholdfast bench: interrupted\n');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const name of workloads) {
      for (const mode of modes) {
        const workload = { ...WORKLOADS[name], ...(rate !== undefined ? { rate } : {}), ...(messageBytes !== undefined ? { messageBytes } : {}) };
        const label = `bench ${name} ${mode}`;
        let progress = new Progress(`${label} starting`, null, { stream: stderr });
        let phase = 'starting';
        try {
          const result = await runBench({
            workload,
            mode,
            brokers,
            durationMs,
            partitions,
            inFlight,
            lingerMs,
            batchBytes,
            stickyBytes,
            maxUncommittedMessages,
            outDir: values.out,
            brokerNodeArgs,
            onProgress: (p) => {
              if (p.phase !== phase) {
                progress.done();
                phase = p.phase;
                progress = p.phase === 'draining' ? new Progress(`${label} draining`, p.acked, { stream: stderr }) : new Progress(`${label} ${p.phase === 'running' ? 'acknowledged' : p.phase}`, null, { stream: stderr });
              }
              if (p.phase !== 'starting') progress.update(p.phase === 'draining' ? p.consumed : p.acked);
            },
          });
          progress.done();
          results.push(result);
          if (!result.complete) {
            failures++;
            stderr.write(`${label}: incomplete: a consumer group handled ${result.consumed} messages, ${result.produced} were acknowledged (drain gave up after ${result.drainSeconds} s)\n`);
          }
          if (result.failed > 0) stderr.write(`${label}: ${result.failed} sends failed\n`);
          if (values.json) await writeOut(stdout, JSON.stringify(result) + '\n');
        } catch (err) {
          progress.done();
          failures++;
          stderr.write(`${label}: failed: ${(err as Error)?.message ?? String(err)}\n`);
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (results.length > 0) {
    const text = summaryTable(results) + '\n' + (values.out !== '' ? `charts: ${results.map((r) => r.chart).join(', ')}\n` : '');
    if (values.json) stderr.write(text);
    else await writeOut(stdout, text);
  }
  return failures === 0 ? EXIT.OK : EXIT.FAILED;
}

if (import.meta.main) {
  bench(process.argv.slice(2)).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (err: unknown) => {
      process.stderr.write(`holdfast bench: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(err instanceof UsageError ? EXIT.USAGE : EXIT.FAILED);
    },
  );
}
