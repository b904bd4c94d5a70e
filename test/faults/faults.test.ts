// The bounded fault suite (RELIABILITY.md) run by `npm test`: verify runs with producers and
// consumers in their own processes while a nemesis injects faults, then heal, drain and check.
//   1. a `holdfast serve` process behind the fault proxy: kill -9 and SIGSTOP of the broker and of
//      clients, bit flips in its segment files (read back: refused, then undone), connection cuts,
//      delays and stalls;
//   2. a broker over the simulated file system: power loss (unsynced writes lost, torn into zeros
//      or garbage), EIO on fsync, bit flips in stored batches (each read back: it must be refused),
//      process kills, plus client and network faults;
//   3. the same with flush.mode=async, where power loss may lose acknowledged writes: the checkers
//      must say so (a harness that cannot see loss proves nothing).
// Longer runs: `npm run test:faults -- --duration 10m`. HOLDFAST_FAULTS_SEED replays a seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaultProxy, LocalBroker, freePort, runVerify, summarize, type VerifyResult } from '../../src/cli/verify/index.ts';
import { Admin, Producer, TopicReader } from '../../src/client/index.ts';
import { Rng } from '../../src/util/index.ts';
import { SimBroker } from './sim-broker.ts';
import { removeDir, tempDir } from '../helpers/broker.ts';

const SEED = Number(process.env.HOLDFAST_FAULTS_SEED ?? Date.now() % 1_000_000);
const SECONDS = Number(process.env.HOLDFAST_FAULTS_SECONDS ?? 30);

/** The first `count` values of `topic`, from the earliest offset, sorted. */
async function readValues(brokers: string[], topic: string, count: number): Promise<string[]> {
  const reader = new TopicReader({ brokers, topic, from: 'earliest' });
  const got: string[] = [];
  for await (const m of reader) {
    got.push(m.value?.toString() ?? '');
    if (got.length === count) break;
  }
  await reader.close();
  return got.sort();
}

/** A fresh file path for a broker log, and how to clean it up. */
function tempLogFile(): { file: string; remove: () => void } {
  const dir = tempDir('holdfast-fault-log-');
  return { file: join(dir, 'broker.log'), remove: () => removeDir(dir) };
}

/** Lines of a broker log that the harness marked (`# <time> <what>`), without the time. */
function marks(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('# ')).map((l) => l.split(' ').slice(2).join(' '));
}

function report(t: { diagnostic: (s: string) => void }, r: VerifyResult): void {
  for (const line of summarize(r).split('\n')) t.diagnostic(line);
  t.diagnostic(`replay with HOLDFAST_FAULTS_SEED=${r.seed}`);
}

