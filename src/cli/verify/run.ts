// A verify run (RELIABILITY.md): producer and consumer processes with unique, checkable values; a
// nemesis that injects faults while they run; then heal, drain, read the whole log back and run
// the checkers. Used by `holdfast verify` (against any broker), by the bounded fault test in
// `npm test`, and by `npm run test:faults` (long runs).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../util/index.ts';
import { Admin, TopicReader } from '../../client/index.ts';
import { check, type CheckResult, type History } from './checker.ts';
import { BROKER_FAULTS, type BrokerControl, type BrokerFault } from './local-broker.ts';
import type { FaultProxy } from './proxy.ts';
import type { WorkerArgs } from './worker.ts';

export type ClientFault = 'client-kill' | 'client-pause';
export type NetworkFault = 'net-cut' | 'net-delay' | 'net-stall';
export type Fault = BrokerFault | ClientFault | NetworkFault;

export const ALL_FAULTS: readonly Fault[] = [...BROKER_FAULTS, 'client-kill', 'client-pause', 'net-cut', 'net-delay', 'net-stall'];

export interface VerifyOptions {
  /** Bootstrap addresses the clients use (the proxy's, when there is one). */
  brokers: string[];
  durationMs: number;
  /** Faults to inject; those the setup cannot inject are skipped and listed in the result. */
  faults: readonly Fault[];
  /** Mean time between faults. @default 2000 */
  faultIntervalMs?: number;
  /** @default 2 */
  producers?: number;
  /** @default 2 */
  consumers?: number;
  /** Messages per second per producer. @default 300 */
  rate?: number;
  /** Bytes of padding in a header of every record (not checked): backlogs left by faults then go out in requests larger than one socket read. @default 0 */
  headerBytes?: number;
  /** @default 4 */
  partitions?: number;
  /** @default Date.now() */
  seed?: number;
  /** How long the drain may take for the group to handle every acknowledged message. @default 60000 */
  drainTimeoutMs?: number;
  /** Consumer session timeout (at least the broker's group.min.session.timeout.ms). @default 6000 */
  sessionTimeoutMs?: number;
  /** Configs of the topic the run creates. @default { 'flush.mode': 'sync' } */
  topicConfigs?: Record<string, string>;
  broker?: BrokerControl;
  proxy?: FaultProxy;
  /** Called with each event as it happens (faults, phases). */
  onEvent?: (event: string) => void;
}

export interface VerifyResult extends CheckResult {
  seed: number;
  topic: string;
  group: string;
  durationSeconds: number;
  faultsInjected: Record<string, number>;
  faultsSkipped: Array<{ fault: Fault; reason: string }>;
  processes: { producerIncarnations: number; consumerIncarnations: number };
  timeline: string[];
}

interface Worker {
  kind: 'producer' | 'consumer';
  slot: number;
  id: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  paused: boolean;
  done: boolean;
  stderr: string[];
}

