// `npm run bench:catch-up [-- --messages 1000000 --message-bytes 1024 --partitions 16 --rounds 2
// --max-uncommitted N]`: how fast a consumer (the Consumer's defaults, but for maxUncommittedMessages
// when given) reads a backlog, the case of a consumer that restarts or falls behind. A
// `holdfast serve` process (durable defaults) takes `messages` keyless records (setup: acks=all with
// a window of 1,000, as `holdfast bench` sends), then for each round a new consumer group reads them
// all from the earliest offset while nothing is produced. Past the broker's tail cache (256 MiB by
// default, 8 MiB per partition) the reads come from the segment files.
//
// One JSON line for the setup and one per round: consumed msg/s and MB/s from the first message
// handled to the last, the CPU per message of the consumer (this process, which does nothing else
// meanwhile) and of the broker (from /proc, in 10 ms ticks), and the minor page faults of both.
// A round fails (exit 1) unless every partition's offsets 0..end arrive once each, in order; one
// that handles nothing for 60 s stops and fails. The figures stop at the round's last message.
//
// The script runs under CLIENT_NODE_FLAGS, as `holdfast bench`'s workers do (it re-executes itself
// with them when they are missing).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin, Consumer, Producer } from '../src/index.ts';
import { CLIENT_NODE_FLAGS } from '../src/cli/node-flags.ts';
import { cpuSecondsOf, minorFaultsOf } from '../src/cli/bench/processes.ts';
import { removeDir, spawnBroker, tempDir } from '../test/helpers/broker.ts';

