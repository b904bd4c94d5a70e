// LogManager over the real file system: creating, checkpointing, clean shutdown and fast reopen,
// recovery without the clean marker, offline partitions, deletion, many partitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock, silentLogger } from '../../src/util/index.ts';
import { type FileSystem, LogManager, NodeFileSystem } from '../../src/storage/index.ts';
import { config, CountingFileSystem, makeBatch, NoSyncFileSystem, splitBatches, withTempDir } from './helpers.ts';

const fs = new NodeFileSystem();

function openManager(dataDir: string, fsys: FileSystem = fs, onFatal: (err: Error) => void = () => {}): Promise<LogManager> {
  return LogManager.open({ fs: fsys, clock: new ManualClock(), logger: silentLogger, dataDir, onFatal, configFor: () => config({ segmentBytes: 2000 }) });
}

test('createLog lays out the partition directory; checkpoints list every partition', async () => {
  await withTempDir(async (dataDir) => {
    const m = await openManager(dataDir);
    const log = await m.createLog('orders.eu-west', 2, config(), 'topic-id-1');
    assert.equal(m.getLog('orders.eu-west', 2), log);
    assert.equal(await log.readTopicId(), 'topic-id-1');
    const files = await readdir(join(dataDir, 'orders.eu-west-2'));
    assert.deepEqual(files.sort(), ['00000000000000000000.log', 'partition.meta']);
    assert.deepEqual(JSON.parse(await readFile(join(dataDir, 'orders.eu-west-2', 'partition.meta'), 'utf8')), { topic: 'orders.eu-west', partition: 2, topicId: 'topic-id-1' });
    await log.append(makeBatch({ records: 3 }), { leaderEpoch: 0 }).durable;
    await m.createLog('b', 0, config(), 'topic-id-2');
    await m.checkpoint();
    assert.equal(await readFile(join(dataDir, 'recovery-point-checkpoint'), 'utf8'), '0\n2\norders.eu-west 2 3\nb 0 0\n');
    assert.equal(await readFile(join(dataDir, 'log-start-offset-checkpoint'), 'utf8'), '0\n2\norders.eu-west 2 0\nb 0 0\n');
    assert.equal(await m.createLog('b', 0, config(), 'topic-id-2'), m.getLog('b', 0), 'createLog is idempotent');
    await m.close();
  });
});

test('clean shutdown then reopen: marker consumed, data intact, nothing rescanned', async () => {
  await withTempDir(async (dataDir) => {
    const m = await openManager(dataDir);
    const log = await m.createLog('t', 0, config({ segmentBytes: 2000 }), 'id');
    for (let i = 0; i < 50; i++) await log.append(makeBatch({ payload: Buffer.alloc(100, i) }), { leaderEpoch: 1 }).durable;
    await m.close();
    assert.ok((await readdir(dataDir)).includes('.clean-shutdown'));

    const counting = new CountingFileSystem(fs);
    const m2 = await openManager(dataDir, counting);
    assert.ok(!(await readdir(dataDir)).includes('.clean-shutdown'), 'the marker is removed before any append');
    const log2 = m2.getLog('t', 0);
    assert.ok(log2);
    assert.equal(log2.logEndOffset, 50);
    let logBytesRead = 0;
    for (const [path, n] of counting.bytesRead) if (path.endsWith('.log')) logBytesRead += n;
    assert.ok(logBytesRead < log2.sizeBytes / 4, `clean open read ${logBytesRead} of ${log2.sizeBytes} bytes`);
    const { chunks } = await log2.read(25, 1);
    assert.equal(splitBatches(chunks)[0].readInt32BE(4), 25);
    await m2.close();
  });
});

test('without the clean marker partitions are recovered; a corrupt one goes offline with its reason and stays listed', async () => {
  await withTempDir(async (dataDir) => {
    const m = await openManager(dataDir);
    for (const p of [0, 1]) {
      const log = await m.createLog('t', p, config({ segmentBytes: 2000 }), 'id');
      for (let i = 0; i < 40; i++) await log.append(makeBatch({ payload: Buffer.alloc(100, i) }), { leaderEpoch: 0 }).durable;
    }
    await m.close();
    await rm(join(dataDir, '.clean-shutdown'));
    const first = join(dataDir, 't-1', '00000000000000000000.log');
    const bytes = await readFile(first);
    bytes[200] ^= 1;
    await writeFile(first, bytes);
    await mkdir(join(dataDir, 'not a partition'));
    await mkdir(join(dataDir, 't-0.k3-delete'));

    let fatal = 0;
    const m2 = await openManager(dataDir, fs, () => fatal++);
    assert.equal(m2.getLog('t', 0)?.state, 'online');
    assert.equal(m2.getLog('t', 0)?.logEndOffset, 40);
    const offline = m2.getLog('t', 1);
    assert.ok(offline);
    // The damage is in a sealed segment below the recovery point: not rescanned, caught on read.
    await assert.rejects(offline.read(0, 1_000_000), { name: 'CorruptionError' });
    assert.equal(offline.state, 'offline');
    assert.match(offline?.offlineReason ?? '', /t-1\/00000000000000000000\.log: CRC-32C mismatch/);
    assert.equal(fatal, 0, 'corruption is not a fatal I/O error');
    assert.ok(!(await readdir(dataDir)).includes('t-0.k3-delete'), 'leftover deletions are finished');
    assert.ok((await readdir(dataDir)).includes('not a partition'), 'unknown directories are left alone');
    await m2.checkpoint();
    const rp = await readFile(join(dataDir, 'recovery-point-checkpoint'), 'utf8');
    assert.match(rp, /^t 1 40$/m, 'the offline partition keeps its last checkpointed recovery point');
    await m2.close();
  });
});

