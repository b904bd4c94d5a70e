// The producer's reliability proof (RELIABILITY.md §1, checkers "lost", "duplicated", "order"):
// 50,000 send() calls go through a TCP proxy that cuts every connection at a random moment — after
// a random 0-200 ms, or mid-frame after a random number of bytes. Every call must settle, and the
// log, read straight from the broker (not through the proxy), must hold every acknowledged record
// exactly once, at the offset send() reported, in send order per partition. Records whose send
// rejected may or may not be in the log, but never twice.
//
// Routing through the proxy: the producer bootstraps at the proxy, and the broker's Metadata must
// advertise the proxy too, or the producer would connect to the broker directly after its first
// Metadata answer. The broker advertises its bound port, so the test points the embedded broker's
// `advertised` address at the proxy (a test-only override; a NATed deployment would use
// advertised.host/port config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Rng, silentLogger } from '../../src/util/index.ts';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { ErrorCode } from '../../src/protocol/kafka/index.ts';
import { Producer, partitionForKey, type RecordMetadata } from '../../src/client/index.ts';
import { embeddedBroker, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

const SEED = Number(process.env.HOLDFAST_CHAOS_SEED ?? 0x5eed);
const TOTAL = Number(process.env.HOLDFAST_CHAOS_MESSAGES ?? 50_000);
const WINDOW = 1000;
const PARTITIONS = 3;
const OVERALL_TIMEOUT_MS = 80_000;

interface ChaosProxy {
  port: number;
  /** Connections cut so far. */
  cuts: () => number;
  /** Stop cutting; connections open from now on live until closed. */
  heal: () => void;
  close: () => Promise<void>;
}

/** A TCP proxy to `targetPort` that kills each connection after a random time or byte count. */
async function chaosProxy(targetPort: number, rng: Rng): Promise<ChaosProxy> {
  const open = new Set<Socket>();
  let cuts = 0;
  let healed = false;
  const server: Server = createServer((downstream) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    open.add(downstream);
    open.add(upstream);
    let dead = false;
    const kill = (counted: boolean): void => {
      if (dead) return;
      dead = true;
      if (counted) cuts++;
      downstream.destroy();
      upstream.destroy();
      open.delete(downstream);
      open.delete(upstream);
    };
    // Half the connections die after 0-200 ms, the other half after 0-256 KiB in either direction.
    let budgetBytes = Infinity;
    if (!healed) {
      if (rng.chance(0.5)) setTimeout(() => kill(true), rng.int(0, 200)).unref();
      else budgetBytes = rng.int(0, 256 * 1024);
    }
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (dead) return;
      if (chunk.length > budgetBytes) {
        to.write(chunk.subarray(0, budgetBytes)); // cut mid-frame
        kill(true);
        return;
      }
      budgetBytes -= chunk.length;
      to.write(chunk);
    };
    downstream.on('data', forward(upstream));
    upstream.on('data', forward(downstream));
    for (const s of [downstream, upstream]) {
      s.on('error', () => kill(false));
      s.on('close', () => kill(false));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    cuts: () => cuts,
    heal: () => {
      healed = true;
    },
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function valueOf(i: number): string {
  // ~100 bytes: the send index first, so the log can be checked against the sends.
  return `${String(i).padStart(8, '0')}:${'x'.repeat(91)}`;
}

// Default batches (1 MiB: the window never fills one, so one batch of a partition is in flight at a
// time), and 4 KiB batches, which fill at once, so up to 5 of a partition are in flight when the
// proxy cuts the connection under them.
for (const batchBytes of [undefined, 4096]) {
  const setup = batchBytes === undefined ? 'default batches' : `${batchBytes}-byte batches, several in flight`;
  test(`${TOTAL} sends through a connection-cutting proxy (${setup}): all settle; acknowledged records are in the log once, in order`, { timeout: OVERALL_TIMEOUT_MS + 30_000 }, async (t) => {
    const b = await embeddedBroker();
    const rng = new Rng(SEED);
    const proxy = await chaosProxy(b.broker.port, rng);
    const direct = await TestKafkaClient.connect(b.bootstrap);
    t.diagnostic(`seed ${SEED} (replay with HOLDFAST_CHAOS_SEED=${SEED})`);
    try {
      await b.broker.createTopic('chaos', PARTITIONS, {});
      // Count the retries the broker recognised as exact duplicates (answered with the original offsets).
      // And those refused as out of order: a batch sent behind one that did not reach the log.
      let duplicates = 0;
      let outOfOrder = 0;
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const producers = b.broker.partitionLog('chaos', partition)?.producers;
        assert.ok(producers !== undefined);
        const check = producers.check.bind(producers);
        producers.check = (header) => {
          const result = check(header);
          if (result.kind === 'duplicate') duplicates++;
          if (result.kind === 'error' && result.errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER) outOfOrder++;
          return result;
        };
      }
      b.broker.advertised = { host: '127.0.0.1', port: proxy.port };
      const producer = new Producer({ brokers: [`127.0.0.1:${proxy.port}`], deliveryTimeoutMs: 30_000, requestTimeoutMs: 5_000, connectTimeoutMs: 2_000, batchBytes });

      const acked: Array<RecordMetadata | undefined> = new Array(TOTAL);
      const errors = new Map<string, number>();
      let settled = 0;
      const started = performance.now();
      const allSettled = new Promise<void>((resolve) => {
        let next = 0;
        let outstanding = 0;
        const pump = (): void => {
          while (outstanding < WINDOW && next < TOTAL) {
            const i = next++;
            outstanding++;
            producer
              .send({ topic: 'chaos', key: `key-${i % 64}`, value: valueOf(i) })
              .then(
                (metadata) => {
                  acked[i] = metadata;
                },
                (err: { code?: string }) => {
                  errors.set(err.code ?? String(err), (errors.get(err.code ?? String(err)) ?? 0) + 1);
                },
              )
              .finally(() => {
                outstanding--;
                settled++;
                if (settled === TOTAL) resolve();
                else pump();
              });
          }
        };
        pump();
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), OVERALL_TIMEOUT_MS);
      });
      const outcome = await Promise.race([allSettled.then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const ackedCount = acked.filter((m) => m !== undefined).length;
      t.diagnostic(`${settled}/${TOTAL} settled in ${seconds.toFixed(1)} s: ${ackedCount} acknowledged, rejected ${JSON.stringify(Object.fromEntries(errors))}; proxy cut ${proxy.cuts()} connections; the broker answered ${duplicates} retries as duplicates and refused ${outOfOrder} batches as out of order`);
      assert.equal(outcome, 'done', `only ${settled} of ${TOTAL} sends settled within ${OVERALL_TIMEOUT_MS} ms`);
      assert.ok(proxy.cuts() > 0, 'the proxy cut connections');
      proxy.heal();
      await producer.close();

      // Read back directly from the broker.
      const seen = new Map<number, { partition: number; offset: number }>();
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const { records } = await fetchAll(direct, 'chaos', partition);
        let lastAcked = -1;
        for (const r of records) {
          const i = Number(r.value?.toString().slice(0, 8));
          assert.ok(Number.isSafeInteger(i) && i >= 0 && i < TOTAL, `unexpected record at ${partition}@${r.offset}`);
          assert.equal(r.value?.toString(), valueOf(i));
          assert.equal(seen.has(i), false, `record ${i} is in the log twice (${JSON.stringify(seen.get(i))} and ${partition}@${r.offset})`);
          seen.set(i, { partition, offset: r.offset });
          assert.equal(partition, partitionForKey(`key-${i % 64}`, PARTITIONS), `record ${i} is on the partition of its key`);
          if (acked[i] !== undefined) {
            assert.ok(i > lastAcked, `partition ${partition}: acknowledged record ${i} after ${lastAcked} breaks send order`);
            lastAcked = i;
          }
        }
      }
      let lost = 0;
      for (let i = 0; i < TOTAL; i++) {
        const metadata = acked[i];
        if (metadata === undefined) continue;
        const where = seen.get(i);
        if (where === undefined) {
          lost++;
          continue;
        }
        assert.deepEqual([metadata.partition, metadata.offset], [where.partition, where.offset], `record ${i}: send() reported a different place than the log`);
      }
      assert.equal(lost, 0, `${lost} acknowledged records are missing from the log`);
      t.diagnostic(`log holds ${seen.size} records: all ${ackedCount} acknowledged once each, plus ${seen.size - ackedCount} of the rejected`);
    } finally {
      direct.close();
      await proxy.close();
      await b.close();
      removeDir(b.dataDir);
    }
  });
}

for (const batchBytes of [undefined, 2048]) {
  const setup = batchBytes === undefined ? 'default batches' : `${batchBytes}-byte batches, several in flight`;
  test(`sends across a broker restart (${setup}): every send settles, acknowledged records are in the log once, in order`, { timeout: 90_000 }, async (t) => {
    const first = await embeddedBroker();
    const port = first.broker.port;
    const dataDir = first.dataDir;
    await first.broker.createTopic('restart', PARTITIONS, {});
    const producer = new Producer({ brokers: [first.bootstrap], deliveryTimeoutMs: 30_000, lingerMs: 1, batchBytes });
    const total = 5_000;
    const acked: Array<RecordMetadata | undefined> = new Array(total);
    const errors: string[] = [];
    const sends: Array<Promise<void>> = [];
    let restarted: Broker | null = null;
    try {
      for (let i = 0; i < total; i++) {
        sends.push(producer.send({ topic: 'restart', key: `key-${i % 16}`, value: valueOf(i) }).then((m) => void (acked[i] = m), (err: { code?: string }) => void errors.push(err.code ?? String(err))));
        if (i === total / 2) {
          // Right after a burst of sends, so that some are in flight when the broker stops.
          await new Promise((r) => setImmediate(r));
          t.diagnostic(`broker stops with ${acked.filter((m) => m !== undefined).length} of ${i + 1} sends acknowledged`);
          await first.broker.close(); // everything in flight now is lost or answered; nothing listens
          await new Promise((r) => setTimeout(r, 300));
          restarted = await startBroker({ dataDir, port, logger: silentLogger });
        }
        if (i % 250 === 0) await new Promise((r) => setTimeout(r, 5)); // spread the sends over the restart
      }
      await Promise.all(sends);
      t.diagnostic(`${acked.filter((m) => m !== undefined).length} acknowledged, ${errors.length} rejected ${JSON.stringify(errors.slice(0, 5))}`);
      await producer.close();
      const direct = await TestKafkaClient.connect(`127.0.0.1:${port}`);
      const seen = new Set<number>();
      for (let partition = 0; partition < PARTITIONS; partition++) {
        let lastAcked = -1;
        for (const r of (await fetchAll(direct, 'restart', partition)).records) {
          const i = Number(r.value?.toString().slice(0, 8));
          assert.equal(seen.has(i), false, `record ${i} is in the log twice`);
          seen.add(i);
          if (acked[i] === undefined) continue;
          assert.deepEqual([acked[i]?.partition, acked[i]?.offset], [partition, r.offset], `record ${i} is where send() said`);
          assert.ok(i > lastAcked, `partition ${partition}: ${i} after ${lastAcked} breaks send order`);
          lastAcked = i;
        }
      }
      direct.close();
      for (let i = 0; i < total; i++) if (acked[i] !== undefined) assert.ok(seen.has(i), `acknowledged record ${i} is missing`);
    } finally {
      await producer.close().catch(() => {});
      await restarted?.close();
      removeDir(dataDir);
    }
  });
}