if (!CLIENT_NODE_FLAGS.every((f) => process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...CLIENT_NODE_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** holdfast bench's window of unacknowledged messages. */
const IN_FLIGHT = 1000;
/** A round with no message handled for this long stops and fails (a message that never comes). */
const STALL_MS = 60_000;

function usage(message: string): never {
  process.stderr.write(`bench:catch-up: ${message}\nUsage: npm run bench:catch-up -- [--messages 1000000] [--message-bytes 1024] [--partitions 16] [--rounds 2] [--max-uncommitted N]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    'message-bytes': { type: 'string', default: '1024' },
    partitions: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    'max-uncommitted': { type: 'string' },
  },
});
function intArg(name: 'messages' | 'message-bytes' | 'partitions' | 'rounds' | 'max-uncommitted', min: number, max: number): number {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < min || n > max) usage(`--${name} must be an integer ${min}..${max}, got ${values[name]}`);
  return n;
}
const messages = intArg('messages', 1, 100_000_000);
const messageBytes = intArg('message-bytes', 0, 1024 * 1024);
const partitions = intArg('partitions', 1, 1000);
const rounds = intArg('rounds', 1, 100);
/** The Consumer's maxUncommittedMessages; its own default (1,000) when not given. */
const maxUncommittedMessages = values['max-uncommitted'] === undefined ? undefined : intArg('max-uncommitted', 1, 10_000_000);

const TOPIC = 'catch-up';
const dataDir = tempDir('holdfast-catch-up-');
let broker: Awaited<ReturnType<typeof spawnBroker>> | null = null;
let failed = false;
try {
  broker = await spawnBroker(dataDir);
  const brokers = [broker.bootstrap];
  const admin = new Admin({ brokers });
  await admin.createTopics([{ name: TOPIC, partitions }]);
  admin.close();

  const producer = new Producer({ brokers, acks: -1, idempotent: true, lingerMs: 0 });
  const value = Buffer.alloc(messageBytes, 0x61);
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let inFlight = 0;
    const pump = (): void => {
      while (inFlight < IN_FLIGHT && sent < messages) {
        inFlight++;
        sent++;
        producer.sendAsync({ topic: TOPIC, value }, (err) => {
          if (err !== null) return reject(err);
          inFlight--;
          if (++acked === messages) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const produceSeconds = (performance.now() - t) / 1000;
  await producer.close();
  // maxUncommittedMessages null: the Consumer's default.
  console.log(JSON.stringify({ setup: true, messages, messageBytes, partitions, maxUncommittedMessages: maxUncommittedMessages ?? null, produceMsgPerSec: Math.round(messages / produceSeconds) }));

  for (let round = 0; round < rounds; round++) {
    const consumer = new Consumer({ brokers, groupId: `catch-up-${round}`, topics: [TOPIC], clientId: 'holdfast-catch-up', autoOffsetReset: 'earliest', maxUncommittedMessages });
    // The next offset expected per partition: a gap, a repeat or a step back fails the round.
    const next = new Array<number>(partitions).fill(0);
    let consumed = 0;
    let bytes = 0;
    let firstAt = 0;
    let lastAt = 0;
    let problem: string | null = null;
    let cpu0 = process.cpuUsage();
    // Set by the handler at the last message (the cast keeps TypeScript from narrowing it to null).
    let cpu = null as NodeJS.CpuUsage | null;
    let faults0 = 0;
    let faults = 0;
    let brokerCpu0 = cpuSecondsOf(broker.child.pid);
    let brokerCpu1: number | null = null;
    let brokerFaults0 = minorFaultsOf(broker.child.pid);
    let brokerFaults1: number | null = null;
    let seen = -1;
    const watchdog = setInterval(() => {
      if (consumed === seen) {
        problem ??= `no message for ${STALL_MS / 1000} s after ${consumed} of ${messages}`;
        void consumer.close();
      }
      seen = consumed;
    }, STALL_MS);
    await consumer.run((m) => {
      if (consumed === 0) {
        firstAt = performance.now();
        cpu0 = process.cpuUsage();
        faults0 = process.resourceUsage().minorPageFault;
        brokerCpu0 = cpuSecondsOf(broker?.child.pid);
        brokerFaults0 = minorFaultsOf(broker?.child.pid);
      }
      if (m.offset !== next[m.partition] && problem === null) problem = `partition ${m.partition}: offset ${m.offset} where ${next[m.partition]} was next`;
      next[m.partition] = m.offset + 1;
      consumed++;
      bytes += m.value?.length ?? 0;
      if (consumed === messages) {
        // The figures stop at the last message, before the consumer's close.
        lastAt = performance.now();
        cpu = process.cpuUsage(cpu0);
        faults = process.resourceUsage().minorPageFault - faults0;
        brokerCpu1 = cpuSecondsOf(broker?.child.pid);
        brokerFaults1 = minorFaultsOf(broker?.child.pid);
        void consumer.close();
      }
    });
    clearInterval(watchdog);
    // Rates and costs only for a round that reached its last message.
    const seconds = cpu === null ? null : (lastAt - firstAt) / 1000;
    const total = next.reduce((a, b) => a + b, 0);
    if (problem === null && total !== messages) problem = `partitions end at offsets summing to ${total}, not ${messages}`;
    if (problem !== null) failed = true;
    console.log(JSON.stringify({
      round,
      consumed,
      complete: problem === null,
      ...(problem !== null ? { problem } : {}),
      seconds: seconds === null ? null : +seconds.toFixed(3),
      consumeMsgPerSec: seconds !== null && seconds > 0 ? Math.round((consumed - 1) / seconds) : null,
      consumeMBPerSec: seconds !== null && seconds > 0 ? +(bytes / 1e6 / seconds).toFixed(1) : null,
      consumerCpuUsPerMessage: cpu === null ? null : +((cpu.user + cpu.system) / consumed).toFixed(2),
      consumerPageFaults: cpu === null ? null : faults,
      brokerCpuUsPerMessage: brokerCpu0 !== null && brokerCpu1 !== null ? +(((brokerCpu1 - brokerCpu0) * 1e6) / consumed).toFixed(2) : null,
      brokerPageFaults: brokerFaults0 !== null && brokerFaults1 !== null ? brokerFaults1 - brokerFaults0 : null,
    }));
  }
  await broker.kill('SIGTERM');
  broker = null;
} finally {
  // A broker left running by a failure would keep writing into the directory being removed.
  await broker?.kill('SIGKILL');
  removeDir(dataDir);
}
process.exit(failed ? 1 : 0);
