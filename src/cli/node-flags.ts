// The Node flags of the processes that move data: brokers (NODE_FLAGS) and the bench's producer
// and consumer processes (CLIENT_NODE_FLAGS). In a module of its own so that launchers (bench,
// verify) need not load the broker.
/**
 * Node flags every Holdfast process that moves data runs with (CLIENT_NODE_FLAGS): the producer and
 * consumer processes of `holdfast bench` and `bench:compare` (for every system, so the peers'
 * clients too, as OpenMessaging Benchmark runs its workers with tuned JVM flags), and the brokers,
 * which start their old generation smaller and add two of their own (NODE_FLAGS):
 * `bin/holdfast.js` (it re-executes itself with them), `npm start`, the brokers that bench, verify
 * and the tests start. A test keeps them in step.
 * They go on the command line: V8 reads --initial-old-space-size only at start-up
 * (v8.setFlagsFromString has no effect on it), and Node documents changing flags at runtime as
 * unsafe. An application running a Producer or Consumer at high rates should pass them itself
 * (README).
 *
 * Both processes keep their data in Buffers, off the V8 heap, so the heap stays at a few MB:
 * - --initial-old-space-size=128 (the broker's is 32 now, see NODE_FLAGS; this is the clients'
 *   reason, measured on an older broker): with a heap that small V8 sets an old-generation limit
 *   only ~10 MB above the live size and keeps scheduling incremental marking; a W1 broker did ~22 full
 *   mark-compacts a second (a one-off --trace-gc count), ~5 with the flag. Broker CPU per W1
 *   message went from 5.18 to 2.83 µs (`holdfast bench`; HOLDFAST_BROKER_NODE_ARGS=
 *   --initial-old-space-size=1 undoes the flag, the later flag wins).
 * - --external-memory-accounted-in-global-limit: V8 counts Buffer memory as "external" and starts
 *   a full mark-compact each time it grew by 64 MB, which at 200 MB/s of request frames, batches
 *   and socket chunks is several a second in each process (a W1 consumer did 25 and the producer
 *   37 per 5 s, with pauses up to 20 ms; one-off PerformanceObserver counts). With the flag
 *   Buffers count against V8's global limit and young ones are freed by scavenges: the workers ran
 *   W1 without a mark-compact, and the broker's GC helper threads went from 0.82 to 0.29 CPU-s per
 *   8 s (/proc/<pid>/task). It costs the broker ~100 MB more RSS under W1 (~255 → ~360 MB).
 *
 * The broker adds two (NODE_FLAGS; the workers and the README's advice for applications keep to
 * CLIENT_NODE_FLAGS):
 * - --min-semi-space-size=16 --max-semi-space-size=16: a young generation of two 16 MB
 *   semi-spaces from the start, and no larger, so that the broker's memory does not step. By
 *   default V8 starts it at 1 MB and grows it as it sees fit: a W1 broker's went to 16, 32 and,
 *   after ~275 s, 64 MB, each step a jump in RSS (+26 MB at the last; by hand, with
 *   v8.getHeapSpaceStatistics()). With the flags a 10-minute W1 run's RSS rose ~0.08 MB/s without
 *   steps (±7.2%), against ±9.9% with a ~25 MB step in the run without them.
 *   CPU, not settled: in alternating 20–30 s W1 pairs the broker used 1.77–2.19 µs per message
 *   with them against 1.97–2.40 without, the fixed size ahead in 6 of 8 pairs; but one 10-minute
 *   run each gave 2.19 with them and 2.03 without (docs/performance.md). 64 MB semi-spaces were
 *   worse (2.16–2.41 µs, p99 above 100 ms). An application that sends a few messages a second
 *   has no use for 32 MB of young generation, hence not for clients.
 */
export const CLIENT_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128', '--external-memory-accounted-in-global-limit'];
/**
 * The broker's: CLIENT_NODE_FLAGS with an old generation that starts at 32 MB instead of 128, and a
 * young generation of fixed size.
 * - --initial-old-space-size=32: with 128 a W1 broker ran no full collection in 10 minutes, and
 *   its resident memory climbed with the garbage filling old space (~0.1 MB/s; 286.2–346.9 MB,
 *   ±9.6%, over a 10-minute W1 run on 4b8e671). With 32 V8 collects within the first minute and
 *   then sets its limit from the live size: 304.6–310.8 MB (±1.0%) in the same run with the flag.
 *   Once the broker's maps stopped making garbage in old space (7a9b3cb), one-off counts of `gc`
 *   performance entries (a preload, not in the repo) showed one full collection at start-up and
 *   then one every ~100 s in W1 (~45 s in W2), pauses of 3–18 ms. What V8 did with a small heap
 *   before, ~22 full collections a second (the reason for 128), came from an older broker's
 *   garbage; it was not seen now. Possible cost (docs/performance.md, "The broker's old generation
 *   starts at 32 MB"): in alternating 15 s W2 pairs the broker used 0–10% more CPU per message with
 *   32 (5 pairs); L's p99 was higher with 32 in 4 of 6 runs, all under 5 ms; W1 within noise.
 */
export const NODE_FLAGS: readonly string[] = [
  '--initial-old-space-size=32',
  ...CLIENT_NODE_FLAGS.filter((f) => !f.startsWith('--initial-old-space-size=')),
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
];

/** Extra node flags from an environment variable (space-separated; for profiling, or to undo a flag). */
export function nodeArgsFromEnv(name: string): string[] {
  return (process.env[name] ?? '').split(' ').filter((a) => a.length > 0);
}
