// The Node flags of the processes that move data: brokers and the bench's producer and consumer
// processes. In a module of its own so that launchers (bench, verify) need not load the broker.
/**
 * Node flags every Holdfast process that moves data runs with: `bin/holdfast.js` (it re-executes
 * itself with them), `npm start`, the brokers that bench, verify and the tests start, and the
 * producer and consumer processes of `holdfast bench` and `bench:compare` (for every system, so the
 * peers' clients too, as OpenMessaging Benchmark runs its workers with tuned JVM flags). A test
 * keeps them in step.
 * They go on the command line: V8 reads --initial-old-space-size only at start-up
 * (v8.setFlagsFromString has no effect on it), and Node documents changing flags at runtime as
 * unsafe. An application running a Producer or Consumer at high rates should pass them itself
 * (README).
 *
 * Both processes keep their data in Buffers, off the V8 heap, so the heap stays at a few MB:
 * - --initial-old-space-size=128: with a heap that small V8 sets an old-generation limit only
 *   ~10 MB above the live size and keeps scheduling incremental marking; a W1 broker did ~22 full
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
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128', '--external-memory-accounted-in-global-limit'];

/** Extra node flags from an environment variable (space-separated; for profiling, or to undo a flag). */
export function nodeArgsFromEnv(name: string): string[] {
  return (process.env[name] ?? '').split(' ').filter((a) => a.length > 0);
}
