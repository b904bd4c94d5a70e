// The Node flags of a broker process, in a module of its own so that the launchers of brokers
// (bench, verify) need not load the broker to read them.
/**
 * Node flags a broker process runs with: `bin/holdfast.js` (its shebang), `npm start` and the
 * brokers that bench and verify start pass them (a test keeps the four in step).
 *
 * --initial-old-space-size=128: a broker keeps its data off the V8 heap (request frames, batches,
 * socket chunks), so its heap stays at ~15 MB. With such a small heap V8 sets an old-generation
 * limit only ~10 MB above the live size and keeps scheduling incremental marking: in W1 that was
 * ~22 full mark-compacts per second (a one-off --trace-gc count), with 128 MB ~5. Broker CPU per
 * W1 message, from `holdfast bench` (HOLDFAST_BROKER_NODE_ARGS=--initial-old-space-size=1 undoes
 * the flag): 5.18 µs without, 2.83 µs with. V8 reads the flag only at start-up, so it cannot be
 * set from code (v8.setFlagsFromString has no effect).
 */
export const BROKER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/**
 * Node flags for a process that runs a high-throughput Holdfast client (Producer, Consumer): the
 * producer and consumer processes of `holdfast bench` and `bench:compare` run with them (for every
 * system, so the peers' clients too), as OpenMessaging Benchmark runs its workers with tuned JVM
 * flags. The README recommends them for applications; a library cannot set them (V8 reads them at
 * start-up).
 *
 * A client at 100-200 MB/s allocates that much in Buffers (values, batches, socket chunks, fetch
 * frames) and keeps a V8 heap of a few MB. V8 counts Buffer memory as "external" and starts a full
 * mark-compact each time it grew by 64 MB, and with a small heap it keeps scheduling incremental
 * marking besides: a W1 consumer did 25 and the producer 37 mark-compacts per 5 s, pauses of up to
 * 20 ms (a one-off PerformanceObserver count). --external-memory-accounted-in-global-limit counts
 * Buffers against V8's global limit instead, where young ones are freed by scavenges; with
 * --initial-old-space-size=128 both workers ran without a single mark-compact.
 * HOLDFAST_BENCH_WORKER_NODE_ARGS='--initial-old-space-size=1
 * --no-external-memory-accounted-in-global-limit' undoes both (later flags win); the figures with
 * and without are in the README, Benchmarks.
 */
export const CLIENT_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128', '--external-memory-accounted-in-global-limit'];

/** Extra node flags from an environment variable (space-separated; for profiling, or to undo a flag). */
export function nodeArgsFromEnv(name: string): string[] {
  return (process.env[name] ?? '').split(' ').filter((a) => a.length > 0);
}
