// `npm run bench:compare`: Holdfast and its peers on the same workloads, in one run, with a table
// of ratios Holdfast/peer.
//
//   npm run bench:compare [-- --duration 20] [--peers rabbitmq,nats,redis] [--workloads W1,W2]
//                              [--modes durable,fast] [--out bench-results]
//
// For each mode, then each workload: `holdfast bench` (src/cli/bench: a `holdfast serve` it starts,
// Holdfast Producer and Consumer processes), then every peer (bench/peers: a fresh server from
// Debian's packages, its usual Node client), one after the other, so that drift in the machine's
// load hits all sides of a row alike. The rules are the same on every side (in-flight window of
// 1,000 unacknowledged messages, per-message consumer acknowledgement, warm-up of 10%, drain until
// every acknowledged message is consumed); the exact settings of every peer are at the top of
// bench/peers/run.ts and in the README ("Benchmarks").
//
// Output: one JSON line per measurement (`side: "holdfast"` or `"peer"`) and one per ratio row
// (`type: "ratio"`) on stdout, the tables on stderr, and everything in <out>/compare.json.
// Exit status 0 when every run completed (every acknowledged message was consumed), 1 otherwise.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_LINGER_MS, DEFAULT_MAX_UNCOMMITTED, WORKLOADS, runBench, summaryTable, type BenchResult } from '../src/cli/bench/index.ts';
import { PEER_SYSTEMS, killAllNow, type PeerMode, type PeerSystem } from './peers/servers.ts';
import { listOption, peerTable, runPeers, throttledProgressLog, type PeerResult } from './peers/run.ts';
import { formatNumber as fmt, table } from '../src/cli/common.ts';
import { DEFAULT_IN_FLIGHT, type PeerWorkloadName } from './peers/workloads.ts';

export interface RatioRow {
  type: 'ratio';
  workload: PeerWorkloadName;
  mode: PeerMode;
  peer: string;
  /** The peer acknowledges only after an fsync (Holdfast durable always does; fast never does). */
  peerFsyncsBeforeAck: boolean;
  holdfast: { e2eMsgPerSec: number; produceMsgPerSec: number; p99Ms: number | null; brokerCpuUsPerMessage: number | null };
  other: { e2eMsgPerSec: number; produceMsgPerSec: number; p99Ms: number | null; brokerCpuUsPerMessage: number | null };
  /** Holdfast / peer. Above 1 is better for Holdfast in throughput, below 1 in latency and CPU. */
  ratio: { e2e: number | null; produce: number | null; p99: number | null; brokerCpu: number | null };
}

/** a / b to 3 significant digits (a p99 ratio can be 0.002: two decimals would print 0.00). */
function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return Number((a / b).toPrecision(3));
}

export function ratioRows(holdfast: BenchResult[], peers: PeerResult[]): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const h of holdfast) {
    for (const p of peers) {
      if (p.workload !== h.workload || p.mode !== h.mode) continue;
      const hs = { e2eMsgPerSec: h.e2eMsgPerSec, produceMsgPerSec: h.produceMsgPerSec, p99Ms: h.latencyMs.p99, brokerCpuUsPerMessage: h.brokerCpuUsPerMessage };
      const ps = { e2eMsgPerSec: p.e2eMsgPerSec, produceMsgPerSec: p.produceMsgPerSec, p99Ms: p.latencyMs.p99, brokerCpuUsPerMessage: p.brokerCpuUsPerMessage };
      rows.push({
        type: 'ratio',
        workload: p.workload,
        mode: p.mode,
        peer: `${p.system} ${p.version}`,
        peerFsyncsBeforeAck: p.fsyncBeforeAck,
        holdfast: hs,
        other: ps,
        ratio: {
          e2e: ratio(hs.e2eMsgPerSec, ps.e2eMsgPerSec),
          produce: ratio(hs.produceMsgPerSec, ps.produceMsgPerSec),
          p99: ratio(hs.p99Ms, ps.p99Ms),
          brokerCpu: ratio(hs.brokerCpuUsPerMessage, ps.brokerCpuUsPerMessage),
        },
      });
    }
  }
  return rows;
}

function times(n: number | null): string {
  return n === null ? '-' : `${n >= 1 ? n.toFixed(2) : String(n)}×`;
}

