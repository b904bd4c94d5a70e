// `npm run bench:startup [-- --partitions 10000 --rounds 3]`: a `holdfast serve` process with N
// partitions (topics of up to 1,000 partitions, one message in each partition) is stopped cleanly
// (SIGTERM) and started again; prints one JSON line per restart with the time from spawn to the
// ready line (the broker accepts connections then). Creating the partitions is setup, not measured.
import { parseArgs } from 'node:util';
import { Admin, Producer } from '../src/index.ts';
import { removeDir, spawnBroker, tempDir } from '../test/helpers/broker.ts';

const { values } = parseArgs({ options: { partitions: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' } } });
const partitions = Number(values.partitions);
const dataDir = tempDir('holdfast-startup-');
let b: Awaited<ReturnType<typeof spawnBroker>> | null = null;
try {
  b = await spawnBroker(dataDir);
  // Creating thousands of partitions (a directory, files and fsyncs each) can outlast the default
  // 30 s request timeout on a slow disk; the request itself allows 600 s.
  const admin = new Admin({ brokers: [b.bootstrap], requestTimeoutMs: 600_000 });
  const topics: Array<{ name: string; partitions: number }> = [];
  for (let left = partitions, i = 0; left > 0; i++) {
    const n = Math.min(1000, left);
    topics.push({ name: `startup-${i}`, partitions: n });
    left -= n;
  }
  let t = performance.now();
  await admin.createTopics(topics, { timeoutMs: 600_000 });
  const createMs = performance.now() - t;
  admin.close();
  const producer = new Producer({ brokers: [b.bootstrap], lingerMs: 20 });
  t = performance.now();
  await Promise.all(topics.flatMap((topic) => Array.from({ length: topic.partitions }, (_, p) => producer.send({ topic: topic.name, partition: p, value: 'x' }))));
  await producer.close();
  console.log(JSON.stringify({ setup: true, partitions, createMs: Math.round(createMs), produceOnePerPartitionMs: Math.round(performance.now() - t) }));
  for (let round = 0; round < Number(values.rounds); round++) {
    t = performance.now();
    await b.kill('SIGTERM');
    const stopMs = performance.now() - t;
    t = performance.now();
    b = await spawnBroker(dataDir);
    console.log(JSON.stringify({ round, partitions, cleanStopMs: Math.round(stopMs), startToReadyMs: Math.round(performance.now() - t) }));
  }
  await b.kill('SIGTERM');
  b = null;
} finally {
  // A broker left running by a failure would keep writing into the directory being removed.
  await b?.kill('SIGKILL');
  removeDir(dataDir);
}
