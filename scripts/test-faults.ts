// `npm run test:faults -- --duration 10m [--setup process|sim|both] [--seed N] [--rate N] [--header-bytes N] [--out FILE] [--log-dir DIR]`:
// long fault runs. `process`: a holdfast serve process behind the fault proxy, with broker, client
// and network faults; `sim`: a broker over the simulated file system with power loss, torn writes
// (zeros or garbage), EIO, process kills, client kills and connection cuts. Each setup runs for the
// whole duration. Prints each run's summary and writes every result as JSON (default
// fault-results.json), and each setup's broker log, every incarnation's lines with a marked line
// (#) at each start, exit and fault, to DIR/<setup>-broker-<seed>.log (default DIR fault-logs).
// Exit code 0 when every run is valid, 5 otherwise.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaultProxy, LocalBroker, freePort, runVerify, summarize, type VerifyResult } from '../src/cli/verify/index.ts';
import { intOption, parseDuration } from '../src/cli/common.ts';
import { receiveSlabs } from '../src/util/index.ts';
import { SimBroker } from '../test/faults/sim-broker.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10m' },
    setup: { type: 'string', default: 'both' },
    seed: { type: 'string' },
    rate: { type: 'string', default: '300' },
    out: { type: 'string', default: 'fault-results.json' },
    'log-dir': { type: 'string', default: 'fault-logs' },
    'header-bytes': { type: 'string', default: '1000' },
  },
});
// Pooled request buffers are filled with garbage when they go back (src/util/receive-slabs.ts): a
// view read after its reference was given back then shows up as corruption, in the broker process
// (which inherits this) and the simulated one alike.
process.env.HOLDFAST_POISON_RECYCLED ??= '1';
// Each record carries this much header padding (--header-bytes), so that the backlog a fault
// leaves goes out in requests larger than one socket read: those are the ones the broker
// assembles in reused memory. A higher --rate makes more of them.
const HEADER_BYTES = intOption('header-bytes', values['header-bytes']) as number;
const durationMs = parseDuration(values.duration);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
const rate = intOption('rate', values.rate, 1) as number;
const onEvent = (e: string): void => void process.stderr.write(`${e}\n`);
const logDir = values['log-dir'] as string;
mkdirSync(logDir, { recursive: true });
const results: Array<{ setup: string; result: VerifyResult }> = [];

if (values.setup === 'process' || values.setup === 'both') {
  const proxyPort = await freePort();
  const logFile = join(logDir, `process-broker-${seed}.log`);
  const broker = await LocalBroker.start({ advertisedPort: proxyPort, config: { 'group.min.session.timeout.ms': 1000 }, logFile });
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  try {
    const result = await runVerify({
      brokers: [`127.0.0.1:${proxy.port}`], durationMs, rate, seed, sessionTimeoutMs: 3000, broker, proxy, onEvent, headerBytes: HEADER_BYTES,
      faults: ['broker-kill', 'broker-pause', 'bit-flip', 'client-kill', 'client-pause', 'net-cut', 'net-delay', 'net-stall'],
      faultIntervalMs: 2000,
    });
    results.push({ setup: 'process', result });
    process.stdout.write(`setup process (holdfast serve behind the fault proxy):\n${summarize(result)}\n  broker log: ${logFile}\n\n`);
  } finally {
    await proxy.close();
    await broker.close();
  }
}
if (values.setup === 'sim' || values.setup === 'both') {
  const proxyPort = await freePort();
  const logFile = join(logDir, `sim-broker-${seed + 1}.log`);
  const broker = await SimBroker.start({ 'advertised.port': proxyPort, 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 }, seed, { logFile });
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  try {
    const result = await runVerify({
      brokers: [`127.0.0.1:${proxy.port}`], durationMs, rate, seed: seed + 1, sessionTimeoutMs: 3000, broker, proxy, onEvent, headerBytes: HEADER_BYTES,
      faults: ['power-loss', 'disk-eio', 'bit-flip', 'broker-kill', 'client-kill', 'client-pause', 'net-cut', 'net-stall'],
      faultIntervalMs: 2000,
    });
    results.push({ setup: 'sim', result });
    process.stdout.write(`setup sim (simulated file system: power loss, torn writes, EIO, bit flips):\n${summarize(result)}\n  broker log: ${logFile}\n`);
    // This broker runs in this process: how much of its produce traffic went through reused memory.
    process.stdout.write(`  pooled produce buffers: ${receiveSlabs.allocated} allocated, ${receiveSlabs.reused} handed out again\n\n`);
  } finally {
    await proxy.close();
    await broker.close();
  }
}
writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
process.stdout.write(`results: ${values.out}\n`);
process.exit(results.every((r) => r.result.valid) ? 0 : 5);
