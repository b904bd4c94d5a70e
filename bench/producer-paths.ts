// `npm run bench:producer-paths [-- --value-bytes 100,1024 --rounds 2000 --against DIR]`: what the
// Producer's own synchronous work costs per record, apart from the network, the broker and the
// benchmark around it:
// - sendAsync: a loop of `window` sendAsync() calls (validation, partitioning, writing the record
//   into its batch), timed as a whole, with the minor page faults the process took during it;
// - settle: the acknowledgement's loop that settles a batch's records and calls their callbacks,
//   timed from the first callback of a round to its last (the callbacks only count).
// Each round sends one window of keyless records and waits for all of them, as `holdfast bench`'s
// W1/W2 producer does; the window is sized to fit one batch, so one response settles a round. The
// broker runs in this process (its work happens outside the timed loops). The first 20% of rounds
// warm up and are not counted. One JSON line per value size: the mean over the rounds, and the
// median round, which resists the rounds a noisy neighbour slowed down.
//
// `--against DIR`: DIR is another checkout of Holdfast with its dependencies (e.g. `git worktree add
// /tmp/old HEAD~1 && ln -s "$PWD/node_modules" /tmp/old/node_modules`).
// Its Producer runs in this same process, against the same broker, its rounds alternating with
// this checkout's (in turn first), so both see the same machine at the same moments: on this
// shared machine separate runs differ by more than a change of a few ns per record. One line per
// value size and checkout (`checkout`: "this" or DIR).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Producer } from '../src/client/index.ts';
import { embeddedBroker, removeDir } from '../test/helpers/broker.ts';

/** The Producer's default batchBytes: a round's records must fit one batch. */
const BATCH_BYTES = 1 << 20;
/** Record overhead bounds for sizing the window (varints, attributes, deltas). */
const RECORD_OVERHEAD = 32;
const WINDOW = 1000;

type ProducerClass = typeof Producer;

function usage(message: string): never {
  process.stderr.write(`bench:producer-paths: ${message}\nUsage: npm run bench:producer-paths -- [--value-bytes 100,1024] [--rounds 2000] [--against DIR]\n`);
  process.exit(2);
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One checkout's Producer and what its counted rounds measured. */
class Subject {
  sendNs = 0n;
  settleNs = 0n;
  sendFaults = 0;
  records = 0;
  settleIntervals = 0;
  readonly sendRounds: number[] = [];
  readonly settleRounds: number[] = [];
  readonly checkout: string;
  readonly producer: Producer;
  constructor(checkout: string, producer: Producer) {
    this.checkout = checkout;
    this.producer = producer;
  }

  /** Sends one window and waits for it to settle; counts the timings when `counted`. */
  async round(topic: string, payload: Buffer, window: number, counted: boolean): Promise<void> {
    let left = window;
    let first = 0n;
    let failure: Error | null = null;
    const done = new Promise<bigint>((resolveDone) => {
      const callback = (err: Error | null): void => {
        if (err !== null && failure === null) failure = err;
        if (left === window) first = process.hrtime.bigint();
        if (--left === 0) resolveDone(process.hrtime.bigint());
      };
      const faults0 = process.resourceUsage().minorPageFault;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < window; i++) this.producer.sendAsync({ topic, value: payload }, callback);
      if (counted) {
        const ns = process.hrtime.bigint() - t0;
        this.sendNs += ns;
        this.sendRounds.push(Number(ns) / window);
        // The loop is synchronous: the broker in this process takes none of these faults.
        this.sendFaults += process.resourceUsage().minorPageFault - faults0;
      }
    });
    const last = await done;
    if (failure !== null) throw failure;
    if (counted) {
      this.settleNs += last - first;
      this.records += window;
      this.settleIntervals += window - 1;
      if (window > 1) this.settleRounds.push(Number(last - first) / (window - 1));
    }
  }

  report(valueBytes: number, window: number, rounds: number, compared: boolean): string {
    return JSON.stringify({
      ...(compared ? { checkout: this.checkout } : {}),
      valueBytes,
      window,
      rounds,
      records: this.records,
      sendAsyncNsPerRecord: +(Number(this.sendNs) / this.records).toFixed(1),
      sendAsyncPageFaultsPerRecord: +(this.sendFaults / this.records).toFixed(5),
      settleNsPerRecord: this.settleIntervals > 0 ? +(Number(this.settleNs) / this.settleIntervals).toFixed(1) : null,
      sendAsyncNsPerRecordMedian: +median(this.sendRounds).toFixed(1),
      settleNsPerRecordMedian: this.settleRounds.length > 0 ? +median(this.settleRounds).toFixed(1) : null,
    });
  }
}

const { values } = parseArgs({ options: { 'value-bytes': { type: 'string', default: '100,1024' }, rounds: { type: 'string', default: '2000' }, against: { type: 'string' } } });
const sizes = (values['value-bytes'] ?? '').split(',').map(Number);
const rounds = Number(values.rounds);
if (sizes.length === 0 || sizes.some((n) => !Number.isSafeInteger(n) || n < 0 || n > 512 * 1024)) usage(`--value-bytes must be a comma list of integers 0..524288, got ${values['value-bytes']}`);
if (!Number.isSafeInteger(rounds) || rounds < 10) usage(`--rounds must be an integer >= 10, got ${values.rounds}`);
const checkouts: Array<[string, ProducerClass]> = [['this', Producer]];
if (values.against !== undefined) {
  const entry = resolve(values.against, 'src/client/index.ts');
  let other: { Producer?: ProducerClass };
  try {
    other = (await import(pathToFileURL(entry).href)) as { Producer?: ProducerClass };
  } catch (err) {
    usage(`--against ${values.against}: cannot load ${entry} (${(err as Error).message})`);
  }
  if (typeof other.Producer !== 'function') usage(`--against ${values.against}: ${entry} exports no Producer`);
  checkouts.push([values.against, other.Producer]);
}

const broker = await embeddedBroker();
try {
  for (const valueBytes of sizes) {
    const topic = `producer-paths-${valueBytes}`;
    const window = Math.max(1, Math.min(WINDOW, Math.floor((0.9 * BATCH_BYTES) / (valueBytes + RECORD_OVERHEAD))));
    const payload = Buffer.alloc(valueBytes, 0x61);
    const subjects = checkouts.map(([checkout, P]) => new Subject(checkout, new P({ brokers: [broker.bootstrap], clientId: 'producer-paths' })));
    try {
      for (const s of subjects) await s.producer.send({ topic, value: Buffer.alloc(valueBytes) }); // metadata and producer id
      const warmup = Math.floor(rounds / 5);
      for (let round = 0; round < rounds; round++) {
        // With two checkouts, each goes first in every other round.
        for (let i = 0; i < subjects.length; i++) await subjects[(i + round) % subjects.length].round(topic, payload, window, round >= warmup);
      }
      for (const s of subjects) console.log(s.report(valueBytes, window, rounds - warmup, subjects.length > 1));
    } finally {
      for (const s of subjects) await s.producer.close();
    }
  }
} finally {
  await broker.close();
  removeDir(broker.dataDir);
}
