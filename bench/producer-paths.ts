// `npm run bench:producer-paths [-- --value-bytes 100,1024 --rounds 2000]`: what the Producer's own
// synchronous work costs per record, apart from the network, the broker and the benchmark around it:
// - sendAsync: a loop of `window` sendAsync() calls (validation, partitioning, writing the record
//   into its batch), timed as a whole, with the minor page faults the process took during it;
// - settle: the acknowledgement's loop that settles a batch's records and calls their callbacks,
//   timed from the first callback of a round to its last (the callbacks only count).
// Each round sends one window of keyless records and waits for all of them, as `holdfast bench`'s
// W1/W2 producer does; the window is sized to fit one batch, so one response settles a round. The
// broker runs in this process (its work happens outside the timed loops). The first 20% of rounds
// warm up and are not counted. One JSON line per value size.
import { parseArgs } from 'node:util';
import { Producer } from '../src/client/index.ts';
import { embeddedBroker, removeDir } from '../test/helpers/broker.ts';

/** The Producer's default batchBytes: a round's records must fit one batch. */
const BATCH_BYTES = 1 << 20;
/** Record overhead bounds for sizing the window (varints, attributes, deltas). */
const RECORD_OVERHEAD = 32;
const WINDOW = 1000;

function usage(message: string): never {
  process.stderr.write(`bench:producer-paths: ${message}\nUsage: npm run bench:producer-paths -- [--value-bytes 100,1024] [--rounds 2000]\n`);
  process.exit(2);
}

const { values } = parseArgs({ options: { 'value-bytes': { type: 'string', default: '100,1024' }, rounds: { type: 'string', default: '2000' } } });
const sizes = (values['value-bytes'] ?? '').split(',').map(Number);
const rounds = Number(values.rounds);
if (sizes.length === 0 || sizes.some((n) => !Number.isSafeInteger(n) || n < 0 || n > 512 * 1024)) usage(`--value-bytes must be a comma list of integers 0..524288, got ${values['value-bytes']}`);
if (!Number.isSafeInteger(rounds) || rounds < 10) usage(`--rounds must be an integer >= 10, got ${values.rounds}`);

const broker = await embeddedBroker();
try {
  for (const valueBytes of sizes) {
    const topic = `producer-paths-${valueBytes}`;
    const window = Math.max(1, Math.min(WINDOW, Math.floor((0.9 * BATCH_BYTES) / (valueBytes + RECORD_OVERHEAD))));
    const producer = new Producer({ brokers: [broker.bootstrap], clientId: 'producer-paths' });
    try {
      await producer.send({ topic, value: Buffer.alloc(valueBytes) }); // metadata and producer id
      const payload = Buffer.alloc(valueBytes, 0x61);
      const warmup = Math.floor(rounds / 5);
      let sendNs = 0n;
      let settleNs = 0n;
      let sendFaults = 0;
      let records = 0;
      let settleIntervals = 0;
      for (let round = 0; round < rounds; round++) {
        let left = window;
        let first = 0n;
        let failure: Error | null = null;
        const done = new Promise<bigint>((resolve) => {
          const callback = (err: Error | null): void => {
            if (err !== null && failure === null) failure = err;
            if (left === window) first = process.hrtime.bigint();
            if (--left === 0) resolve(process.hrtime.bigint());
          };
          const faults0 = process.resourceUsage().minorPageFault;
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < window; i++) producer.sendAsync({ topic, value: payload }, callback);
          if (round >= warmup) {
            sendNs += process.hrtime.bigint() - t0;
            // The loop is synchronous: the broker in this process takes none of these faults.
            sendFaults += process.resourceUsage().minorPageFault - faults0;
          }
        });
        const last = await done;
        if (failure !== null) throw failure;
        if (round >= warmup) {
          settleNs += last - first;
          records += window;
          settleIntervals += window - 1;
        }
      }
      console.log(JSON.stringify({
        valueBytes,
        window,
        rounds: rounds - warmup,
        records,
        sendAsyncNsPerRecord: +(Number(sendNs) / records).toFixed(1),
        sendAsyncPageFaultsPerRecord: +(sendFaults / records).toFixed(5),
        settleNsPerRecord: settleIntervals > 0 ? +(Number(settleNs) / settleIntervals).toFixed(1) : null,
      }));
    } finally {
      await producer.close();
    }
  }
} finally {
  await broker.close();
  removeDir(broker.dataDir);
}