test('deleteLog removes the directory and its checkpoint entries', async () => {
  await withTempDir(async (dataDir) => {
    const m = await openManager(dataDir);
    const log = await m.createLog('gone', 0, config(), 'id');
    await log.append(makeBatch(), { leaderEpoch: 0 }).durable;
    await m.deleteLog('gone', 0);
    assert.equal(m.getLog('gone', 0), undefined);
    assert.deepEqual((await readdir(dataDir)).filter((n) => n.startsWith('gone')), []);
    assert.equal(await readFile(join(dataDir, 'recovery-point-checkpoint'), 'utf8'), '0\n0\n');
    assert.throws(() => log.append(makeBatch(), { leaderEpoch: 0 }));
    await m.close();
  });
});

test('many partitions reopen quickly after a clean shutdown', async (t) => {
  await withTempDir(async (dataDir) => {
    const partitions = 300;
    const m = await openManager(dataDir, new NoSyncFileSystem(fs)); // fast fixture; the reopen is real
    for (let p = 0; p < partitions; p++) {
      const log = await m.createLog('many', p, config(), 'id');
      log.append(makeBatch(), { leaderEpoch: 0 });
    }
    await m.close();
    const started = performance.now();
    const m2 = await openManager(dataDir);
    const ms = performance.now() - started;
    t.diagnostic(`reopened ${partitions} partitions in ${ms.toFixed(0)} ms`);
    assert.equal(m2.allLogs().length, partitions);
    assert.ok(m2.allLogs().every((l) => l.state === 'online' && l.logEndOffset === 1));
    await m2.close();
  });
});

test('a log that failed during the run keeps the shutdown from being marked clean', async () => {
  await withTempDir(async (dataDir) => {
    const counting = new CountingFileSystem(fs);
    let fatal = 0;
    const m = await openManager(dataDir, counting, () => fatal++);
    const log = await m.createLog('f', 0, config(), 'id');
    await log.append(makeBatch(), { leaderEpoch: 0 }).durable;
    counting.failWith = (op, path) => (op === 'sync' && path.endsWith('.log') ? Object.assign(new Error('EIO: fsync failed'), { code: 'EIO' }) : undefined);
    await assert.rejects(log.append(makeBatch(), { leaderEpoch: 0 }).durable, { code: 'KAFKA_STORAGE_ERROR' });
    assert.equal(fatal, 1);
    counting.failWith = undefined;
    await m.close();
    assert.ok(!(await readdir(dataDir)).includes('.clean-shutdown'));
    const m2 = await openManager(dataDir);
    assert.equal(m2.getLog('f', 0)?.state, 'online');
    assert.ok((m2.getLog('f', 0)?.logEndOffset ?? 0) >= 1, 'the acknowledged append survived');
    await m2.close();
  });
});

test('internalTopics: those logs keep no tail cache, when created and when reopened; reads go to the files', async () => {
  await withTempDir(async (dataDir) => {
    const open = (): Promise<LogManager> =>
      LogManager.open({ fs, clock: new ManualClock(), logger: silentLogger, dataDir, onFatal: () => {}, configFor: () => config(), internalTopics: ['internal'] });
    for (const round of [1, 2]) {
      const m = await open();
      const plain = round === 1 ? await m.createLog('plain', 0, config(), 'id-1') : m.getLog('plain', 0)!;
      const internal = round === 1 ? await m.createLog('internal', 0, config(), 'id-2') : m.getLog('internal', 0)!;
      const from = internal.logEndOffset;
      for (const log of [plain, internal]) await log.append(makeBatch({ records: 2, payload: Buffer.alloc(50, round) }), { leaderEpoch: 0 }).durable;
      assert.ok(plain.readCached(from, 1 << 20) !== undefined, `round ${round}: the plain log serves its new batch from memory`);
      assert.equal(internal.readCached(from, 1 << 20), undefined, `round ${round}: the uncached log has nothing in memory`);
      const { chunks } = await internal.read(from, 1 << 20);
      const batches = splitBatches(chunks);
      assert.equal(batches.length, 1, `round ${round}: the file holds the batch`);
      assert.equal(Number(batches[0].readBigInt64BE(0)), from);
      await m.close();
    }
  });
});
