// The peer side of `bench:compare`: Holdfast's W1/W2 workloads (bench/peers/workloads.ts) run
// against RabbitMQ, NATS JetStream and Redis Streams, each from Debian 12's packages.
//
//   npx node bench/peers/run.ts [--peers rabbitmq,nats,redis] [--workloads W1,W2]
//                               [--modes durable,fast] [--duration 20]
//
// One JSON line per peer × workload × mode on stdout, a table on stderr. Each run gets a fresh
// server (started and stopped here, data in a temp dir). runPeers() does the same for a script.
//
// ---- Peer settings (as measured) --------------------------------------------------------------
// Common to every peer and mode: the rules of `holdfast bench`. One producer process and one
// consumer process (children of the bench process, on the same 2-core machine as the server),
// messages of 1024 B (W1) or 100 B (W2) whose first 8 bytes are the send time, at most 1000
// messages unacknowledged by the broker at any time, max rate, for --duration seconds of which the
// first 10% (at least 1 s) is warm-up and not measured; one queue/stream, one consumer that
// acknowledges each message individually with at most 1000 delivered and unacknowledged; then a
// drain until every acknowledged message has been consumed. Latency = consumer receipt time minus
// the send time in the message, for messages sent in the measured window. Broker CPU = utime +
// stime of the server process (beam.smp for RabbitMQ) over the measured window, per acknowledged
// message. Servers run as the current user on 127.0.0.1 on free ports, data in a temp dir on the
// same disk as Holdfast's bench, with the distributions' defaults except as listed.
//
// RabbitMQ 3.10.8 (Erlang/OTP 25), single node, empty rabbitmq.conf, no plugins; amqplib client,
// one connection and one channel per process.
//   durable  quorum queue (x-queue-type quorum, 1 member). Producer: publisher confirms
//            (ConfirmChannel), persistent messages (delivery-mode 2) to the default exchange; a
//            confirm comes after the message is in the Raft log and the log's WAL is fsynced
//            (fdatasync). Consumer: basic.qos prefetch 1000 (per consumer), manual ack, one
//            basic.ack per message.
//   fast     stream queue (x-queue-type stream, 1 member), same producer (confirms, persistent).
//            Streams never fsync: a confirm means written to the segment file (OS page cache).
//            Consumer over AMQP: x-stream-offset first, basic.qos prefetch 1000, manual ack (both
//            required for streams), one basic.ack per message.
// NATS 2.9.10, `nats-server -js -sd <tmp> -a 127.0.0.1 -p <port>`, no config file; nats.js 2.x
// client, one connection per process. One stream, file storage, limits retention, 1 replica.
//   Producer: what js.publish does, minus its per-message promise and timer: one core publish
//   per message with its own reply subject, counted when the stream's PubAck for it arrives (one
//   wildcard subscription collects them; up to 1000 outstanding). (nats.js js.publish itself used a
//   whole core at ~25k msg/s here, W1 fast, and would have measured the client, not the server.)
//   Consumer: durable pull consumer, ack_policy explicit, deliver_policy all, max_ack_pending 1000,
//   consume() with max_messages 1000, one ack per message.
//   durable = fast: 2.9.10 has no way to fsync before the PubAck. The `sync_interval` option
//   (a duration, or `always` for an fsync on every write) came with nats-server 2.10.0
//   (nats-server PR #4483); 2.9.10 refuses it ("unknown field"). In 2.9 a PubAck means the
//   message was written (one pwrite per message) to the stream's block file in the OS page cache:
//   it survives a crash of the server process but not of the OS or the machine; the server fsyncs
//   only in the background (the timer that 2.10 made configurable defaults to 2 minutes). The
//   durable rows are printed for the comparison but run the same configuration as the fast rows
//   (fsyncBeforeAck: false in both).
// Checked with `strace -f -c` on the server during a 5 s W1 run: NATS 37,172 pwrite64 for 37,163
//   messages and no fsync/fdatasync; RabbitMQ quorum 974 fdatasync for 59,960 messages (group
//   commit), RabbitMQ stream 16 fdatasync + 13 fsync for 71,000 (housekeeping, none per write);
//   Redis always 4,284 fdatasync for 75,000, Redis no 17 (all from the AOF-rewrite child).
// Redis 7.0.15, `redis-server --bind 127.0.0.1 --port <port> --dir <tmp> --appendonly yes
// --appendfsync <always|no> --save ''`, no config file (RDB snapshots off, AOF auto-rewrite at the
// defaults); ioredis client with auto-pipelining, one connection per process. One stream (no
// MAXLEN trimming), one consumer group created before the producer starts.
//   Producer: one XADD per message (* id, one field), each awaiting its reply.
//   Consumer: XREADGROUP COUNT 1000 BLOCK 100 ... >, then one XACK per message (pipelined with the
//   next read, not awaited).
//   durable  appendfsync always: the AOF is written and fsynced for all the commands of one event
//            loop iteration (a group commit) before their replies are sent.
//   fast     appendfsync no: the AOF is written before the replies but Redis never fsyncs it (the
//            OS writes it back, typically within 30 s).
// ------------------------------------------------------------------------------------------------
import { parseArgs } from 'node:util';
import { formatNumber as fmt, table } from '../../src/cli/common.ts';
import { PEER_SYSTEMS, killAllNow, startPeerServer, type PeerMode, type PeerSystem } from './servers.ts';
import { PEER_WORKLOADS, runPeerWorkload, type PeerResult, type PeerWorkloadName } from './workloads.ts';

export type { PeerResult } from './workloads.ts';
export type { PeerMode, PeerSystem } from './servers.ts';

