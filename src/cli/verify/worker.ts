// A producer or consumer process of a verify run. It reports to the orchestrator on stdout, one
// JSON object per line (a pipe: each write reaches the kernel before write() returns, so what was
// reported survives a kill -9 of this process):
//   producer  {"t":"a","s":N}            about to send seqs up to N (the attempt watermark)
//             {"t":"k","s":N,"p":P,"o":O} seq N acknowledged at partition P, offset O
//             {"t":"f","s":N,"e":CODE}   seq N failed (may still be stored: indeterminate)
//   consumer  {"t":"d","p":P,"o":O,"v":V} the handler ran for this message (before it returns)
//   both      {"t":"done"}               stopped cleanly after SIGTERM
// Values are `<worker id>:<seq>`; keys spread them over the partitions.
import { writeSync } from 'node:fs';
import { Consumer, Producer } from '../../client/index.ts';

export interface ProducerWorkerArgs {
  role: 'producer';
  id: string;
  brokers: string[];
  topic: string;
  /** Messages per second. */
  rate: number;
  /** Unacknowledged messages at most. */
  inFlight: number;
  /** The Producer's batchBytes; small batches fill from a backlog, so several of a partition go out at once (maxInFlight). */
  batchBytes?: number;
  /** Bytes of padding in a header of every record (not checked): a backlog left by a fault then goes out in requests larger than one socket read. */
  headerBytes?: number;
}

export interface ConsumerWorkerArgs {
  role: 'consumer';
  id: string;
  brokers: string[];
  topic: string;
  group: string;
  sessionTimeoutMs: number;
}

export type WorkerArgs = ProducerWorkerArgs | ConsumerWorkerArgs;

function report(line: object): void {
  writeSync(1, JSON.stringify(line) + '\n');
}

async function runProducer(a: ProducerWorkerArgs): Promise<void> {
  const producer = new Producer({ brokers: a.brokers, clientId: a.id, requestTimeoutMs: 5000, deliveryTimeoutMs: 30_000, retryBackoffMaxMs: 1000, lingerMs: 2, batchBytes: a.batchBytes });
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  let seq = 0;
  let inFlight = 0;
  const headers = (a.headerBytes ?? 0) > 0 ? { pad: Buffer.alloc(a.headerBytes as number, 0x70) } : undefined;
  const started = performance.now();
  while (!stopping) {
    const due = Math.floor(((performance.now() - started) / 1000) * a.rate);
    const n = Math.min(due - seq, a.inFlight - inFlight);
    if (n > 0) {
      report({ t: 'a', s: seq + n - 1 });
      for (let i = 0; i < n; i++, seq++) {
        const s = seq;
        inFlight++;
        producer.send({ topic: a.topic, key: `k${s % 64}`, value: `${a.id}:${s}`, headers }).then(
          (m) => report({ t: 'k', s, p: m.partition, o: m.offset }),
          (err: unknown) => report({ t: 'f', s, e: (err as { code?: string }).code ?? String(err) }),
        ).finally(() => inFlight--);
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await producer.close();
  report({ t: 'done' });
}

async function runConsumer(a: ConsumerWorkerArgs): Promise<void> {
  const consumer = new Consumer({
    brokers: a.brokers,
    groupId: a.group,
    topics: [a.topic],
    clientId: a.id,
    autoOffsetReset: 'earliest',
    sessionTimeoutMs: a.sessionTimeoutMs,
    heartbeatIntervalMs: Math.max(100, Math.floor(a.sessionTimeoutMs / 5)),
    rebalanceTimeoutMs: 20_000,
    requestTimeoutMs: 10_000,
    maxWaitMs: 200,
  });
  process.once('SIGTERM', () => void consumer.close());
  await consumer.run((m) => {
    report({ t: 'd', p: m.partition, o: m.offset, v: m.value === null ? null : m.value.toString() });
  });
  report({ t: 'done' });
}

if (import.meta.main) {
  const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
  (args.role === 'producer' ? runProducer(args) : runConsumer(args)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`verify worker ${args.id}: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
