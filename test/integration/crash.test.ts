// Crash safety of the default flush.mode=sync: a broker process is SIGKILLed at random moments
// during continuous acks=all production, again and again. After every restart each acknowledged
// message must be in the log, in acknowledgement order, exactly once, and the broker must accept
// new writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBatch } from '../../src/record/index.ts';
import { Rng } from '../../src/util/index.ts';
import { spawnBroker, tempDir, removeDir } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { fetchAll } from '../helpers/fetch-all.ts';

const KILLS = Number(process.env.HOLDFAST_CRASH_KILLS ?? 20);
const PARTITIONS = 2;
const IN_FLIGHT = 8;

async function produceUntilKilled(client: TestKafkaClient, rng: Rng, nextId: { n: number }, acked: number[][], stop: Promise<void>): Promise<void> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const worker = async (): Promise<void> => {
    while (!stopped && !client.closed) {
      const partition = rng.int(0, PARTITIONS - 1);
      const count = rng.int(1, 20);
      const ids: number[] = [];
      for (let i = 0; i < count; i++) ids.push(nextId.n++);
      const records = ids.map((id) => ({ key: `k${id % 13}`, value: `msg-${id}-${'x'.repeat(id % 50)}` }));
      const batch = buildBatch({ records, compression: rng.pick(['none', 'gzip', 'zstd'] as const) });
      try {
        const res = await client.request(0, 7, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 30000,
          topicData: [{ name: 'crash', partitionData: [{ index: partition, records: batch }] }],
        });
        const p = res.responses[0].partitionResponses[0];
        if (p.errorCode === 0) acked[partition].push(...ids);
      } catch {
        return; // connection died: the broker was killed; the fate of this request is unknown
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

test(`SIGKILL during acks=all production ${KILLS} times loses no acknowledged message`, { timeout: 900_000 }, async () => {
  const seed = Number(process.env.HOLDFAST_CRASH_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const dataDir = tempDir('holdfast-crash-');
  const acked: number[][] = Array.from({ length: PARTITIONS }, () => []);
  const nextId = { n: 0 };
  let totalAcked = 0;
  try {
    for (let round = 0; round <= KILLS; round++) {
      const broker = await spawnBroker(dataDir);
      const client = await TestKafkaClient.connect(broker.bootstrap);
      if (round === 0) {
        const res = await client.request(19, 3, { topics: [{ name: 'crash', numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10000, validateOnly: false });
        assert.equal(res.topics[0].errorCode, 0);
      }
      // Verify everything acknowledged so far survived the previous kill.
      for (let p = 0; p < PARTITIONS; p++) {
        const { records } = await fetchAll(client, 'crash', p);
        const ids = records.map((r) => Number(/^msg-(\d+)-/.exec(r.value!.toString())![1]));
        const present = new Set<number>();
        for (const id of ids) {
          assert.ok(!present.has(id), `seed ${seed} round ${round}: message ${id} duplicated in partition ${p}`);
          assert.ok(id < nextId.n, `seed ${seed}: message ${id} was never sent`);
          present.add(id);
        }
        const position = new Map(ids.map((id, i) => [id, i]));
        let prev = -1;
        for (const id of acked[p]) {
          const at = position.get(id);
          assert.ok(at !== undefined, `seed ${seed} round ${round}: acknowledged message ${id} lost from partition ${p}`);
          assert.ok(at > prev, `seed ${seed} round ${round}: acknowledged message ${id} out of order in partition ${p}`);
          prev = at;
        }
      }
      totalAcked = acked[0].length + acked[1].length;
      if (round === KILLS) {
        // The broker still accepts writes after the last recovery.
        const res = await client.request(0, 7, { transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: 'crash', partitionData: [{ index: 0, records: buildBatch({ records: [{ value: 'after' }] }) }] }] });
        assert.equal(res.responses[0].partitionResponses[0].errorCode, 0);
        client.close();
        await broker.kill('SIGTERM');
        break;
      }
      const killAfterMs = rng.int(20, 400);
      const stop = new Promise<void>((resolve) => setTimeout(resolve, killAfterMs + 1000));
      const producing = produceUntilKilled(client, rng, nextId, acked, stop);
      await new Promise((r) => setTimeout(r, killAfterMs));
      await broker.kill('SIGKILL');
      await producing;
      client.close();
    }
    assert.ok(totalAcked > KILLS * 10, `only ${totalAcked} messages were acknowledged in ${KILLS} rounds: the test did not exercise much`);
  } finally {
    removeDir(dataDir);
  }
});
