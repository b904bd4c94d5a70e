// `holdfast verify`: the fault-injection workload and checkers against a broker — one this command
// starts (every fault) or any Kafka-protocol broker you point it at (client faults only).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BROKERS_HELP, EXIT, UsageError, brokerList, intOption, parseDuration } from '../common.ts';
import { LocalBroker, freePort } from './local-broker.ts';
import { FaultProxy } from './proxy.ts';
import { runVerify, summarize, type Fault, type VerifyResult } from './run.ts';

export { runVerify, summarize, ALL_FAULTS, type Fault, type VerifyOptions, type VerifyResult } from './run.ts';
export { check, type History, type CheckResult, type Anomaly, type AnomalyKind, type CorruptionProbe } from './checker.ts';
export { FaultProxy } from './proxy.ts';
export { LocalBroker, freePort, type BrokerControl, type BrokerFault } from './local-broker.ts';
export { BrokerLog, loggedFault } from './broker-log.ts';
export { injectBitFlip, type FlipHost } from './bit-flip.ts';

export const VERIFY_USAGE = `Usage: holdfast verify [--brokers HOST:PORT] [--duration 5m] [--faults none|clients|all]
                       [--rate N] [--producers N] [--consumers N] [--partitions N] [--seed N]
                       [--json] [--out FILE] [--broker-log FILE]

  ${BROKERS_HELP.replace('(default $HOLDFAST_BROKERS or 127.0.0.1:9092)', '(default: start a local broker)')}

Producer and consumer processes write and read unique values on a new topic while faults are
injected; then the network heals, every process comes back, producers flush, the group drains, and
the whole log is read back and checked: nothing acknowledged lost or moved, nothing duplicated or
unexpected, each producer's order kept per partition, one value per offset, every acknowledged
message handled by the group at least once, committed offsets only over handled messages.

Without --brokers it starts its own broker behind a fault proxy; --faults all (its default) then
kills (kill -9) and pauses (SIGSTOP) the broker and clients, cuts, delays and stalls the network,
and flips a bit in a stored batch (which a fetch must then be refused, never served; the byte is
put back afterwards). With --brokers (any Kafka-protocol broker) only client faults can be
injected (default --faults clients); the others are skipped and listed. --duration: 30s, 5m, 1h
(default 1m).
--rate is messages per second per producer (default 300). --broker-log FILE (only without
--brokers) appends everything the broker it starts writes, across its restarts, to FILE, with a
marked line (#) where each incarnation starts and exits and where each broker fault begins and ends.
Exit code 0 when every check passes, 5 when an anomaly was found, 1 when the run itself failed.`;

const FAULT_SETS: Record<string, Fault[]> = {
  none: [],
  clients: ['client-kill', 'client-pause'],
  all: ['broker-kill', 'broker-pause', 'bit-flip', 'client-kill', 'client-pause', 'net-cut', 'net-delay', 'net-stall'],
};

export async function verify(argv: string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      brokers: { type: 'string' },
      duration: { type: 'string', default: '1m' },
      faults: { type: 'string' },
      rate: { type: 'string' },
      producers: { type: 'string' },
      consumers: { type: 'string' },
      partitions: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      'broker-log': { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  });
  void positionals;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const remote = values.brokers !== undefined;
  if (remote && values['broker-log'] !== undefined) throw new UsageError('--broker-log needs the broker verify starts itself: it cannot be used with --brokers');
  const faultSet = values.faults ?? (remote ? 'clients' : 'all');
  const faults = FAULT_SETS[faultSet];
  if (faults === undefined) throw new UsageError(`--faults must be none, clients or all, got "${faultSet}"`);
  const durationMs = parseDuration(values.duration);
  const common = {
    durationMs,
    faults,
    rate: intOption('rate', values.rate, 1),
    producers: intOption('producers', values.producers, 1),
    consumers: intOption('consumers', values.consumers, 1),
    partitions: intOption('partitions', values.partitions, 1),
    seed: intOption('seed', values.seed),
    onEvent: (e: string) => stderr.write(`verify ${e}\n`),
  };
  let result: VerifyResult;
  if (remote) {
    result = await runVerify({ ...common, brokers: brokerList(values.brokers as string) });
  } else {
    // Clients talk to the proxy; the broker advertises the proxy's port so they stay behind it.
    const proxyPort = await freePort();
    const broker = await LocalBroker.start({ advertisedPort: proxyPort, config: { 'group.min.session.timeout.ms': 1000 }, logFile: values['broker-log'] });
    const proxy = await FaultProxy.start(broker.target, proxyPort);
    try {
      result = await runVerify({ ...common, brokers: [`127.0.0.1:${proxy.port}`], broker, proxy, sessionTimeoutMs: 3000 });
    } finally {
      await proxy.close();
      await broker.close();
    }
  }
  if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n');
  if (values.json) stdout.write(JSON.stringify(result) + '\n');
  stderr.write(summarize(result) + '\n');
  return result.valid ? EXIT.OK : EXIT.ANOMALIES;
}
