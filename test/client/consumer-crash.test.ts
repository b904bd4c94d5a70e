// The consumer's delivery contract under process crashes. 50,000 pre-produced messages are consumed
// by a child process (fixtures/consumer-worker.ts) that appends each handled message id to a file
// before its handler resolves; the test SIGKILLs it at random points and restarts it until the work
// is done, then checks the file:
//   at-least-once (default)  every message handled at least once; redeliveries (extra handlings) at
//                            most kills × maxUncommittedMessages — the consumer never has more than
//                            that many handled-or-running messages uncommitted.
//   at-most-once             no message handled twice; losses at most
//                            kills × concurrency × maxMessagesPerTurn (the turns committed ahead).
// In every process lifetime, each partition's messages are handled in offset order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { embeddedBroker, removeDir, tempDir, type EmbeddedBroker } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { Rng } from '../../src/util/index.ts';
import type { ConsumerOptions } from '../../src/client/index.ts';
import { committedOffsets, produce, sleep, until } from './consumer-helpers.ts';

const MESSAGES = 50_000;
const PARTITIONS = 4;
const KILLS = Number(process.env.HOLDFAST_CONSUMER_KILLS ?? 8);
const TOPIC = 'crash-work';
const ID_DIGITS = 5;
const LINE_BYTES = ID_DIGITS + 1;
const WORKER = resolve('test/client/fixtures/consumer-worker.ts');

/** The worker's consumer settings; the bounds below are derived from them. */
const SETTINGS = {
  autoOffsetReset: 'earliest',
  concurrency: PARTITIONS,
  maxUncommittedMessages: 200,
  maxMessagesPerTurn: 50,
  autoCommitIntervalMs: 200,
  // A killed member stays in the group until its session expires; keep that short.
  sessionTimeoutMs: 2000,
  heartbeatIntervalMs: 200,
  rebalanceTimeoutMs: 4000,
  maxWaitMs: 100,
} satisfies Partial<ConsumerOptions>;

let b: EmbeddedBroker;
let dir: string;
const seed = Number(process.env.HOLDFAST_CRASH_SEED ?? Date.now() % 1_000_000);

before(async () => {
  b = await embeddedBroker({ 'group.initial.rebalance.delay.ms': 0, 'group.min.session.timeout.ms': 1000 });
  dir = tempDir('holdfast-consumer-crash-');
  await b.broker.createTopic(TOPIC, PARTITIONS, {});
  const wire = await TestKafkaClient.connect(b.bootstrap);
  // Message id i goes to partition i % PARTITIONS, so ids grow with offsets in every partition.
  for (let p = 0; p < PARTITIONS; p++) {
    const ids = Array.from({ length: MESSAGES / PARTITIONS }, (_, k) => k * PARTITIONS + p);
    await produce(wire, TOPIC, p, ids.map((id) => ({ value: String(id).padStart(ID_DIGITS, '0') })), 1000);
  }
  wire.close();
});

after(async () => {
  await b.close();
  removeDir(b.dataDir);
  removeDir(dir);
});

