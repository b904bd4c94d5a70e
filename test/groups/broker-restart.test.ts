// Group state across a broker crash: the broker runs as a child process and is SIGKILLed at a random
// moment while (a) a wire-level client pipelines "simple" OffsetCommits (generation -1) and records
// which ones were acknowledged, and (b) two kafkajs consumers of one group consume with auto-commit
// while a producer keeps producing. It restarts on the same data directory and port. Acknowledged
// commits must survive exactly (never lost, never moved backwards), the group must resume, and every
// acknowledged message must be processed at least once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { Rng } from '../../src/util/index.ts';
import { removeDir, spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker.ts';
import { TestKafkaClient } from '../helpers/kafka-client.ts';
import { API, commit, fetchOffsets, heartbeat, join, sleep, soloMember, timeout, waitFor } from './wire.ts';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

const TOPIC = 'events';
const PARTITIONS = 4;
const KJS_GROUP = 'restart-consumers';
const SIMPLE_GROUP = 'restart-simple-committer';
const PRE_PRODUCED = 3000;
const COMMIT_PIPELINE = 8;
/** The simple committer commits every partition of this topic at once: enough records to make the offsets log compact itself (at 10,000 records) before the crash. */
const LEDGER = 'ledger';
const LEDGER_PARTITIONS = 32;
/** A wire-level member that is Stable at the crash and never comes back. */
const GHOST_GROUP = 'restart-ghost';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

test('SIGKILL mid-consumption: acknowledged commits survive exactly and the group resumes', { timeout: 120_000 }, async () => {
  const seed = Number(process.env.HOLDFAST_TEST_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const dataDir = tempDir();
  const configDir = tempDir('holdfast-cfg-');
  const configFile = joinPath(configDir, 'holdfast.yaml');
  writeFileSync(configFile, ['group.initial.rebalance.delay.ms: 0', 'group.min.session.timeout.ms: 1000', 'log.level: warn', ''].join('\n'));
  const port = await freePort();
  const args = ['--config', configFile];
  let broker: BrokerProcess = await spawnBroker(dataDir, args, port);
  const bootstrap = broker.bootstrap;
  const context = (): string => `seed ${seed}; broker stderr tail:\n${broker.stderr.slice(-20).join('\n')}`;

  const kafka = new Kafka({ clientId: 'restart-kjs', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }, { topic: LEDGER, numPartitions: LEDGER_PARTITIONS }] });
  await admin.disconnect();

  // ---- producer: a first load, then a trickle that continues across the crash ---------------------
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const acked = new Set<number>();
  let seq = 0;
  const sendBatch = async (n: number): Promise<void> => {
    const messages = [];
    const seqs: number[] = [];
    for (let i = 0; i < n; i++, seq++) {
      messages.push({ partition: seq % PARTITIONS, value: String(seq) });
      seqs.push(seq);
    }
    await producer.send({ topic: TOPIC, acks: -1, messages });
    for (const s of seqs) acked.add(s);
  };
  for (let i = 0; i < PRE_PRODUCED; i += 500) await sendBatch(500);
  let producing = true;
  const trickle = (async () => {
    while (producing) {
      await sendBatch(8).catch(() => {}); // a send that failed across the crash is not acknowledged
      await sleep(50);
    }
  })();

  // ---- (a) simple commits, pipelined, with acknowledged/sent bookkeeping -------------------------
  const sent = Array.from({ length: LEDGER_PARTITIONS }, () => new Set<number>());
  const ackedCommit = new Array<number>(LEDGER_PARTITIONS).fill(-1);
  const commitErrors: string[] = [];
  let killed = false;
  let acknowledgedCommits = 0;
  const committer = await TestKafkaClient.connect(bootstrap);
  const commitLoop = (async () => {
    let k = 0;
    const inflight = new Set<Promise<void>>();
    while (!killed && !committer.closed) {
      while (inflight.size >= COMMIT_PIPELINE) await Promise.race(inflight);
      if (killed || committer.closed) break;
      const offset = ++k;
      for (const s of sent) s.add(offset);
      const p = commit(committer, {
        groupId: SIMPLE_GROUP,
        version: 2 + (offset % 6),
        offsets: Array.from({ length: LEDGER_PARTITIONS }, (_, partition) => ({ topic: LEDGER, partition, offset: offset * 100 + partition, metadata: `m${offset}` })),
      }).then(
        (codes) => {
          for (const [tp, code] of codes) if (code !== 0) commitErrors.push(`${tp}@${offset}: error ${code}`);
          if ([...codes.values()].every((c) => c === 0)) {
            acknowledgedCommits++;
            for (let partition = 0; partition < LEDGER_PARTITIONS; partition++) ackedCommit[partition] = Math.max(ackedCommit[partition], offset);
          }
        },
        () => {}, // the connection died with the broker: outcome unknown
      );
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
    }
    await Promise.allSettled(inflight);
  })();

  // ---- a member that will never return after the crash -----------------------------------------
  const ghostClient = await TestKafkaClient.connect(bootstrap);
  const ghost = await soloMember(ghostClient, GHOST_GROUP, { [TOPIC]: [0, 1, 2, 3] }, { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000 });
  const ghostBeat = setInterval(() => void heartbeat(ghostClient, { groupId: GHOST_GROUP, generationId: ghost.generationId, memberId: ghost.memberId }).catch(() => {}), 200);

  // ---- (b) kafkajs consumers with auto-commit --------------------------------------------------
  const processed = new Set<number>();
  const kjsAckedCommit = new Array<number>(PARTITIONS).fill(-1);
  let restarted = false;
  const staleAfterRestart: string[] = [];
  let deliveredAfterRestart = 0;
  const consumers = ['k1', 'k2'].map((name) => {
    const consumer = kafka.consumer({ groupId: KJS_GROUP, sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
    consumer.on(consumer.events.COMMIT_OFFSETS, (e: { payload: { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> } }) => {
      if (killed) return; // only commits acknowledged before the kill count
      for (const t of e.payload.topics) for (const p of t.partitions) kjsAckedCommit[p.partition] = Math.max(kjsAckedCommit[p.partition], Number(p.offset));
    });
    return { name, consumer };
  });
  for (const { name, consumer } of consumers) {
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }: { partition: number; message: { value: Buffer; offset: string } }) => {
        const offset = Number(message.offset);
        if (restarted) {
          deliveredAfterRestart++;
          // Below an acknowledged commit means the consumer was sent back: a commit was lost.
          if (offset < kjsAckedCommit[partition]) staleAfterRestart.push(`${name} got ${TOPIC}-${partition}@${offset} below acknowledged commit ${kjsAckedCommit[partition]}`);
        }
        processed.add(Number(message.value.toString()));
        await sleep(1); // consume slowly enough for the crash to land mid-way
      },
    });
  }

  try {
    // Kill at a random moment once consumption and committing are well under way.
    const target = Math.floor(PRE_PRODUCED * (0.2 + 0.4 * rng.next()));
    // 400 commits of 32 partitions are 12,800 records: the offsets log has compacted itself at least once.
    assert.ok(await waitFor(() => processed.size >= target && acknowledgedCommits >= 400, 60_000), `consumption reached ${target} (${processed.size}) with ${acknowledgedCommits} commits; ${context()}`);
    const offsetsLogStart = async (): Promise<number> => {
      const r = await committer.request(2, 1, { replicaId: -1, topics: [{ name: '__consumer_offsets', partitions: [{ partitionIndex: 0, timestamp: -2 }] }] });
      return r.topics[0].partitions[0].offset as number;
    };
    assert.ok(await waitFor(async () => (await offsetsLogStart()) > 0, 10_000), 'the offsets log compacted itself before the crash (its start offset moved)');
    await sleep(rng.int(0, 300));
    killed = true;
    await broker.kill('SIGKILL');
    clearInterval(ghostBeat);
    ghostClient.close();
    const processedAtKill = processed.size;
    await commitLoop;
    committer.close();

    broker = await spawnBroker(dataDir, args, port);
    restarted = true;

    // (a) Every acknowledged commit survived, and what is stored is a value that was really sent.
    const check = await TestKafkaClient.connect(bootstrap);
    try {
      const f = await fetchOffsets(check, SIMPLE_GROUP, null);
      assert.deepEqual(commitErrors, [], 'no commit was refused');
      assert.equal(f.offsets.size, LEDGER_PARTITIONS, 'the simple committer group has exactly its partitions');
      for (let partition = 0; partition < LEDGER_PARTITIONS; partition++) {
        const got = f.offsets.get(`${LEDGER}/${partition}`);
        assert.ok(got, `partition ${partition} has a committed offset after the restart; ${context()}`);
        const k = Math.floor(got.offset / 100);
        assert.equal(got.offset % 100, partition, 'the stored offset is one that was sent for this partition');
        assert.ok(k >= ackedCommit[partition], `partition ${partition}: committed ${k} after restart, but ${ackedCommit[partition]} was acknowledged before the kill; ${context()}`);
        assert.ok(sent[partition].has(k), `partition ${partition}: committed ${k} was never sent`);
        assert.equal(got.metadata, `m${k}`, 'the metadata is the one committed with that offset');
      }
      // (b) The kafkajs group's acknowledged commits survived too (they can only have grown since).
      const kf = await fetchOffsets(check, KJS_GROUP, [{ name: TOPIC, partitions: [0, 1, 2, 3] }]);
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const got = kf.offsets.get(`${TOPIC}/${partition}`)!.offset;
        assert.ok(got >= kjsAckedCommit[partition], `kafkajs group, partition ${partition}: committed ${got} < acknowledged ${kjsAckedCommit[partition]}; ${context()}`);
      }
      assert.ok(kjsAckedCommit.some((o) => o > 0), 'kafkajs committed before the crash');

      // Group metadata survived too: the ghost is restored as a member, then its session expires.
      const describeGhost = async () => (await check.request(API.DescribeGroups, 4, { groups: [GHOST_GROUP], includeAuthorizedOperations: false })).groups[0];
      const restored = await describeGhost();
      assert.equal(restored.protocolType, 'consumer', `the ghost group is restored; ${context()}`);
      assert.equal(restored.groupState, 'Stable', 'the ghost group is restored Stable (its 10 s session, restarted by the restore, has not run out yet)');
      assert.deepEqual(restored.members.map((m: { memberId: string }) => m.memberId), [ghost.memberId], 'the restored member is the one from before the crash');
      assert.ok(await waitFor(async () => (await describeGhost()).groupState === 'Empty', 30_000), 'a restored member that never returns expires');
      const rejoined = await join(check, { groupId: GHOST_GROUP, version: 3, sessionTimeoutMs: 1000 });
      assert.equal(rejoined.errorCode, 0);
      assert.ok(rejoined.generationId > ghost.generationId, `the generation continues after the restart (${rejoined.generationId} > ${ghost.generationId})`);
      await check.request(API.LeaveGroup, 1, { groupId: GHOST_GROUP, memberId: rejoined.memberId });

      // The group resumes: every acknowledged message is processed, including ones produced after the restart.
      await sleep(1000);
      producing = false;
      await trickle;
      await sendBatch(40);
      const missing = (): number[] => [...acked].filter((s) => !processed.has(s));
      assert.ok(await waitFor(() => missing().length === 0, 60_000), `every acknowledged message is processed; ${missing().length} missing (e.g. ${missing().slice(0, 5).join(',')}); ${context()}`);
      assert.ok(processed.size > processedAtKill, 'processing continued after the restart');
      assert.ok(deliveredAfterRestart > 0, 'the consumers received messages after the restart');
      assert.deepEqual(staleAfterRestart, [], 'no consumer was sent back below an acknowledged commit');
      assert.ok(
        await waitFor(async () => {
          const r = await check.request(API.DescribeGroups, 4, { groups: [KJS_GROUP], includeAuthorizedOperations: false });
          return r.groups[0].groupState === 'Stable' && r.groups[0].members.length === 2;
        }, 30_000),
        'the group settles Stable with its two live consumers',
      );
      // A simple commit after the restart works, and the state is still consistent.
      const codes = await commit(check, { groupId: SIMPLE_GROUP, offsets: [{ topic: LEDGER, partition: 0, offset: 1 }] });
      assert.deepEqual([...codes.values()], [0]);
      if (process.env.HOLDFAST_TEST_LOG) console.log({ seed, acknowledgedCommits, ackedCommit, kjsAckedCommit, processedAtKill, processed: processed.size, deliveredAfterRestart });
    } finally {
      check.close();
    }
  } finally {
    producing = false;
    killed = true;
    clearInterval(ghostBeat);
    ghostClient.close();
    await trickle.catch(() => {});
    for (const { consumer } of consumers) await Promise.race([consumer.disconnect().catch(() => {}), timeout(10_000)]);
    await producer.disconnect().catch(() => {});
    await broker.kill('SIGKILL');
    removeDir(dataDir);
    removeDir(configDir);
  }
});