test('verify with broker, client and network faults against a holdfast serve process', { timeout: 300_000 }, async (t) => {
  const proxyPort = await freePort();
  const log = tempLogFile();
  t.diagnostic(`broker log: ${log.file} (removed if the test passes)`);
  const broker = await LocalBroker.start({ advertisedPort: proxyPort, config: { 'group.min.session.timeout.ms': 1000 }, logFile: log.file });
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  try {
    const r = await runVerify({
      brokers: [`127.0.0.1:${proxy.port}`],
      durationMs: SECONDS * 1000,
      faults: ['broker-kill', 'broker-pause', 'bit-flip', 'client-kill', 'client-pause', 'net-cut', 'net-delay', 'net-stall'],
      faultIntervalMs: 1500,
      seed: SEED,
      sessionTimeoutMs: 3000,
      broker,
      proxy,
    });
    report(t, r);
    assert.equal(r.valid, true, JSON.stringify(r.examples));
    assert.ok(r.counts.acked > 1000, 'the workload ran');
    // A nemesis step waits at most 2.25 s (1.5 × the interval) and a fault lasts at most ~3.5 s
    // (a 3 s pause, or a kill, 1.5 s down and a restart), so even a slow run injects SECONDS / 6.
    const kinds = ['broker-kill', 'broker-pause', 'bit-flip', 'client-kill', 'client-pause', 'net-cut', 'net-delay', 'net-stall'].map((k) => r.faultsInjected[k] ?? 0);
    assert.ok(kinds.reduce((a, b) => a + b, 0) >= Math.floor(SECONDS / 6), `faults were injected: ${JSON.stringify(r.faultsInjected)}`);
    // Faults are drawn in rounds holding every kind once, so no kind is more than one ahead.
    assert.ok(Math.max(...kinds) - Math.min(...kinds) <= 1, `every kind in turn: ${JSON.stringify(r.faultsInjected)}`);
    assert.deepEqual(r.faultsSkipped, []);
    assert.equal(r.counts.corruptionDetected, r.faultsInjected['bit-flip'] ?? 0, 'every bit flip on the real disk was refused');
    // The broker log kept every incarnation (a kill restarts it, a bit flip restarts it once or
    // twice around the flip): a start and an exit each, the broker's own lines, each fault marked.
    await proxy.close();
    await broker.close();
    const m = marks(log.file);
    const count = (re: RegExp) => m.filter((l) => re.test(l)).length;
    const kills = r.faultsInjected['broker-kill'] ?? 0;
    for (const kind of ['broker-kill', 'broker-pause', 'bit-flip']) assert.equal(count(new RegExp(`^fault: ${kind}$`)), r.faultsInjected[kind] ?? 0, kind);
    assert.equal(count(/^fault done: broker paused \(SIGSTOP\)/), r.faultsInjected['broker-pause'] ?? 0);
    const starts = count(/^holdfast serve started \(incarnation \d+, pid \d+\)$/);
    assert.ok(starts >= 1 + kills + (r.faultsInjected['bit-flip'] ?? 0), m.join('\n'));
    assert.equal(count(/^holdfast serve exited \(incarnation \d+, SIGKILL\)$/), kills, m.join('\n'));
    assert.equal(count(/^holdfast serve exited /), starts, 'every incarnation exited by the end');
    const text = readFileSync(log.file, 'utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('holdfast ready ')).length, starts, 'each incarnation\'s own lines are there');
    assert.match(text, /INFO logs loaded/);
    log.remove();
  } finally {
    await proxy.close();
    await broker.close();
  }
});

test('verify with power loss, torn writes, EIO and bit flips on the simulated file system', { timeout: 300_000 }, async (t) => {
  const proxyPort = await freePort();
  const log = tempLogFile();
  t.diagnostic(`broker log: ${log.file} (removed if the test passes)`);
  const broker = await SimBroker.start({ 'advertised.port': proxyPort, 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 }, SEED, { logFile: log.file });
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  try {
    const r = await runVerify({
      brokers: [`127.0.0.1:${proxy.port}`],
      durationMs: SECONDS * 1000,
      faults: ['power-loss', 'disk-eio', 'bit-flip', 'broker-kill', 'client-kill', 'net-cut'],
      faultIntervalMs: 1500,
      seed: SEED + 1,
      sessionTimeoutMs: 3000,
      broker,
      proxy,
    });
    report(t, r);
    assert.equal(r.valid, true, JSON.stringify(r.examples));
    assert.ok(r.counts.acked > 1000, 'the workload ran');
    // Rounds of the six kinds, three of them storage faults: the first four faults include one.
    assert.ok((r.faultsInjected['power-loss'] ?? 0) + (r.faultsInjected['disk-eio'] ?? 0) + (r.faultsInjected['bit-flip'] ?? 0) >= 1, `storage faults were injected: ${JSON.stringify(r.faultsInjected)}`);
    // Every flip found a stored batch (faults start after the first acknowledged one) and was refused.
    assert.equal(r.counts.corruptionDetected, r.faultsInjected['bit-flip'] ?? 0);
    // The broker log: each broker fault marked, a start for each restart, and the broker's own lines.
    await proxy.close();
    await broker.close();
    const m = marks(log.file);
    const count = (re: RegExp) => m.filter((l) => re.test(l)).length;
    for (const kind of ['power-loss', 'disk-eio', 'bit-flip', 'broker-kill']) assert.equal(count(new RegExp(`^fault: ${kind}$`)), r.faultsInjected[kind] ?? 0, kind);
    const restarts = ['power-loss', 'disk-eio', 'bit-flip', 'broker-kill'].reduce((n, k) => n + (r.faultsInjected[k] ?? 0), 0);
    assert.ok(count(/^broker started \(incarnation \d+, simulated file system\)$/) >= 1 + restarts, m.join('\n'));
    assert.match(readFileSync(log.file, 'utf8'), /INFO logs loaded/);
    log.remove();
  } finally {
    await proxy.close();
    await broker.close();
  }
});