function spawnWorker(group: string, out: string, options: Partial<ConsumerOptions>): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }>; stderr: string[] } {
  const child = spawn(process.execPath, [WORKER, b.bootstrap, group, TOPIC, out, JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, exited, stderr };
}

const linesIn = (file: string): number => (existsSync(file) ? Math.floor(statSync(file).size / LINE_BYTES) : 0);

function readIds(file: string): number[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  assert.equal(text.length % LINE_BYTES, 0, 'the log holds whole lines only');
  const ids: number[] = [];
  for (let i = 0; i < text.length; i += LINE_BYTES) {
    const id = Number(text.slice(i, i + ID_DIGITS));
    assert.ok(Number.isInteger(id) && id >= 0 && id < MESSAGES && text[i + ID_DIGITS] === '\n', `bad line at byte ${i}`);
    ids.push(id);
  }
  return ids;
}

/** Checks that within each process lifetime every partition was handled in increasing offset order. */
function assertOrderPerLifetime(ids: number[], lifetimeEnds: number[]): void {
  let start = 0;
  for (const end of [...lifetimeEnds, ids.length]) {
    const last = new Map<number, number>();
    for (let i = start; i < end; i++) {
      const p = ids[i] % PARTITIONS;
      const prev = last.get(p) ?? -1;
      assert.ok(ids[i] > prev, `seed ${seed}: id ${ids[i]} handled after ${prev} in partition ${p} within one process lifetime`);
      last.set(p, ids[i]);
    }
    start = end;
  }
}

/**
 * Runs workers until `finished`: KILLS of them are SIGKILLed once the log passes a random number
 * of lines (plus a random delay), the last one is stopped with SIGTERM. Returns the log line count
 * at each kill.
 */
async function runWithKills(group: string, out: string, options: Partial<ConsumerOptions>, finished: () => Promise<boolean>): Promise<number[]> {
  const rng = new Rng(seed + group.length);
  const thresholds = Array.from({ length: KILLS }, () => rng.int(Math.floor(MESSAGES * 0.05), Math.floor(MESSAGES * 0.9))).sort((x, y) => x - y);
  const lifetimeEnds: number[] = [];
  for (let round = 0; round <= KILLS; round++) {
    const w = spawnWorker(group, out, options);
    let exit: { code: number | null; signal: string | null } | null = null;
    void w.exited.then((e) => (exit = e));
    const diag = (): string => `seed ${seed} round ${round}: worker exited ${JSON.stringify(exit)}; stderr:\n${w.stderr.join('')}`;
    if (round < KILLS) {
      const target = Math.max(thresholds[round], linesIn(out) + 1);
      await until(diag, () => exit !== null || linesIn(out) >= target, 60_000, 5);
      assert.equal(exit, null, diag());
      await sleep(rng.int(0, 30));
      w.child.kill('SIGKILL');
      await w.exited;
      lifetimeEnds.push(linesIn(out));
    } else {
      await until(diag, async () => exit !== null || (await finished()), 60_000, 50);
      assert.equal(exit, null, diag());
      w.child.kill('SIGTERM');
      const e = await w.exited;
      assert.equal(e.code, 0, `seed ${seed}: graceful stop; stderr:\n${w.stderr.join('')}`);
    }
  }
  return lifetimeEnds;
}

test(`at-least-once: SIGKILLed ${KILLS} times while handling ${MESSAGES} messages, every message is handled, redeliveries are bounded`, { timeout: 120_000 }, async (t) => {
  const out = join(dir, 'at-least-once.log');
  const lifetimeEnds = await runWithKills('crash-alo', out, SETTINGS, async () => new Set(readIds(out)).size === MESSAGES);
  const ids = readIds(out);
  const unique = new Set(ids);
  assert.equal(unique.size, MESSAGES, `seed ${seed}: every message was handled at least once`);
  const redeliveries = ids.length - unique.size;
  const bound = KILLS * SETTINGS.maxUncommittedMessages;
  t.diagnostic(`seed ${seed}: ${ids.length} handlings of ${MESSAGES} messages, ${redeliveries} redeliveries over ${KILLS} kills at lines ${lifetimeEnds.join(', ')} (bound ${bound})`);
  assert.ok(redeliveries <= bound, `seed ${seed}: ${redeliveries} redeliveries exceed kills × maxUncommittedMessages = ${bound}`);
  assertOrderPerLifetime(ids, lifetimeEnds);
});

test(`at-most-once: SIGKILLed ${KILLS} times while handling ${MESSAGES} messages, no message is handled twice, losses are bounded`, { timeout: 120_000 }, async (t) => {
  const out = join(dir, 'at-most-once.log');
  const wire = await TestKafkaClient.connect(b.bootstrap);
  try {
    const group = 'crash-amo';
    const end = MESSAGES / PARTITIONS;
    const allCommitted = async (): Promise<boolean> => (await committedOffsets(wire, group, TOPIC, PARTITIONS)).every((o) => o === end);
    const lifetimeEnds = await runWithKills(group, out, { ...SETTINGS, delivery: 'at-most-once' }, allCommitted);
    const ids = readIds(out);
    const seen = new Set<number>();
    for (const id of ids) {
      assert.ok(!seen.has(id), `seed ${seed}: message ${id} was handled twice`);
      seen.add(id);
    }
    const lost = MESSAGES - seen.size;
    const bound = KILLS * SETTINGS.concurrency * SETTINGS.maxMessagesPerTurn;
    t.diagnostic(`seed ${seed}: ${seen.size} of ${MESSAGES} messages handled once, ${lost} lost over ${KILLS} kills at lines ${lifetimeEnds.join(', ')} (bound ${bound})`);
    assert.ok(lost <= bound, `seed ${seed}: ${lost} lost messages exceed kills × concurrency × maxMessagesPerTurn = ${bound}`);
    assertOrderPerLifetime(ids, lifetimeEnds);
  } finally {
    wire.close();
  }
});
