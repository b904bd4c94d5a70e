// Manual benchmark (not part of the test run): how long a LogManager takes to open N partitions
// after a clean shutdown, and to close them again.
//   npx node test/storage/open-many.bench.ts [partitions=10000] [existing data dir]
// Fixture creation skips fsyncs (it is setup, not the thing measured); the opens use the real
// file system. Prints one JSON line per round.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, silentLogger } from '../../src/util/index.ts';
import { DEFAULT_LOG_CONFIG, type FileSystem, LogManager, NodeFileSystem } from '../../src/storage/index.ts';
import { makeBatch, NoSyncFileSystem } from './helpers.ts';

const partitions = Number(process.argv[2] ?? 10_000);
const given = process.argv[3];
const dataDir = given ?? (await mkdtemp(join(tmpdir(), 'holdfast-open-many-')));
const open = (fs: FileSystem) =>
  LogManager.open({ fs, clock: new ManualClock(), logger: silentLogger, dataDir, onFatal: () => {}, configFor: () => DEFAULT_LOG_CONFIG });

if (given === undefined) {
  const started = performance.now();
  const m = await open(new NoSyncFileSystem(new NodeFileSystem()));
  for (let p = 0; p < partitions; p++) (await m.createLog('bench', p, DEFAULT_LOG_CONFIG, 'id')).append(makeBatch(), { leaderEpoch: 0 });
  await m.close();
  console.log(JSON.stringify({ created: partitions, ms: Math.round(performance.now() - started) }));
}
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  const m = await open(new NodeFileSystem());
  const openMs = performance.now() - t;
  t = performance.now();
  await m.close();
  console.log(JSON.stringify({ partitions: m.allLogs().length, cleanOpenMs: Math.round(openMs), idleCloseMs: Math.round(performance.now() - t) }));
}
if (given === undefined) await rm(dataDir, { recursive: true, force: true });
