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