export function ratioTable(rows: RatioRow[]): string {
  const out = [['workload', 'mode', 'peer', 'peer fsync', 'e2e msg/s holdfast', 'peer', 'e2e ×', 'produce ×', 'p99 ms holdfast', 'peer', 'p99 ×', 'broker µs/msg holdfast', 'peer', 'CPU ×']];
  for (const r of rows) {
    out.push([
      r.workload,
      r.mode,
      r.peer,
      r.peerFsyncsBeforeAck ? 'yes' : 'no',
      fmt(r.holdfast.e2eMsgPerSec),
      fmt(r.other.e2eMsgPerSec),
      times(r.ratio.e2e),
      times(r.ratio.produce),
      fmt(r.holdfast.p99Ms, 2),
      fmt(r.other.p99Ms, 2),
      times(r.ratio.p99),
      fmt(r.holdfast.brokerCpuUsPerMessage, 2),
      fmt(r.other.brokerCpuUsPerMessage, 2),
      times(r.ratio.brokerCpu),
    ]);
  }
  return table(out);
}

/** A comma list option (case-insensitive), or `fallback` when absent; an empty list is an error. */
function list<T extends string>(name: string, value: string | undefined, known: readonly T[], fallback: T[], normalize: (s: string) => string): T[] {
  const out = listOption(name, value, known, normalize) ?? fallback;
  if (out.length === 0) throw new Error(`--${name}: empty`);
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      peers: { type: 'string' },
      workloads: { type: 'string' },
      modes: { type: 'string' },
      out: { type: 'string', default: 'bench-results' },
    },
    strict: true,
  });
  const seconds = Number(values.duration);
  if (!Number.isFinite(seconds) || seconds < 2) throw new Error(`--duration must be a number of seconds >= 2, got "${values.duration}"`);
  const lower = (s: string): string => s.toLowerCase();
  const peers = list<PeerSystem>('peers', values.peers, PEER_SYSTEMS, PEER_SYSTEMS, lower);
  const workloads = list<PeerWorkloadName>('workloads', values.workloads, ['W1', 'W2'], ['W1', 'W2'], (s) => s.toUpperCase());
  const modes = list<PeerMode>('modes', values.modes, ['durable', 'fast'], ['durable', 'fast'], lower);
  const onSignal = (): void => {
    killAllNow();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const emit = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const progressLog = throttledProgressLog(5000);
  const holdfast: BenchResult[] = [];
  const others: PeerResult[] = [];
  let incomplete = 0;
  for (const mode of modes) {
    for (const workload of workloads) {
      log(`[holdfast] ${workload} ${mode}: running ${seconds} s`);
      try {
        const r = await runBench({
          workload: WORKLOADS[workload],
          mode,
          durationMs: seconds * 1000,
          partitions: 16,
          inFlight: DEFAULT_IN_FLIGHT,
          lingerMs: DEFAULT_LINGER_MS,
          maxUncommittedMessages: DEFAULT_MAX_UNCOMMITTED,
          outDir: values.out,
        });
        holdfast.push(r);
        emit({ side: 'holdfast', ...r });
        if (!r.complete || r.failed > 0) incomplete++;
      } catch (err) {
        incomplete++;
        log(`[holdfast] ${workload} ${mode}: FAILED: ${(err as Error)?.message ?? err}`);
      }
      const rs = await runPeers({
        peers,
        workloads: [workload],
        modes: [mode],
        durationSeconds: seconds,
        inFlight: DEFAULT_IN_FLIGHT,
        onResult: (r) => emit({ side: 'peer', ...r }),
        log: progressLog,
      });
      others.push(...rs);
      incomplete += peers.length - rs.length + rs.filter((r) => !r.complete || r.failed > 0).length;
    }
  }
  const rows = ratioRows(holdfast, others);
  for (const r of rows) emit(r);
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, 'compare.json');
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), durationSeconds: seconds, holdfast, peers: others, ratios: rows }, null, 2) + '\n');
  log('');
  if (holdfast.length > 0) log(`Holdfast:\n${summaryTable(holdfast)}\n`);
  if (others.length > 0) log(`Peers:\n${peerTable(others)}\n`);
  if (rows.length > 0) log(`Holdfast / peer (× above 1 = Holdfast higher; for p99 and CPU lower is better):\n${ratioTable(rows)}\n`);
  log(`results: ${file}`);
  return incomplete === 0 ? 0 : 1;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench:compare: ${(err as Error)?.message ?? err}\n`);
      killAllNow();
      process.exit(2);
    },
  );
}