test('a bit flip in a stored batch is refused on read, and undone; a flip the CRC cannot see is reported', { timeout: 120_000 }, async () => {
  const broker = await SimBroker.start({ 'group.initial.rebalance.delay.ms': 0 }, SEED + 4);
  const brokers = [`${broker.target.host}:${broker.target.port}`];
  const admin = new Admin({ brokers });
  const producer = new Producer({ brokers, lingerMs: 0 });
  try {
    await admin.createTopics([{ name: 'flips', partitions: 2 }]);
    const sent: string[] = [];
    const sendSome = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const value = `v${sent.length}`;
        sent.push(value);
        await producer.send({ topic: 'flips', partition: i % 2, value });
      }
    };
    await sendSome(40);
    const rng = new Rng(SEED + 5);
    for (let i = 0; i < 6; i++) {
      const what = await broker.inject('bit-flip', rng);
      assert.equal(broker.corruption.length, i + 1, what);
      assert.equal(broker.corruption[i].detected, true, broker.corruption[i].detail);
      assert.match(broker.corruption[i].detail, /KAFKA_STORAGE_ERROR/);
      await sendSome(10); // the partition is back online: produce works again
    }
    assert.deepEqual(await readValues(brokers, 'flips', sent.length), [...sent].sort(), 'every flip was undone: all data reads back');
    broker.flipUncoveredBytes = true;
    await broker.inject('bit-flip', rng);
    assert.equal(broker.corruption.at(-1)?.detected, false, 'a flip the CRC does not cover is served: reported as undetected');
    assert.match(broker.corruption.at(-1)?.detail ?? '', /bytes of records \(no error\)/);
  } finally {
    await producer.close();
    admin.close();
    await broker.close();
  }
});

test('a bit flip in a segment file of a holdfast serve process is refused on read, and undone', { timeout: 120_000 }, async (t) => {
  const proxyPort = await freePort();
  const broker = await LocalBroker.start({ advertisedPort: proxyPort });
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  const brokers = [`127.0.0.1:${proxy.port}`];
  const admin = new Admin({ brokers });
  const producer = new Producer({ brokers, lingerMs: 0 });
  try {
    await admin.createTopics([{ name: 'flips', partitions: 2 }]);
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(`v${i}`);
      await producer.send({ topic: 'flips', partition: i % 2, value: `v${i}` });
    }
    const rng = new Rng(SEED + 6);
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const what = await broker.inject('bit-flip', rng);
      t.diagnostic(`${what} (${Math.round(performance.now() - started)} ms)`);
      assert.equal(broker.corruption[i]?.detected, true, broker.corruption[i]?.detail ?? what);
      assert.match(broker.corruption[i].detail, /Fetch answered KAFKA_STORAGE_ERROR/);
      const value = `after-${i}`;
      sent.push(value);
      await producer.send({ topic: 'flips', partition: i % 2, value });
    }
    assert.deepEqual(await readValues(brokers, 'flips', sent.length), [...sent].sort(), 'every flip was undone: all data reads back');
  } finally {
    await producer.close();
    admin.close();
    await proxy.close();
    await broker.close();
  }
});

test('the checkers catch loss: flush.mode=async with power loss loses acknowledged messages', { timeout: 300_000 }, async (t) => {
  const proxyPort = await freePort();
  const broker = await SimBroker.start({ 'advertised.port': proxyPort, 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 }, SEED + 2);
  const proxy = await FaultProxy.start(broker.target, proxyPort);
  try {
    const r = await runVerify({
      brokers: [`127.0.0.1:${proxy.port}`],
      // Faults start at the first ack; at least two power losses fit in 12 s (each wait is at most 4.5 s).
      durationMs: 12_000,
      // Lost messages can never be handled: the drain waits for nothing.
      drainTimeoutMs: 10_000,
      faults: ['power-loss'],
      faultIntervalMs: 3000,
      seed: SEED + 3,
      sessionTimeoutMs: 3000,
      // Acknowledged once written to the OS, fsynced only every minute: a power loss drops them.
      topicConfigs: { 'flush.mode': 'async', 'flush.interval.ms': '60000', 'flush.interval.messages': '100000000' },
      broker,
      proxy,
    });
    report(t, r);
    assert.ok((r.faultsInjected['power-loss'] ?? 0) >= 1);
    assert.equal(r.valid, false, 'losing acknowledged writes must be reported');
    assert.ok(r.anomalies.lost > 0, `lost: ${JSON.stringify(r.anomalies)}`);
  } finally {
    await proxy.close();
    await broker.close();
  }
});