export interface PeerOptions {
  /** Default: all three. */
  peers?: PeerSystem[];
  /** Default: W1, W2. */
  workloads?: PeerWorkloadName[];
  /** Default: durable, fast. */
  modes?: PeerMode[];
  /** Seconds per run, warm-up included (default 20). */
  durationSeconds?: number;
  inFlight?: number;
  prefetch?: number;
  /** Called with each result as it is measured. */
  onResult?: (r: PeerResult) => void;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/**
 * Runs every peer × workload × mode, each against a fresh server, and returns the results. A run
 * that fails is reported through `log` and left out; the others still run.
 */
export async function runPeers(options: PeerOptions = {}): Promise<PeerResult[]> {
  const peers = options.peers ?? PEER_SYSTEMS;
  const workloads = options.workloads ?? (Object.keys(PEER_WORKLOADS) as PeerWorkloadName[]);
  const modes = options.modes ?? ['durable', 'fast'];
  const durationMs = Math.round((options.durationSeconds ?? 20) * 1000);
  const log = options.log ?? (() => undefined);
  const results: PeerResult[] = [];
  for (const system of peers) {
    for (const mode of modes) {
      for (const workload of workloads) {
        const label = `${system} ${workload} ${mode}`;
        log(`[peers] ${label}: starting the server`);
        let server;
        try {
          server = await startPeerServer(system, mode);
        } catch (err) {
          log(`[peers] ${label}: FAILED to start the server: ${(err as Error).message}`);
          continue;
        }
        try {
          log(`[peers] ${label}: ${server.system} ${server.version} on ${server.host}:${server.port} (pid ${server.pid}), running ${durationMs / 1000} s`);
          const r = await runPeerWorkload({
            system,
            workload,
            mode,
            server,
            durationMs,
            inFlight: options.inFlight,
            prefetch: options.prefetch,
            onProgress: (p) => log(`[peers] ${label}: ${p.phase} acked ${p.acked} consumed ${p.consumed}`),
          });
          results.push(r);
          options.onResult?.(r);
        } catch (err) {
          log(`[peers] ${label}: FAILED: ${(err as Error).stack ?? err}\n${server.logTail()}`);
        } finally {
          await server.stop();
        }
      }
    }
  }
  return results;
}

/** A `log` for runPeers to stderr: progress lines at most every `ms`, everything else as it comes. */
export function throttledProgressLog(ms: number): (line: string) => void {
  let lastProgress = 0;
  return (line) => {
    if (/: (running|draining) acked/.test(line)) {
      if (Date.now() - lastProgress < ms) return;
      lastProgress = Date.now();
    }
    process.stderr.write(`${line}\n`);
  };
}

/** The human summary of peer results. */
export function peerTable(results: PeerResult[]): string {
  const rows = [['system', 'workload', 'mode', 'fsync', 'produce msg/s', 'MB/s', 'e2e msg/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'broker µs/msg', 'complete']];
  for (const r of results) {
    rows.push([
      `${r.system} ${r.version}`,
      r.workload,
      r.mode,
      r.fsyncBeforeAck ? 'yes' : 'no',
      fmt(r.produceMsgPerSec),
      fmt(r.produceMBPerSec, 1),
      fmt(r.e2eMsgPerSec),
      fmt(r.latencyMs.p50, 2),
      fmt(r.latencyMs.p99, 2),
      fmt(r.latencyMs.p999, 2),
      fmt(r.latencyMs.max, 2),
      fmt(r.brokerCpuUsPerMessage, 2),
      r.complete ? 'yes' : `NO (${r.consumed}/${r.produced})`,
    ]);
  }
  return table(rows);
}

export function listOption<T extends string>(name: string, value: string | undefined, known: readonly T[], normalize: (s: string) => string): T[] | undefined {
  if (value === undefined) return undefined;
  const out: T[] = [];
  for (const part of value.split(',').map((s) => normalize(s.trim())).filter((s) => s !== '')) {
    if (!(known as readonly string[]).includes(part)) throw new Error(`--${name}: unknown "${part}"; known: ${known.join(', ')}`);
    if (!out.includes(part as T)) out.push(part as T);
  }
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string' },
      workloads: { type: 'string' },
      modes: { type: 'string' },
      duration: { type: 'string', default: '20' },
      'in-flight': { type: 'string' },
      prefetch: { type: 'string' },
    },
  });
  const duration = Number(values.duration);
  if (!(duration >= 2)) throw new Error(`--duration must be a number of seconds >= 2, got "${values.duration}"`);
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${name} must be a positive integer, got "${v}"`);
    return Number(v);
  };
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    killAllNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const peers = listOption('peers', values.peers, PEER_SYSTEMS, (s) => s.toLowerCase()) ?? PEER_SYSTEMS;
  const workloads = listOption('workloads', values.workloads, Object.keys(PEER_WORKLOADS) as PeerWorkloadName[], (s) => s.toUpperCase()) ?? ['W1', 'W2'];
  const modes = listOption('modes', values.modes, ['durable', 'fast'] as const, (s) => s.toLowerCase()) ?? ['durable', 'fast'];
  const results = await runPeers({
    peers,
    workloads,
    modes,
    durationSeconds: duration,
    inFlight: int('in-flight', values['in-flight']),
    prefetch: int('prefetch', values.prefetch),
    onResult: (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    log: throttledProgressLog(2000),
  });
  if (results.length > 0) process.stderr.write(`\n${peerTable(results)}\n`);
  const expected = peers.length * workloads.length * modes.length;
  return results.length === expected && results.every((r) => r.complete && r.failed === 0) ? 0 : 1;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error)?.message ?? err}\n`);
      killAllNow();
      process.exit(2);
    },
  );
}