const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));
/** batchBytes of every second producer (slots 1, 3, …): a backlog left by a fault then leaves in several full batches per partition, in flight together (Producer maxInFlight). */
const SMALL_BATCH_BYTES = 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function runVerify(o: VerifyOptions): Promise<VerifyResult> {
  const seed = o.seed ?? Date.now();
  const rng = new Rng(seed);
  const started = performance.now();
  const timeline: string[] = [];
  const event = (text: string): void => {
    const line = `${((performance.now() - started) / 1000).toFixed(1)}s ${text}`;
    timeline.push(line);
    o.onEvent?.(line);
  };
  const topic = `verify-${seed}`;
  const group = `verify-${seed}`;
  const partitions = o.partitions ?? 4;

  // Which faults this setup can inject.
  const skipped: Array<{ fault: Fault; reason: string }> = [];
  const faults: Fault[] = [];
  for (const f of o.faults) {
    if ((BROKER_FAULTS as readonly Fault[]).includes(f) && !(o.broker?.faults.includes(f as BrokerFault) ?? false)) {
      skipped.push({ fault: f, reason: o.broker === undefined ? 'the broker is not run by verify (remote): cannot kill, pause or crash it, or damage its files' : 'this broker setup cannot inject it' });
    } else if (f.startsWith('net-') && o.proxy === undefined) {
      skipped.push({ fault: f, reason: 'no fault proxy between clients and broker (remote broker advertises its own address)' });
    } else faults.push(f);
  }

  const admin = new Admin({ brokers: o.brokers, clientId: 'holdfast-verify', requestTimeoutMs: 15_000 });
  const history: History = { acked: new Map(), failed: new Set(), attempted: new Map(), deliveries: [], log: new Map(), logEnd: new Map(), committed: new Map(), corruption: [] };
  const corruptionBefore = o.broker?.corruption?.length ?? 0;
  const workers = new Map<string, Worker>();
  const incarnations = { producer: 0, consumer: 0 };
  const faultsInjected: Record<string, number> = {};

  const startWorker = (kind: 'producer' | 'consumer', slot: number): Worker => {
    const id = `${kind === 'producer' ? 'p' : 'c'}${slot}.${incarnations[kind]++}`;
    const args: WorkerArgs =
      kind === 'producer'
        ? { role: 'producer', id, brokers: o.brokers, topic, rate: o.rate ?? 300, inFlight: 1000, batchBytes: slot % 2 === 1 ? SMALL_BATCH_BYTES : undefined, headerBytes: o.headerBytes }
        : { role: 'consumer', id, brokers: o.brokers, topic, group, sessionTimeoutMs: o.sessionTimeoutMs ?? 6000 };
    const child = spawn(process.execPath, [WORKER, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const w: Worker = { kind, slot, id, child, paused: false, done: false, stderr: [], exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
    createInterface({ input: child.stderr! }).on('line', (l) => {
      w.stderr.push(l);
      if (w.stderr.length > 50) w.stderr.shift();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let m: { t: string; s?: number; p?: number; o?: number; v?: string | null; e?: string };
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      switch (m.t) {
        case 'a':
          history.attempted.set(id, Math.max(history.attempted.get(id) ?? -1, m.s as number));
          break;
        case 'k':
          history.acked.set(`${id}:${m.s}`, { partition: m.p as number, offset: m.o as number });
          break;
        case 'f':
          history.failed.add(`${id}:${m.s}`);
          break;
        case 'd':
          history.deliveries.push({ partition: m.p as number, offset: m.o as number, value: m.v ?? '' });
          break;
        case 'done':
          w.done = true;
          break;
      }
    });
    workers.set(`${kind}${slot}`, w);
    return w;
  };

  const restartIfDead = async (w: Worker): Promise<void> => {
    if (w.child.exitCode === null && w.child.signalCode === null) return;
    if (w.child.exitCode !== null && w.child.exitCode !== 0) event(`${w.id} exited with code ${w.child.exitCode}: ${w.stderr.slice(-3).join(' | ')}`);
    startWorker(w.kind, w.slot);
  };

  try {
    event(`seed ${seed}: topic ${topic} (${partitions} partitions), faults ${faults.join(', ') || 'none'}`);
    await admin.createTopics([{ name: topic, partitions, configs: o.topicConfigs ?? { 'flush.mode': 'sync' } }]);
    for (let i = 0; i < (o.consumers ?? 2); i++) startWorker('consumer', i);
    for (let i = 0; i < (o.producers ?? 2); i++) startWorker('producer', i);

    // ---- the nemesis ---------------------------------------------------------------------------
    const deadline = performance.now() + o.durationMs;
    // Faults start once the workload runs (a message acknowledged): before that they test nothing.
    while (history.acked.size === 0 && performance.now() < deadline) await sleep(50);
    if (faults.length > 0) event(history.acked.size > 0 ? 'first message acknowledged: faults start' : 'no message acknowledged within the duration');
    const interval = o.faultIntervalMs ?? 2000;
    // Faults are drawn in rounds, each kind once per round in a seeded order, so every kind is
    // injected about equally often and each one within any run of faults.length injections.
    const bag: Fault[] = [];
    while (performance.now() < deadline) {
      await sleep(Math.min(rng.int(interval / 2, (interval * 3) / 2), Math.max(0, deadline - performance.now())));
      if (performance.now() >= deadline || faults.length === 0) continue;
      for (const w of [...workers.values()]) await restartIfDead(w);
      if (bag.length === 0) bag.push(...rng.shuffled(faults));
      const fault = bag.pop() as Fault;
      faultsInjected[fault] = (faultsInjected[fault] ?? 0) + 1;
      try {
        event(await inject(fault));
      } catch (err) {
        event(`${fault} failed: ${(err as Error).message}`);
      }
    }

    // ---- heal, then drain ----------------------------------------------------------------------
    event('healing: network clean, broker up, every client running');
    o.proxy?.heal();
    await o.broker?.heal();
    for (const w of workers.values()) {
      if (w.paused) {
        w.child.kill('SIGCONT');
        w.paused = false;
      }
    }
    for (const w of [...workers.values()]) await restartIfDead(w);
    event('stopping producers (they flush what is pending)');
    await Promise.all([...workers.values()].filter((w) => w.kind === 'producer').map((w) => stopWorker(w, 60_000)));
    const acked = [...history.acked.keys()];
    event(`draining: ${acked.length} acknowledged, waiting for the group to handle them`);
    const drainDeadline = performance.now() + (o.drainTimeoutMs ?? 60_000);
    for (;;) {
      const handled = new Set(history.deliveries.map((d) => d.value));
      const missing = acked.filter((v) => !handled.has(v)).length;
      if (missing === 0) break;
      if (performance.now() > drainDeadline) {
        event(`drain timed out with ${missing} acknowledged message(s) not handled`);
        break;
      }
      for (const w of [...workers.values()]) if (w.kind === 'consumer') await restartIfDead(w);
      await sleep(200);
    }
    event('stopping consumers (they commit and leave)');
    await Promise.all([...workers.values()].filter((w) => w.kind === 'consumer').map((w) => stopWorker(w, 60_000)));

    // ---- read everything back ------------------------------------------------------------------
    const described = (await admin.describeTopics([topic]))[0];
    for (const p of described.partitions) {
      history.logEnd.set(p.partition, p.highWatermark);
      history.log.set(p.partition, []);
    }
    const reader = new TopicReader({ brokers: o.brokers, topic, from: 'earliest', clientId: 'holdfast-verify' });
    let remaining = described.partitions.reduce((n, p) => n + Math.max(0, p.highWatermark - p.logStartOffset), 0);
    // A partition that cannot be read to its end must not hang the run: what was read is checked.
    const readTimer = setTimeout(() => {
      event(`final read timed out with ${remaining} message(s) unread`);
      void reader.close();
    }, 60_000);
    if (remaining > 0) {
      for await (const m of reader) {
        const end = history.logEnd.get(m.partition) ?? 0;
        if (m.offset >= end) continue;
        history.log.get(m.partition)?.push({ offset: m.offset, value: m.value === null ? '' : m.value.toString() });
        if (--remaining === 0) break;
      }
    }
    clearTimeout(readTimer);
    await reader.close();
    for (const c of await admin.fetchOffsets(group)) if (c.topic === topic) history.committed.set(c.partition, c.offset);
    history.corruption = (o.broker?.corruption ?? []).slice(corruptionBefore);
    event(`read back ${[...history.log.values()].reduce((n, l) => n + l.length, 0)} message(s); checking`);
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.deleteGroups([group]).catch(() => undefined);
  } finally {
    admin.close();
    for (const w of workers.values()) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        if (w.paused) w.child.kill('SIGCONT');
        w.child.kill('SIGKILL');
      }
    }
  }

  const result = check(history);
  return {
    ...result,
    seed,
    topic,
    group,
    durationSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    faultsInjected,
    faultsSkipped: skipped,
    processes: { producerIncarnations: incarnations.producer, consumerIncarnations: incarnations.consumer },
    timeline,
  };

  async function inject(fault: Fault): Promise<string> {
    switch (fault) {
      case 'broker-kill':
      case 'broker-pause':
      case 'power-loss':
      case 'disk-eio':
      case 'bit-flip':
        return (o.broker as BrokerControl).inject(fault, rng);
      case 'client-kill': {
        const all = [...workers.values()].filter((w) => w.child.exitCode === null && w.child.signalCode === null);
        const w = all[rng.int(0, all.length - 1)];
        w.child.kill('SIGKILL');
        await w.exited;
        const down = rng.int(50, 1000);
        await sleep(down);
        const next = startWorker(w.kind, w.slot);
        return `${w.id} killed (kill -9); ${next.id} started after ${down} ms`;
      }
      case 'client-pause': {
        const all = [...workers.values()].filter((w) => w.child.exitCode === null && w.child.signalCode === null && !w.paused);
        const w = all[rng.int(0, all.length - 1)];
        const ms = rng.int(300, 3000);
        w.child.kill('SIGSTOP');
        w.paused = true;
        await sleep(ms);
        w.child.kill('SIGCONT');
        w.paused = false;
        return `${w.id} paused (SIGSTOP) for ${ms} ms`;
      }
      case 'net-cut': {
        const n = (o.proxy as FaultProxy).cutAll();
        return `network: cut ${n} connection(s)`;
      }
      case 'net-delay': {
        const delay = rng.int(10, 200);
        const ms = rng.int(500, 3000);
        (o.proxy as FaultProxy).setDelay(delay);
        await sleep(ms);
        (o.proxy as FaultProxy).heal();
        return `network: ${delay} ms delay for ${ms} ms`;
      }
      case 'net-stall': {
        const ms = rng.int(300, 3000);
        (o.proxy as FaultProxy).stall();
        await sleep(ms);
        (o.proxy as FaultProxy).heal();
        return `network: stalled (nothing passes) for ${ms} ms`;
      }
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function stopWorker(w: Worker, graceMs: number): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
  await w.exited;
  clearTimeout(timer);
}

/** A few lines a person can read. */
export function summarize(r: VerifyResult): string {
  const lines = [
    `${r.valid ? 'VALID' : 'INVALID'}: seed ${r.seed}, ${r.durationSeconds} s`,
    `  ${r.counts.acked} acknowledged, ${r.counts.failed} failed (${r.counts.failedButStored} of them stored anyway), ${r.counts.unconfirmedStored} unconfirmed but stored; ${r.counts.inLog} in the log`,
    `  consumers handled ${r.counts.delivered} (${r.counts.distinctDelivered} distinct values, ${r.counts.redeliveries} redeliveries); processes: ${r.processes.producerIncarnations} producer and ${r.processes.consumerIncarnations} consumer incarnations`,
    `  faults: ${Object.entries(r.faultsInjected).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
  ];
  for (const s of r.faultsSkipped) lines.push(`  skipped ${s.fault}: ${s.reason}`);
  const bad = Object.entries(r.anomalies).filter(([, n]) => n > 0);
  if (r.counts.corruptionDetected > 0) lines.push(`  bit flips: ${r.counts.corruptionDetected} detected (the broker refused the damaged batch)`);
  lines.push(bad.length === 0 ? `  anomalies: none (${Object.keys(r.anomalies).join(', ')})` : `  anomalies: ${bad.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const e of r.examples) lines.push(`    ${e.kind}: ${e.detail}`);
  return lines.join('\n');
}
